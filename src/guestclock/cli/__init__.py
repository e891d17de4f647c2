"""The command line: ``main(argv) -> int`` and one module per command."""

from guestclock.cli.main import entrypoint, main

__all__ = ["entrypoint", "main"]
