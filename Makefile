# Every install step lives here: CI runs `make test` on a clean checkout.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check runtime tests bench
	$(BIN)/mypy runtime

test: lint
	$(BIN)/pytest -q

# The offline demo: simulators on 127.0.0.1, the documented robots, a bounded run.
run: install
	$(BIN)/robot demo

# wrk (Debian's package) drives the share API: a Python client would be the bottleneck.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
