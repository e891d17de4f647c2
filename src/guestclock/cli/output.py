"""What the command line prints besides results: errors, warnings and notes on stderr, one line each."""

from __future__ import annotations

import sys

__all__ = ["PROG", "emit", "error", "note", "one_line", "warn"]

PROG = "guestclock"


def one_line(text: str) -> str:
    """``text`` with newlines and other control characters escaped: every message is exactly
    one line, whatever a hostile file or argument put into it."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def error(message: str) -> None:
    """``guestclock: error: MESSAGE`` on stderr."""
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)


def warn(message: str) -> None:
    """``guestclock: warning: MESSAGE`` on stderr."""
    print(f"{PROG}: warning: {one_line(message)}", file=sys.stderr)


def note(message: str) -> None:
    """``guestclock: MESSAGE`` on stderr (information, not a problem)."""
    print(f"{PROG}: {one_line(message)}", file=sys.stderr)


def emit(text: str, output: str | None, inputs: tuple[str, ...] = ()) -> None:
    """``text`` to standard output, or to ``output`` by
    :class:`~guestclock.host.files.OutputFile`'s rules (never over one of ``inputs``)."""
    if not output:
        sys.stdout.write(text)
        return
    from guestclock.host.files import OutputFile

    with OutputFile(output, inputs=inputs) as out:
        out.write(text)
