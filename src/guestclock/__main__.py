"""``python -m guestclock``."""

from guestclock.cli import entrypoint

entrypoint()
