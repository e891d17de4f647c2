"""``guestclock recommend --os OS [QEMU]``: the clock a guest OS should have, with every VM
manager's opinion beside it and the reasons."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from guestclock.cli import options
from guestclock.cli.output import note, warn

__all__ = ["add_parser", "run"]

_PROFILES = ("guestclock", "libvirt", "virt-manager", "nova", "proxmox", "kubevirt")


def add_parser(sub: Any) -> None:
    """Add ``recommend`` to the sub-parsers."""
    parser = sub.add_parser(
        "recommend",
        help="the clock a guest OS should have, and what each VM manager would give it",
        description=(
            "Recommend the <clock> (and, for Windows, the clock-related <features><hyperv> set) for a guest "
            "OS named by its libosinfo short id (win11, debian12, ...), translated for one QEMU. "
            "--format json shows, per element, every profile's choice and its source."
        ),
    )
    parser.add_argument("--os", required=True, metavar="OS", help="libosinfo short id or id URL (win11, rhel9.4, ...)")
    options.add_qemu_options(parser)
    parser.add_argument("--arch", type=options.name_type, help="guest architecture (default: the QEMU's)")
    parser.add_argument("--machine", type=options.name_type, help="machine type (default: the QEMU's default)")
    parser.add_argument("--migratable", action="store_true", help="the guest will be live-migrated between hosts")
    parser.add_argument(
        "--utc-registry", action="store_true", help="Windows keeps its RTC in UTC (RealTimeIsUniversal=1)"
    )
    parser.add_argument("--tsc-frequency", type=int, metavar="HZ", help="a TSC frequency every host can provide")
    parser.add_argument("--profile", choices=_PROFILES, default="guestclock", help="whose policy to follow")
    parser.add_argument("--format", choices=("xml", "argv", "json", "table"), default="xml")
    parser.add_argument("--now", metavar="ISO8601", help="the time to compute variable offsets from (default: now)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Look the OS up, recommend, translate, print."""
    from guestclock.core.recommend import (
        RecommendOptions,
        parse_profile,
        recommend,
        recommendation_to_json,
        recommendation_to_xml,
        render_table,
        translate_recommendation,
    )
    from guestclock.errors import UsageError
    from guestclock.host.osinfo import lookup
    from guestclock.workflows.qemu_source import resolve_qemu

    if args.tsc_frequency is not None and args.tsc_frequency <= 0:
        raise UsageError("--tsc-frequency must be a positive number of Hz", subject="--tsc-frequency")
    identity = lookup(args.os)
    qemu = resolve_qemu(options.qemu_source(args), args.arch)
    for line in qemu.notes:
        note(line)
    rec = recommend(
        identity,
        qemu.caps,
        RecommendOptions(
            profile=parse_profile(args.profile),
            machine=args.machine,
            migratable=args.migratable,
            utc_registry=args.utc_registry,
            tsc_frequency=args.tsc_frequency,
            arch=args.arch,
        ),
    )
    translation = translate_recommendation(rec, qemu.caps, options.now_of(args))
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(recommendation_to_json(rec, translation), indent=2) + "\n")
        return 0
    for line in rec.notes:
        note(line)
    for line in translation.warnings:
        warn(line)
    if args.format == "xml":
        sys.stdout.write(recommendation_to_xml(rec))
    elif args.format == "table":
        sys.stdout.write(render_table([rec]))
    else:
        from guestclock.core.render.argv import to_shell
        from guestclock.core.rules.platform import DEFAULT_ARCH, binary_names

        binary = qemu.binary or binary_names(translation.caps.arch or DEFAULT_ARCH)[0]
        sys.stdout.write(to_shell(translation, binary) + "\n")
    return 0
