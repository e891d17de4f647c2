"""``guestclock check FILE``: validate a domain or ``<clock>`` only (libvirt's parse-time rules, and ours)."""

from __future__ import annotations

import argparse
from typing import Any

from guestclock.cli.output import warn

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``check`` to the sub-parsers."""
    parser = sub.add_parser("check", help="validate a domain or <clock> only")
    parser.add_argument("file", metavar="FILE", help="domain or <clock> XML ('-' for stdin)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read, check the zone, report."""
    from guestclock.workflows.translate import load_domain, zone_warnings

    result = load_domain(args.file)
    for warning in [*result.warnings, *zone_warnings(result.domain)]:
        warn(warning)
    print(f"{args.file}: valid <clock> with {len(result.domain.clock.timers)} timer(s)")
    return 0
