"""Finds the bundled JavaScript (``jslibs/``), shipped inside the wheel as ``runtime.js``."""

from __future__ import annotations

import functools
import re
from importlib import resources

# Bundled modules that robots may require; bridge.js is the sandbox's own half.
_INTERNAL = frozenset({"bridge"})
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@functools.cache
def source(name: str) -> str:
    """Return the text of ``jslibs/<name>.js``.

    Raises:
        FileNotFoundError: there is no such bundled file.
    """
    if not _NAME.match(name):
        raise FileNotFoundError(f"no bundled JavaScript named {name!r}")
    return (resources.files("runtime.js") / f"{name}.js").read_text(encoding="utf-8")


@functools.cache
def library_names() -> frozenset[str]:
    """Return the names of the bundled modules robots may ``require`` (``helpers``...)."""
    names = {
        entry.name[:-3]
        for entry in resources.files("runtime.js").iterdir()
        if entry.name.endswith(".js")
    }
    return frozenset(names - _INTERNAL)
