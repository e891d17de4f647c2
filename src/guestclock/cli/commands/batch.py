"""``guestclock batch DIR|FILE|GLOB... [QEMU]``: translate a fleet into JSON lines, summary on stderr."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from guestclock.cli import options
from guestclock.cli.output import PROG, note

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``batch`` to the sub-parsers."""
    parser = sub.add_parser(
        "batch",
        help="translate many domains (files, directories, globs) into JSON lines",
        description=(
            "Translate every domain named (a directory is walked for *.xml) into one JSON line each; "
            "refusals are records too. A summary goes to stderr. Exit status 1 if any domain was refused."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="DIR|FILE", help="domain files, directories or glob patterns")
    options.add_domain_options(parser, file=False)
    options.add_qemu_options(parser)
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=0,
        metavar="N",
        help="worker processes (default: one per available core; 1: no pool)",
    )
    parser.add_argument("--output", metavar="FILE", help="write the JSON lines to FILE atomically instead of stdout")
    parser.set_defaults(run=run)


class _Progress:
    """A plain progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.enabled = total > 0 and sys.stderr.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        percent = done * 100 // self.total
        if percent == self.shown:
            return
        self.shown = percent
        filled = done * 30 // self.total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} {percent:3d}%")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def _summary(translated: int, refused: Counter[str], qemu: dict[str, object]) -> str:
    total = translated + sum(refused.values())
    source = qemu.get("binary") or qemu.get("source")
    lines = [
        f"{PROG}: batch: {total} domain(s) for QEMU {qemu.get('version')} ({source}): "
        f"translated {translated}, refused {sum(refused.values())}"
    ]
    for reason, count in sorted(refused.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {count:>7}  {reason}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Translate every file; exit 1 when any domain was refused."""
    from guestclock.errors import UsageError
    from guestclock.workflows.batch import collect_files, run_batch

    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (one per core) or more", subject="--jobs")
    files = collect_files(args.paths)
    from guestclock.host.files import OutputFile

    # lines are written as chunks finish: nothing is held in memory, and a file is replaced
    # only once the whole batch is there
    output = OutputFile(args.output or "-", inputs=tuple(files))
    progress = _Progress(len(files))
    try:
        with output:
            totals = run_batch(
                files,
                options.qemu_source(args),
                options.now_of(args),
                defaults=options.domain_defaults(args),
                jobs=args.jobs,
                write=output.write,
                progress=progress.update,
            )
    finally:
        progress.close()
    for line in totals.qemu.notes:
        note(line)
    sys.stderr.write(_summary(totals.translated, totals.refused, totals.qemu.describe()))
    return 0 if not totals.refused else 1
