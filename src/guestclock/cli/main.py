"""``guestclock``: parse the options, run one command, turn errors into one line and an exit code.

This is the only place where an error becomes text on stderr and an exit status:

====  ==============================================================
0     done
1     refused by guestclock (invalid or unsupported clock, unreadable input, ...)
2     usage error (argparse, or options that do not fit together)
70    internal error (a bug: please report it)
130   interrupted
====  ==============================================================

Only the command that runs is imported and has its parser built: every other command is a
one-line entry in ``--help``, so ``argv`` never pays for ``verify``'s QMP machinery.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from guestclock.cli.output import PROG, error, one_line

__all__ = ["COMMANDS", "build_parser", "entrypoint", "main"]

#: command -> its one-line summary; each lives in ``guestclock.cli.commands.<name>`` with
#: ``add_parser(subparsers)`` (which sets ``run``, args -> exit status) and is imported only
#: when it runs
COMMANDS: dict[str, str] = {
    "argv": "print the QEMU arguments and environment for a clock",
    "check": "validate a domain or <clock> only",
    "explain": "show which XML produced each argument, or why it was refused",
    "caps": "print what a QEMU can do for a guest's clock",
    "matrix": "whether a clock runs on each QEMU of a folder of capability sets, and with which arguments",
    "verify": "start QEMU paused with the clock's arguments and check its timers",
    "batch": "translate many domains (files, directories, globs) into JSON lines",
    "recommend": "the clock a guest OS should have, and what each VM manager would give it",
}


def _version() -> str:
    from guestclock import __version__

    return __version__


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with the full sub-parser of ``command`` only."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Translate a libvirt <clock> into the exact QEMU arguments for one QEMU.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        if name == command:
            import importlib

            importlib.import_module(f"guestclock.cli.commands.{name}").add_parser(sub)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def _command_word(argv: list[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def _unknown_command(word: str) -> NoReturn:
    import difflib

    near = difflib.get_close_matches(word, list(COMMANDS), n=1)
    hint = f"; did you mean '{near[0]}'?" if near else f" (commands: {', '.join(COMMANDS)})"
    print(f"usage: {PROG} COMMAND ...", file=sys.stderr)
    print(f"{PROG}: error: unknown command '{one_line(word)}'{hint}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from guestclock.errors import GuestclockError, UsageError

    if argv is None:
        argv = sys.argv[1:]
    command = _command_word(argv)
    if command is not None and command not in COMMANDS:
        _unknown_command(command)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except UsageError as exc:
        parser.error(exc.message)
    except GuestclockError as exc:
        line = getattr(exc, "line", None)
        where = f"{args.file}:{line}: " if line is not None and getattr(args, "file", None) else ""
        error(f"{where}{exc}")
        return 1
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {one_line(str(exc))} (please report this)",
            file=sys.stderr,
        )
        return 70


def entrypoint() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())
