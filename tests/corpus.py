"""Read libvirt's test corpus in ../shared/corpus: cases, their expectations and capabilities.

A case is one expected file (``NAME.args``, ``NAME.<arch>-<ver>.args``,
``NAME.<arch>-<ver>.err``) of one input domain. The capabilities it ran with
follow from the file name and the libvirt test-driver line (tests.tsv or
meta.json), as corpus/README.md describes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.read.capsdump import LIBVIRT_ENUM_NAMES, caps_from_libvirt_flags, load_libvirt_caps
from guestclock.core.rules.history import caps_for_version

SHARED = Path(os.environ.get("GUESTCLOCK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CORPUS = SHARED / "corpus"

#: the capability dump each libvirt release calls "latest", per arch
_LATEST_9_0 = {"x86_64": "8.0.0", "aarch64": "7.0.0", "s390x": "6.0.0"}
#: newest libvirt's "latest" x86_64 dump is QEMU 10.x; the corpus does not carry it
NEWEST_LATEST_VERSION = (10, 0, 0)

#: what libvirt >= 9.0 assumes of every QEMU it supports (4.2+) when a test names no dump
_MODERN_ASSUMED = frozenset(
    {
        Cap.RTC,
        Cap.RTC_CLOCK_RT,
        Cap.CPU_FEATURE_PROPS,
        Cap.CPU_KVMCLOCK,
        Cap.CPU_HV_TIME,
        Cap.CPU_TSC_FREQUENCY,
        Cap.TCG,
    }
)

_EXPECTED = re.compile(r"^(?P<name>.+?)(?:\.(?P<arch>[a-z0-9_]+)-(?P<ver>latest|\d+\.\d+\.\d+))?\.(?P<kind>args|err)$")
_MACRO = re.compile(r"(DO_TEST[A-Z_]*)\s*\(([^)]*)\)")


@dataclass(frozen=True)
class Case:
    """One expectation: an input domain, the capabilities, and libvirt's answer."""

    id: str
    era: str  # "libvirt-9.0", "libvirt-newest", "seed-era"
    xml: Path
    expected: Path
    caps: Capabilities

    @property
    def expects_error(self) -> bool:
        return self.expected.suffix == ".err" or self.expected.name.endswith(".err-missing")


def _macros(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for name, args in _MACRO.findall(text):
        words = [word.strip().strip('"') for word in args.split(",")]
        found.append((name, words))
    return found


def _flag_names(words: list[str]) -> list[str]:
    names = []
    for word in words:
        for prefix in ("QEMU_CAPS_", "QEMUD_CMD_FLAG_", "QEMUD_FLAG_"):
            if word.startswith(prefix):
                enum = word[len(prefix) :]
                if enum in LIBVIRT_ENUM_NAMES:
                    names.append(LIBVIRT_ENUM_NAMES[enum])
    return names


@cache
def dump(version: str, arch: str) -> Capabilities:
    """libvirt's recorded capabilities of QEMU ``version``; where the corpus holds no
    dump of that release, the capabilities its option history gives (a kept-back case
    may name a release whose dump was not copied)."""
    path = CORPUS / "caps" / f"caps_{version}.{arch}.xml"
    if not path.exists():
        return caps_for_version(version, arch)
    return load_libvirt_caps(path.read_bytes(), source=f"libvirt-caps:{path.name}")


def _fake_caps(era: str, macro_text: str, arch: str) -> Capabilities:
    """Capabilities of a DO_TEST/DO_TEST_NOCAPS line: its flags plus the era's assumptions."""
    macros = [m for m in _macros(macro_text) if m[0] in ("DO_TEST", "DO_TEST_NOCAPS", "DO_TEST_PARSE_ERROR")]
    words = macros[-1][1][1:] if macros else []
    flags = _flag_names(words)
    caps = caps_from_libvirt_flags(flags, arch=arch, source=f"fake-caps:{era}:{','.join(flags) or 'none'}")
    if era == "seed-era":
        return caps
    assumed = set(_MODERN_ASSUMED)
    if arch in ("i686", "x86_64"):
        assumed.add(Cap.NO_HPET)
    return caps.with_caps(*assumed)


def _caps_for(era: str, arch: str | None, version: str | None, macro_text: str, domain_arch: str) -> Capabilities:
    if version is None:
        return _fake_caps(era, macro_text, domain_arch)
    assert arch is not None
    if version == "latest":
        if era == "libvirt-newest":
            return caps_for_version(NEWEST_LATEST_VERSION, arch)
        return dump(_LATEST_9_0.get(arch, "8.0.0"), arch)
    return dump(version, arch)


def _domain_arch(xml: Path) -> str:
    match = re.search(r"<type\s[^>]*arch=['\"]([^'\"]+)['\"]", xml.read_text())
    return match.group(1) if match else "x86_64"


def _cases_in(era: str, folder: Path, macro_for: dict[str, str]) -> list[Case]:
    cases = []
    for expected in sorted(folder.iterdir()):
        match = _EXPECTED.match(expected.name)
        if match is None:
            continue
        name = match.group("name")
        arch, version = match.group("arch"), match.group("ver")
        xml = folder / f"{name}.xml"
        if arch is not None and (folder / f"{name}.{arch}-{version}.xml").exists():
            # libvirt's own re-serialised input for this expectation (newer than NAME.xml)
            xml = folder / f"{name}.{arch}-{version}.xml"
        if not xml.exists():
            continue
        caps = _caps_for(era, arch, version, macro_for.get(name, ""), _domain_arch(xml))
        cases.append(Case(f"{era}/{expected.name}", era, xml, expected, caps))
    return cases


def all_cases() -> list[Case]:
    """Every expectation in the corpus."""
    cases: list[Case] = []
    base = CORPUS / "libvirt-9.0"
    macros: dict[str, str] = {}
    for line in (base / "tests.tsv").read_text().splitlines()[1:]:
        if "\t" in line:
            name, text = line.split("\t", 1)
            macros[name] = text
    cases += _cases_in("libvirt-9.0", base / "cases", macros)
    for era in ("libvirt-newest", "seed-era"):
        for folder in sorted((CORPUS / era).iterdir()):
            meta_path = folder / "meta.json"
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            name = str(meta.get("case", folder.name))
            text = str(meta.get("test_macro", ""))
            found = _cases_in(era, folder, {name: text})
            if not found and "PARSE_ERROR" in text:
                # an error case whose .err file was not recorded: libvirt refuses it
                xml = folder / f"{name}.xml"
                macro = [m for m in _macros(text) if "PARSE_ERROR" in m[0]]
                arch = macro[0][1][1] if macro and len(macro[0][1]) > 1 else "x86_64"
                if xml.exists():
                    caps = _caps_for(era, arch, "latest", text, arch)
                    found = [
                        Case(f"{era}/{name}.{arch}-latest.err-missing", era, xml, folder / f"{name}.err-missing", caps)
                    ]
            cases += found
    return cases


# -- comparing arguments -------------------------------------------------------

_FLAGS = ("-no-hpet", "-localtime", "-no-kvm-pit-reinjection", "-tdf", "-rtc-td-hack")
_VALUED = ("-rtc", "-machine", "-M", "-cpu", "-global", "-startdate")
_CPU_TIMER_PROPS = ("kvmclock", "hv-time", "hv_time", "tsc-frequency", "tsc_freq", "kvm-no-adjvtime")


def clock_items(words: list[str], env: dict[str, str]) -> list[str]:
    """The clock-related content of a QEMU command line, normalised for comparison."""
    items = [f"env TZ={env['TZ']}"] if "TZ" in env else []
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else ""
        if word in _FLAGS:
            items.append(word)
        elif word in _VALUED:
            index += 1
            if word == "-rtc":
                items.append(f"-rtc {value}")
            elif word == "-startdate":
                items.append(f"-startdate {value}")
            elif word in ("-machine", "-M"):
                items += [f"-machine {part}" for part in value.split(",") if part.startswith("hpet=")]
            elif word == "-global":
                if value.startswith(("kvm-pit.", "mc146818rtc.", "isa-pit.")):
                    items.append(f"-global {value}")
            else:  # -cpu
                for part in value.split(",")[1:]:
                    prop = part.lstrip("+-").split("=", 1)[0]
                    if prop in _CPU_TIMER_PROPS:
                        items.append(f"-cpu {part}")
        index += 1
    return sorted(items)


def libvirt_items(args_file: Path) -> list[str]:
    """Clock items of a libvirt ``.args`` file (environment first, then the binary and options)."""
    words = shlex.split(args_file.read_text().replace("\\\n", " "))
    env: dict[str, str] = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    return clock_items(words[1:], env)
