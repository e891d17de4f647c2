"""``guestclock argv FILE [QEMU]``: the QEMU arguments and environment for a clock."""

from __future__ import annotations

import argparse
from typing import Any

from guestclock.cli import options
from guestclock.cli.output import emit, note, warn

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``argv`` to the sub-parsers."""
    parser = sub.add_parser("argv", help="print the QEMU arguments and environment for a clock")
    options.add_domain_options(parser)
    options.add_qemu_options(parser)
    parser.add_argument("--format", choices=("shell", "json", "lines"), default="shell")
    parser.add_argument("--output", metavar="FILE", help="write to FILE atomically instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Translate and print."""
    from guestclock.core.render.argv import to_json, to_lines, to_shell
    from guestclock.core.rules.platform import DEFAULT_ARCH, binary_names
    from guestclock.workflows.translate import translate_file

    result = translate_file(args.file, options.qemu_source(args), options.now_of(args), options.domain_defaults(args))
    for line in result.qemu.notes:
        note(line)
    translation = result.translation
    if args.format == "json":
        from dataclasses import replace

        # the QEMU's machine list (a hundred names) belongs to `caps`, not to every answer
        described = {key: value for key, value in result.qemu.describe().items() if key != "machines"}
        text = to_json(replace(translation, warnings=result.warnings), described) + "\n"
    else:
        for warning in result.warnings:
            warn(warning)
        if args.format == "lines":
            text = to_lines(translation)
            for name, value in translation.environ.items():
                note(f"set {name}={value} in QEMU's environment (--format lines shows arguments only)")
        else:
            binary = result.qemu.binary or binary_names(translation.caps.arch or DEFAULT_ARCH)[0]
            text = to_shell(translation, binary) + "\n"
    emit(text, args.output, inputs=(args.file,))
    return 0
