"""``python -m satchel``."""

from satchel.cli import entry

entry()
