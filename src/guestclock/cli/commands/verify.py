"""``guestclock verify FILE``: start QEMU paused with the emitted arguments and check its timers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from guestclock.cli import options
from guestclock.cli.output import warn

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``verify`` to the sub-parsers."""
    parser = sub.add_parser(
        "verify",
        help="start QEMU paused with the clock's arguments and check its timers",
        description=(
            "Start QEMU paused with the emitted arguments, read the timer devices back over QMP "
            "and compare them with the XML. Exit 0 when everything checkable is as asked, 1 otherwise."
        ),
    )
    options.add_domain_options(parser)
    parser.add_argument("--qemu", metavar="BINARY", help="the QEMU to start (default: qemu-system-ARCH on PATH)")
    parser.add_argument(
        "--accel",
        choices=("auto", "kvm", "tcg"),
        default="auto",
        help="accelerator (default auto: KVM when /dev/kvm is usable, TCG when QEMU refuses KVM)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="limit per QEMU start")
    parser.add_argument("--no-cache", action="store_true", help="probe the binary even if a cached answer exists")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Translate for the binary, start it, compare; exit 1 on any mismatch."""
    from guestclock.core.rules.platform import DEFAULT_ARCH
    from guestclock.errors import VerifyError
    from guestclock.host.binaries import default_binary
    from guestclock.workflows.qemu_source import QemuSource, SourceKind
    from guestclock.workflows.translate import load_domain, translate_domain
    from guestclock.workflows.verify import verify

    read = load_domain(args.file, options.domain_defaults(args))
    arch = read.domain.arch or DEFAULT_ARCH
    binary = args.qemu or default_binary(arch)
    if binary is None:
        raise VerifyError(f"no qemu-system-{arch} on PATH; name one with --qemu")
    source = QemuSource(SourceKind.BINARY, binary, args.timeout, not args.no_cache)
    result = translate_domain(read, source, options.now_of(args))
    report = verify(result.domain, result.translation, binary, accel=args.accel, timeout=args.timeout)
    if args.format == "json":
        import json

        document = report.to_json()
        document["warnings"] = list(result.warnings)
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        from guestclock.core.render.tables import verify_table

        for warning in result.warnings:
            warn(warning)
        sys.stdout.write(verify_table(report))
    return 0 if report.ok else 1
