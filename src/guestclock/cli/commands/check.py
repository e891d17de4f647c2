"""``guestclock check FILE``: validate a domain or ``<clock>`` only (libvirt's parse-time rules, and ours)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from guestclock.cli.output import note, one_line, warn

if TYPE_CHECKING:
    from guestclock.core.model.domain import Domain

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``check`` to the sub-parsers."""
    parser = sub.add_parser("check", help="validate a domain or <clock> only")
    parser.add_argument("file", metavar="FILE", help="domain or <clock> XML ('-' for stdin)")
    group = parser.add_argument_group("the guest OS (lint the clock for it)")
    group.add_argument(
        "--os", metavar="OS", help="libosinfo short id or id URL, or 'auto' for the domain's <metadata> libosinfo id"
    )
    group.add_argument("--migratable", action="store_true", help="the guest will be live-migrated between hosts")
    group.add_argument(
        "--utc-registry", action="store_true", help="Windows keeps its RTC in UTC (RealTimeIsUniversal=1)"
    )
    group.add_argument("--strict", action="store_true", help="exit 1 when there is any warning")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read, check the zone, report."""
    from guestclock.workflows.translate import load_domain, zone_warnings

    result = load_domain(args.file)
    for warning in [*result.warnings, *zone_warnings(result.domain)]:
        warn(warning)
    print(f"{args.file}: valid <clock> with {len(result.domain.clock.timers)} timer(s)")
    if args.os is None:
        if args.migratable or args.utc_registry or args.strict:
            from guestclock.errors import UsageError

            raise UsageError("--migratable, --utc-registry and --strict need --os", subject="--os")
        return 0
    return _lint(args, result.domain)


def _lint(args: argparse.Namespace, domain: Domain) -> int:
    """``--os``: each finding with its reason and fix; exit 1 under --strict when any warns."""
    from guestclock.core.lint import exit_status, lint, os_argument
    from guestclock.core.rules.os_profiles import classify
    from guestclock.host.osinfo import lookup

    identity = lookup(os_argument(domain, args.os))
    for line in identity.notes:
        note(line)
    findings = lint(domain, classify(identity), migratable=args.migratable, utc_registry=args.utc_registry)
    for finding in findings:
        print(f"{finding.severity.value}: {one_line(str(finding))}")
    if not findings:
        print(f"{args.file}: no findings for {identity.short_id or args.os}")
    return exit_status(findings, strict=args.strict)
