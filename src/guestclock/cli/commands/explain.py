"""``guestclock explain FILE [QEMU]``: each argument beside the XML that produced it, or each refusal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from guestclock.cli import options
from guestclock.cli.output import note

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``explain`` to the sub-parsers."""
    parser = sub.add_parser("explain", help="show which XML produced each argument, or why it was refused")
    options.add_domain_options(parser)
    options.add_qemu_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Translate and explain; a refusal lists every reason (exit 1)."""
    from guestclock.core.render.explain import explain_refusals, explain_translation
    from guestclock.errors import UnsupportedConfigError
    from guestclock.workflows.translate import translate_file

    try:
        result = translate_file(
            args.file, options.qemu_source(args), options.now_of(args), options.domain_defaults(args)
        )
    except UnsupportedConfigError as refusal:
        sys.stdout.write(explain_refusals(refusal))
        return 1
    for line in result.qemu.notes:
        note(line)
    caps = result.translation.caps
    print(f"QEMU: {result.qemu.binary or caps.source} (version {caps.version_string})")
    sys.stdout.write(explain_translation(result.translation))
    for warning in result.warnings:
        if warning not in result.translation.warnings:
            print(f"warning: {warning}")
    return 0
