"""The ``guestclock`` command: parse options, call the library, print.

This is the only place where an error becomes text on stderr and an exit code:
1 for anything guestclock refuses, 2 for a usage error, never a traceback.
Imports of the library happen inside the commands, so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from .caps import Capabilities
    from .translation import Now, Translation
    from .xmlread import ReadResult

__all__ = ["entrypoint", "main"]

PROG = "guestclock"


class _Usage(Exception):
    """A usage error found after argparse (exit 2)."""


def _one_line(text: str) -> str:
    """``text`` with newlines and other control characters escaped: every message
    is exactly one line, whatever a hostile file or argument put into it."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _error(message: str) -> None:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {_one_line(message)}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"{PROG}: {_one_line(message)}", file=sys.stderr)


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


def _option_name(text: str) -> str:
    """argparse type of --arch and --machine: these end up in QEMU's ``-machine``
    word and in the name of the binary looked up on PATH, where ',', '=' or '/'
    would change their meaning."""
    if not text or len(text) > 128 or not text[0].isalnum() or not set(text) <= _NAME_CHARS:
        raise argparse.ArgumentTypeError(f"invalid name '{_one_line(text)}': expected letters, digits and '._+-' only")
    return text


# -- shared option groups ------------------------------------------------------


def _add_qemu_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "which QEMU (at most one; default: qemu-system-ARCH on PATH, else the newest known)"
    )
    source = group.add_mutually_exclusive_group()
    source.add_argument("--qemu", metavar="BINARY", help="probe this QEMU binary")
    source.add_argument("--qemu-version", metavar="X.Y.Z", help="estimate from a QEMU version number")
    source.add_argument("--help-text", metavar="FILE", help="a saved 'qemu -help' output")
    source.add_argument("--caps", metavar="FILE", help="a libvirt capability dump (<qemuCaps>)")
    group.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="limit for probing a binary (default 10)"
    )
    group.add_argument("--no-cache", action="store_true", help="probe the binary even if a cached answer exists")


def _add_domain_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="domain or <clock> XML ('-' for stdin)")
    group = parser.add_argument_group("for a bare <clock> (a <domain> says these itself)")
    group.add_argument("--arch", type=_option_name, help="guest architecture (default: the QEMU's)")
    group.add_argument("--virt-type", choices=("kvm", "qemu"), help="domain type (default: kvm if the QEMU has it)")
    group.add_argument("--machine", type=_option_name, help="machine type (default: the QEMU's default)")
    parser.add_argument("--now", metavar="ISO8601", help="the time to compute variable offsets from (default: now)")


def _read_input(path: str) -> bytes:
    from ._safexml import MAX_BYTES
    from .errors import MalformedXMLError

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                # read(n) allocates n bytes up front: ask a regular file for its size
                # (+1, in case it grew), not for the 10 MB limit every time
                info = os.fstat(handle.fileno())
                limit = min(info.st_size + 1, MAX_BYTES + 1) if stat.S_ISREG(info.st_mode) else MAX_BYTES + 1
                data = handle.read(limit)
    except OSError as exc:
        raise _FileError(f"cannot read '{path}': {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise MalformedXMLError(f"document is larger than {MAX_BYTES} bytes; guestclock reads at most that")
    return data


class _FileError(Exception):
    pass


def _read_domain(args: argparse.Namespace) -> ReadResult:
    from dataclasses import replace

    from .xmlread import ReadResult, read_domain

    result = read_domain(_read_input(args.file))
    domain = result.domain
    overrides = {
        key: value
        for key, value in (("arch", args.arch), ("virt_type", args.virt_type), ("machine", args.machine))
        if value is not None
    }
    if overrides:
        domain = replace(domain, **overrides)
    return ReadResult(domain, result.warnings)


def _default_binary(arch: str) -> str | None:
    names = [f"qemu-system-{arch}"]
    if arch == "i686":
        names = ["qemu-system-i386", "qemu-system-x86_64"]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def _resolve_caps(args: argparse.Namespace, arch: str | None) -> tuple[Capabilities, dict[str, object]]:
    """The capability set the options name, and a JSON description of the QEMU."""
    from .versions import NEWEST_KNOWN, caps_for_version

    binary: str | None = None
    if args.qemu_version is not None:
        caps = caps_for_version(args.qemu_version, arch or "x86_64")
    elif args.help_text is not None:
        from .helpparse import parse_help

        try:
            with open(args.help_text, encoding="utf-8", errors="replace") as handle:
                text = handle.read(8 * 1024 * 1024)
        except OSError as exc:
            raise _FileError(f"cannot read '{args.help_text}': {exc.strerror}") from None
        caps = parse_help(text, arch=arch or "x86_64", source=f"help:{args.help_text}").capabilities
    elif args.caps is not None:
        from .capsdump import load_libvirt_caps

        try:
            with open(args.caps, "rb") as handle:
                data = handle.read(16 * 1024 * 1024)
        except OSError as exc:
            raise _FileError(f"cannot read '{args.caps}': {exc.strerror}") from None
        caps = load_libvirt_caps(data, source=f"libvirt-caps:{args.caps}")
    else:
        binary = args.qemu or _default_binary(arch or "x86_64")
        if binary is None:
            caps = caps_for_version(NEWEST_KNOWN, arch or "x86_64")
            _note(
                f"no qemu-system-{arch or 'x86_64'} on PATH; using the built-in capabilities of "
                f"QEMU {caps.version_string}"
            )
        else:
            caps = _probe(binary, args)
            if args.qemu is None:
                _note(f"using {binary} (QEMU {caps.version_string})")
    qemu: dict[str, object] = dict(caps.to_json())
    qemu["binary"] = binary
    return caps, qemu


def _probe(binary: str, args: argparse.Namespace) -> Capabilities:
    from . import probe

    return probe.probe_binary(binary, timeout=args.timeout, use_cache=not args.no_cache)


def _now(args: argparse.Namespace) -> Now:
    from .hosttime import host_now, parse_now

    return parse_now(args.now) if args.now else host_now()


def _translate(args: argparse.Namespace) -> tuple[Translation, dict[str, object], list[str]]:
    from .model import Offset
    from .translation import translate
    from .zones import check_timezone

    result = _read_domain(args)
    domain = result.domain
    warnings = list(result.warnings)
    if domain.clock.offset is Offset.TIMEZONE and domain.clock.timezone is not None:
        warnings.extend(check_timezone(domain.clock.timezone, domain.clock.line))
    caps, qemu = _resolve_caps(args, domain.arch)
    translation = translate(domain, caps, _now(args))
    return translation, qemu, warnings + list(translation.warnings)


def _emit(args: argparse.Namespace, text: str) -> None:
    if getattr(args, "output", None):
        from .files import atomic_write

        try:
            atomic_write(args.output, text.encode("utf-8"))
        except OSError as exc:
            raise _FileError(f"cannot write '{args.output}': {exc.strerror}") from None
    else:
        sys.stdout.write(text)


# -- commands ------------------------------------------------------------------


def _cmd_argv(args: argparse.Namespace) -> int:
    from .output import to_json, to_lines, to_shell

    translation, qemu, warnings = _translate(args)
    if args.format == "json":
        from dataclasses import replace

        # the QEMU's machine list (a hundred names) belongs to `caps`, not to every answer
        described = {key: value for key, value in qemu.items() if key != "machines"}
        text = to_json(replace(translation, warnings=tuple(dict.fromkeys(warnings))), described) + "\n"
    else:
        for warning in dict.fromkeys(warnings):
            _warn(warning)
        if args.format == "lines":
            text = to_lines(translation)
            for name, value in translation.environ.items():
                _note(f"set {name}={value} in QEMU's environment (--format lines shows arguments only)")
        else:
            arch = translation.caps.arch or "x86_64"
            binary = qemu.get("binary") or f"qemu-system-{'i386' if arch == 'i686' else arch}"
            text = to_shell(translation, str(binary)) + "\n"
    _emit(args, text)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .model import Offset
    from .zones import check_timezone

    result = _read_domain(args)
    warnings = list(result.warnings)
    clock = result.domain.clock
    if clock.offset is Offset.TIMEZONE and clock.timezone is not None:
        warnings.extend(check_timezone(clock.timezone, clock.line))
    for warning in warnings:
        _warn(warning)
    print(f"{args.file}: valid <clock> with {len(clock.timers)} timer(s)")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from .errors import UnsupportedConfigError
    from .output import explain_refusals, explain_translation

    try:
        translation, qemu, warnings = _translate(args)
    except UnsupportedConfigError as refusal:
        sys.stdout.write(explain_refusals(refusal))
        return 1
    print(f"QEMU: {qemu.get('binary') or qemu['source']} (version {qemu['version']})")
    sys.stdout.write(explain_translation(translation))
    for warning in warnings:
        if warning not in translation.warnings:
            print(f"warning: {warning}")
    return 0


def _cmd_caps(args: argparse.Namespace) -> int:
    import json

    caps, qemu = _resolve_caps(args, args.arch)
    if args.format == "json":
        print(json.dumps(qemu, indent=2))
    else:
        print(f"source: {caps.source}")
        print(f"version: {caps.version_string}{' (estimated)' if caps.estimated else ''}")
        print(f"arch: {caps.arch}")
        for cap in sorted(caps.caps, key=lambda c: c.value):
            print(f"  {cap.value}")
        for note in caps.notes:
            _warn(note)
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``command`` names the extension command whose module to load."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Translate a libvirt <clock> into the exact QEMU arguments for one QEMU.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    argv = sub.add_parser("argv", help="print the QEMU arguments and environment for a clock")
    _add_domain_options(argv)
    _add_qemu_options(argv)
    argv.add_argument("--format", choices=("shell", "json", "lines"), default="shell")
    argv.add_argument("--output", metavar="FILE", help="write to FILE atomically instead of stdout")
    argv.set_defaults(handler=_cmd_argv)

    check = sub.add_parser("check", help="validate a domain or <clock> only")
    check.add_argument("file", metavar="FILE", help="domain or <clock> XML ('-' for stdin)")
    check.set_defaults(handler=_cmd_check, arch=None, virt_type=None, machine=None)

    explain = sub.add_parser("explain", help="show which XML produced each argument, or why it was refused")
    _add_domain_options(explain)
    _add_qemu_options(explain)
    explain.set_defaults(handler=_cmd_explain)

    caps = sub.add_parser("caps", help="print what a QEMU can do for a guest's clock")
    _add_qemu_options(caps)
    caps.add_argument("--arch", type=_option_name, help="architecture for --qemu-version/--help-text (default x86_64)")
    caps.add_argument("--format", choices=("lines", "json"), default="lines")
    caps.set_defaults(handler=_cmd_caps)

    import importlib

    for name, summary in _EXTENSIONS.items():
        if name == command:
            importlib.import_module(f".{name}", __package__).register(sub)
        else:
            # listed in --help without importing the module (verify pulls in asyncio
            # and qemu.qmp: ~28 ms that 'argv' must not pay)
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


#: commands that live in their own module of the same name; each module has
#: ``register(subparsers)`` that adds its parser and sets ``handler`` (args -> exit
#: status) as a default, and is imported only when its command runs
_EXTENSIONS: dict[str, str] = {
    "batch": "translate many domains (files, directories, globs) into JSON lines",
    "matrix": "whether a clock runs on each QEMU of a folder of capability sets, and with which arguments",
    "verify": "start QEMU paused with the clock's arguments and check its timers",
}


def _command_word(argv: list[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from .errors import GuestclockError

    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(_command_word(argv))
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
        return status
    except GuestclockError as exc:
        line = getattr(exc, "line", None)
        where = f"{args.file}:{line}: " if line is not None and hasattr(args, "file") else ""
        _error(f"{where}{exc}")
        return 1
    except _FileError as exc:
        _error(str(exc))
        return 1
    except _Usage as exc:
        parser.error(str(exc))
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {_one_line(str(exc))} (please report this)",
            file=sys.stderr,
        )
        return 70


def entrypoint() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())
