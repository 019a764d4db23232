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

# Until the offline demo exists: the documented LiveObjects robot, unchanged, against a
# local stand-in of the LiveObjects API that this target starts and stops.
LO_PORT ?= 8911
run: install
	@rm -f .lo-ready; \
	$(BIN)/python -m runtime.demo.liveobjects_api --port $(LO_PORT) --lifetime 60 \
	    --ready-file .lo-ready & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; rm -f .lo-ready' EXIT; \
	for i in $$(seq 50); do [ -f .lo-ready ] && break; sleep 0.1; done; \
	$(BIN)/robot-run robots/liveobjects.js \
	    --route https://liveobjects.orange-business.com=http://127.0.0.1:$(LO_PORT) && \
	$(BIN)/robot shares orange.liveobjects.siconia --limit 5 && \
	echo "Query more: .venv/bin/robot shares orange.liveobjects.siconia --json"

# wrk (Debian's package) drives the share API: a Python client would be the bottleneck.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
