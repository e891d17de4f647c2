"""Option groups shared by several commands, and their conversion into library values."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from guestclock.cli.output import one_line

if TYPE_CHECKING:
    from guestclock.core.model.argv import Now
    from guestclock.workflows.qemu_source import QemuSource
    from guestclock.workflows.translate import DomainDefaults

__all__ = [
    "add_domain_options",
    "add_qemu_options",
    "domain_defaults",
    "name_type",
    "now_of",
    "qemu_source",
]


def name_type(text: str) -> str:
    """argparse type of --arch and --machine: these end up in QEMU's ``-machine`` word and in
    the name of the binary looked up on PATH, where ',', '=' or '/' would change their meaning."""
    from guestclock.core.rules.platform import is_name

    if not is_name(text):
        raise argparse.ArgumentTypeError(f"invalid name '{one_line(text)}': expected letters, digits and '._+-' only")
    return text


def add_qemu_options(parser: argparse.ArgumentParser, *, binary_only: bool = False) -> None:
    """``--qemu``/``--qemu-version``/``--help-text``/``--caps``, ``--timeout``, ``--no-cache``."""
    group = parser.add_argument_group(
        "which QEMU (at most one; default: qemu-system-ARCH on PATH, else the newest known)"
    )
    source = group.add_mutually_exclusive_group()
    source.add_argument("--qemu", metavar="BINARY", help="probe this QEMU binary")
    if not binary_only:
        source.add_argument("--qemu-version", metavar="X.Y.Z", help="estimate from a QEMU version number")
        source.add_argument("--help-text", metavar="FILE", help="a saved 'qemu -help' output")
        source.add_argument("--caps", metavar="FILE", help="a libvirt capability dump (<qemuCaps>)")
    group.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="limit for probing a binary (default 10)"
    )
    group.add_argument("--no-cache", action="store_true", help="probe the binary even if a cached answer exists")


def add_domain_options(parser: argparse.ArgumentParser, *, file: bool = True) -> None:
    """FILE, the defaults for what a document does not say, and ``--now``."""
    if file:
        parser.add_argument("file", metavar="FILE", help="domain or <clock> XML ('-' for stdin)")
    group = parser.add_argument_group("what the document does not say (a <domain>'s own values win)")
    group.add_argument("--arch", type=name_type, help="guest architecture (default: the QEMU's)")
    group.add_argument("--virt-type", choices=("kvm", "qemu"), help="domain type (default: kvm if the QEMU has it)")
    group.add_argument("--machine", type=name_type, help="machine type (default: the QEMU's default)")
    parser.add_argument("--now", metavar="ISO8601", help="the time to compute variable offsets from (default: now)")


def qemu_source(args: argparse.Namespace) -> QemuSource:
    """The capability source the options name."""
    from guestclock.workflows.qemu_source import QemuSource, SourceKind

    timeout = args.timeout
    use_cache = not args.no_cache
    for kind, value in (
        (SourceKind.BINARY, getattr(args, "qemu", None)),
        (SourceKind.VERSION, getattr(args, "qemu_version", None)),
        (SourceKind.HELP, getattr(args, "help_text", None)),
        (SourceKind.CAPS, getattr(args, "caps", None)),
    ):
        if value is not None:
            return QemuSource(kind, value, timeout, use_cache)
    return QemuSource(SourceKind.DEFAULT, None, timeout, use_cache)


def domain_defaults(args: argparse.Namespace) -> DomainDefaults:
    """``--arch``, ``--virt-type``, ``--machine``."""
    from guestclock.workflows.translate import DomainDefaults

    return DomainDefaults(getattr(args, "arch", None), getattr(args, "virt_type", None), getattr(args, "machine", None))


def now_of(args: argparse.Namespace) -> Now:
    """``--now``, or the host's clock."""
    from guestclock.host.clock import host_now, parse_now

    return parse_now(args.now) if getattr(args, "now", None) else host_now()
