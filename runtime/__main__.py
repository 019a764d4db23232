"""``python -m runtime`` is the ``robot`` command."""

from runtime.cli import robot

robot()
