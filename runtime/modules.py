"""What ``require(name)`` may load for one robot (ROBOT_API.md §2).

* ``./libs/helpers`` or ``libs/helpers`` (``.js`` optional), and the other bundled
  modules the same way: the JavaScript library shipped in ``jslibs/``;
* a relative path (``./x``, ``../x``, ``.js`` optional) naming a ``.js`` file
  inside the robot's own folder, symbolic links resolved first;
* from a bundled module, its siblings in the bundle.

Anything else is ``Cannot find module '<name>'``.
"""

from __future__ import annotations

import re
from pathlib import Path

from runtime import jslibs
from runtime.exceptions import ModuleNotFound, RobotLoadError
from runtime.sandbox.base import ModuleCode

_LIB_PREFIX = "libs/"
_LIBS_NAME = re.compile(r"^(?:\./)?libs/(?P<name>[A-Za-z0-9_-]+)(?:\.js)?$")
_SIBLING_LIB = re.compile(r"^(?:\./)?(?P<name>[A-Za-z0-9_-]+)(?:\.js)?$")


class RobotModules:
    """The modules one robot script may load.

    Args:
        script: the robot's entry script; its folder bounds relative requires.
    """

    def __init__(self, script: Path) -> None:
        self._shown_dir = script.parent
        try:
            self._script = script.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise RobotLoadError(f"{script}: cannot open robot script ({exc})") from exc
        if not self._script.is_file():
            raise RobotLoadError(f"{script}: not a file")
        self._root = self._script.parent
        self._shown_script = script

    @property
    def script(self) -> Path:
        """The resolved path of the entry script."""
        return self._script

    def entry(self) -> ModuleCode:
        """Return the robot script itself (read afresh, so a new isolate sees edits)."""
        return self._file_module(self._script)

    def require(self, from_id: str, name: str) -> ModuleCode:
        """Return the module ``name`` as required from module ``from_id``.

        Raises:
            ModuleNotFound: nothing by that name may be loaded from there.
        """
        lib = _LIBS_NAME.match(name)
        if from_id.startswith(_LIB_PREFIX) and lib is None:
            lib = _SIBLING_LIB.match(name)
        if lib is not None:
            return self._library_module(lib["name"], name)
        if name.startswith(("./", "../")) and not from_id.startswith(_LIB_PREFIX):
            return self._file_module(self._find_file(Path(from_id).parent, name))
        raise ModuleNotFound(name)

    def _library_module(self, lib: str, name: str) -> ModuleCode:
        if lib not in jslibs.library_names():
            raise ModuleNotFound(name)
        file = f"{_LIB_PREFIX}{lib}.js"
        return ModuleCode(id=file, file=file, dir="libs", source=jslibs.source(lib),
                          privileged=True)

    def _find_file(self, folder: Path, name: str) -> Path:
        for candidate in (folder / name, folder / f"{name}.js"):
            try:
                path = candidate.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if path.suffix == ".js" and path.is_file() and path.is_relative_to(self._root):
                return path
        raise ModuleNotFound(name)

    def _file_module(self, path: Path) -> ModuleCode:
        shown = self._shown_dir / path.relative_to(self._root)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RobotLoadError(f"{shown}: cannot read ({exc})") from exc
        return ModuleCode(id=str(path), file=str(shown), dir=str(shown.parent), source=source)
