"""``guestclock matrix FILE --caps-dir DIR``: does this clock run on each of these QEMUs?

The question an operator asks before moving a guest to another host. ``DIR`` holds
capability sets: libvirt's recorded dumps (``caps_*.xml``, e.g. libvirt's
``tests/qemucapabilitiesdata``) and saved ``qemu -help`` texts (``*.help`` or
``*.help.txt``). For each, the clock is translated; the row says the arguments or
every refusal. Exit status: 0 when the clock runs on every QEMU in ``DIR``, 1 when
at least one refuses it (or ``DIR`` has no capability set).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass

from .caps import Capabilities
from .errors import CapabilityError, UnsupportedConfigError
from .model import Domain
from .translation import Now, translate

__all__ = ["MatrixRow", "load_caps_dir", "matrix_rows", "register"]

_MAX_FILE = 16 * 1024 * 1024
_HELP_SUFFIXES = (".help", ".help.txt")


@dataclass(frozen=True)
class MatrixRow:
    """One capability set and what the clock becomes there."""

    name: str
    caps: Capabilities
    argv: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    refusals: tuple[str, ...]

    @property
    def runs(self) -> bool:
        """True when the clock translates for this QEMU."""
        return self.argv is not None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready row."""
        return {
            "name": self.name,
            "source": self.caps.source,
            "version": self.caps.version_string,
            "arch": self.caps.arch,
            "runs": self.runs,
            "argv": None if self.argv is None else list(self.argv),
            "env": dict(self.env),
            "warnings": list(self.warnings),
            "refusals": list(self.refusals),
        }


def _version_sort_key(item: tuple[str, Capabilities]) -> tuple[tuple[int, int, int], str, str]:
    name, caps = item
    return (caps.version or (0, 0, 0), caps.arch or "", name)


def load_caps_dir(directory: str) -> list[tuple[str, Capabilities]]:
    """Every capability set in ``directory``, oldest QEMU first (file name, capabilities)."""
    from .capsdump import load_libvirt_caps
    from .helpparse import parse_help

    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise CapabilityError(f"cannot read --caps-dir '{directory}': {exc.strerror}", subject=directory) from None
    found: list[tuple[str, Capabilities]] = []
    for name in names:
        path = os.path.join(directory, name)
        is_dump = name.endswith(".xml")
        is_help = name.endswith(_HELP_SUFFIXES)
        if not (is_dump or is_help) or not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_FILE)
        except OSError as exc:
            raise CapabilityError(f"cannot read '{path}': {exc.strerror}", subject=path) from None
        if is_dump:
            if b"<qemuCaps" not in data[:4096]:
                continue  # some other XML (a domain, a README in XML): not a capability set
            found.append((name, load_libvirt_caps(data, source=f"libvirt-caps:{name}")))
        else:
            arch_match = re.search(r"\.(x86_64|i686|aarch64|s390x|ppc64le?)\.", name)
            arch = arch_match.group(1) if arch_match else "x86_64"
            text = data.decode("utf-8", "replace")
            found.append((name, parse_help(text, arch=arch, source=f"help:{name}").capabilities))
    found.sort(key=_version_sort_key)
    return found


def matrix_rows(domain: Domain, sets: list[tuple[str, Capabilities]], now: Now | None) -> list[MatrixRow]:
    """Translate ``domain`` for each capability set (pure)."""
    rows: list[MatrixRow] = []
    for name, caps in sets:
        try:
            translation = translate(domain, caps, now)
        except UnsupportedConfigError as refusal:
            rows.append(
                MatrixRow(
                    name=name,
                    caps=caps,
                    argv=None,
                    env=(),
                    warnings=(),
                    refusals=tuple(str(each) for each in refusal.refusals),
                )
            )
            continue
        rows.append(
            MatrixRow(
                name=name,
                caps=caps,
                argv=tuple(translation.argv),
                env=tuple(translation.environ.items()),
                warnings=translation.warnings,
                refusals=(),
            )
        )
    return rows


def _label(row: MatrixRow) -> str:
    version = row.caps.version_string or "?"
    return f"{version} {row.caps.arch or '?'}"


def render_table(rows: list[MatrixRow]) -> str:
    """One line per QEMU: version and arch, runs/refused, then arguments or reasons."""
    width = max((len(_label(row)) for row in rows), default=10)
    lines = [f"{'QEMU':<{width}}  {'result':<7}  arguments / reason   (capability set)"]
    for row in rows:
        head = f"{_label(row):<{width}}  {'runs' if row.runs else 'REFUSED':<7}  "
        if row.argv is not None:
            command = to_shell_words(row)
            lines.append(f"{head}{command}   ({row.name})")
            lines.extend(f"{'':<{width}}  {'':<7}  warning: {warning}" for warning in row.warnings)
        else:
            lines.append(f"{head}{row.refusals[0]}   ({row.name})")
            lines.extend(f"{'':<{width}}  {'':<7}  {more}" for more in row.refusals[1:])
    runs = sum(1 for row in rows if row.runs)
    lines.append(f"runs on {runs} of {len(rows)} QEMU capability sets")
    return "\n".join(lines) + "\n"


def to_shell_words(row: MatrixRow) -> str:
    """The row's environment and arguments as one shell-quoted line (without a binary)."""
    from .output import shell_line

    return shell_line(row.env, row.argv or ()) or "(no arguments needed)"


def _handler(args: argparse.Namespace) -> int:
    from .cli import _now, _read_domain

    result = _read_domain(args)
    sets = load_caps_dir(args.caps_dir)
    if not sets:
        raise CapabilityError(
            f"--caps-dir '{args.caps_dir}' holds no capability set (caps_*.xml libvirt dumps or *.help texts)",
            subject=args.caps_dir,
        )
    rows = matrix_rows(result.domain, sets, _now(args))
    if args.format == "json":
        document = {
            "file": args.file,
            "warnings": list(result.warnings),
            "all_run": all(row.runs for row in rows),
            "qemus": [row.to_json() for row in rows],
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        for warning in result.warnings:
            print(f"guestclock: warning: {warning}", file=sys.stderr)
        sys.stdout.write(render_table(rows))
    return 0 if all(row.runs for row in rows) else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``matrix`` command."""
    from .cli import _add_domain_options

    parser = subparsers.add_parser(
        "matrix",
        help="whether a clock runs on each QEMU of a folder of capability sets, and with which arguments",
        description=(
            "Translate the clock for every capability set in --caps-dir (libvirt caps_*.xml dumps, "
            "saved 'qemu -help' texts named *.help). Exit 0 if it runs on all of them, 1 if any refuses it."
        ),
    )
    _add_domain_options(parser)
    parser.add_argument("--caps-dir", required=True, metavar="DIR", help="folder of capability sets")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=_handler)
