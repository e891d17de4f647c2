"""``guestclock matrix FILE --caps-dir DIR``: whether this clock runs on each QEMU in DIR, and how."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from guestclock.cli import options
from guestclock.cli.output import warn

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``matrix`` to the sub-parsers."""
    parser = sub.add_parser(
        "matrix",
        help="whether a clock runs on each QEMU of a folder of capability sets, and with which arguments",
        description=(
            "Translate the clock for every capability set in --caps-dir (libvirt caps_*.xml dumps, "
            "saved 'qemu -help' texts named *.help). Exit 0 if it runs on all of them, 1 if any refuses it."
        ),
    )
    options.add_domain_options(parser)
    parser.add_argument("--caps-dir", required=True, metavar="DIR", help="folder of capability sets")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Translate for each capability set; exit 1 when any refuses."""
    from guestclock.core.matrix import matrix_rows
    from guestclock.errors import CapabilityError
    from guestclock.workflows.matrix import load_caps_dir
    from guestclock.workflows.translate import load_domain

    result = load_domain(args.file, options.domain_defaults(args))
    sets = load_caps_dir(args.caps_dir)
    if not sets:
        raise CapabilityError(
            f"--caps-dir '{args.caps_dir}' holds no capability set (caps_*.xml libvirt dumps or *.help texts)",
            subject=args.caps_dir,
        )
    rows = matrix_rows(result.domain, sets, options.now_of(args))
    if args.format == "json":
        import json

        document = {
            "file": args.file,
            "warnings": list(result.warnings),
            "all_run": all(row.runs for row in rows),
            "qemus": [row.to_json() for row in rows],
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        from guestclock.core.render.tables import matrix_table

        for warning in result.warnings:
            warn(warning)
        sys.stdout.write(matrix_table(rows))
    return 0 if all(row.runs for row in rows) else 1
