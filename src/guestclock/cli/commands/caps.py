"""``guestclock caps [QEMU]``: the capability set guestclock reads for that QEMU."""

from __future__ import annotations

import argparse
from typing import Any

from guestclock.cli import options
from guestclock.cli.output import note, warn

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``caps`` to the sub-parsers."""
    parser = sub.add_parser("caps", help="print what a QEMU can do for a guest's clock")
    options.add_qemu_options(parser)
    parser.add_argument(
        "--arch", type=options.name_type, help="architecture for --qemu-version/--help-text (default x86_64)"
    )
    parser.add_argument("--format", choices=("lines", "json"), default="lines")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Resolve the QEMU and print its capabilities."""
    from guestclock.workflows.qemu_source import resolve_qemu

    qemu = resolve_qemu(options.qemu_source(args), args.arch)
    for line in qemu.notes:
        note(line)
    caps = qemu.caps
    if args.format == "json":
        import json

        print(json.dumps(qemu.describe(), indent=2))
    else:
        print(f"source: {caps.source}")
        print(f"version: {caps.version_string}{' (estimated)' if caps.estimated else ''}")
        print(f"arch: {caps.arch}")
        for cap in sorted(caps.caps, key=lambda c: c.value):
            print(f"  {cap.value}")
        for line in caps.notes:
            warn(line)
    return 0
