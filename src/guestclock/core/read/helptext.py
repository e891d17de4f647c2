"""Capabilities of QEMU 0.9-1.x read from its ``-help`` text.

Before QMP could be asked (libvirt needed QMP from QEMU 1.2 on), the options a
build listed in ``-help`` were the only record of what it could do: ``-rtc``
(0.12+), ``-rtc-td-hack``, ``-no-kvm-pit-reinjection`` and ``-tdf`` (qemu-kvm),
``-no-hpet`` (absent from RHEL 6 builds, which have no HPET), ``-localtime``.
Pure: the caller runs the binary and hands over the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.rules.history import history_caps
from guestclock.core.rules.platform import DEFAULT_ARCH, X86_ARCHES
from guestclock.errors import CapabilityError

__all__ = ["HelpInfo", "parse_help"]

# numbers are bounded: int() of a 5,000-digit version raised ValueError, not CapabilityError
_VERSION_LINE = re.compile(
    r"^QEMU (?:PC )?emulator version (\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?"
    r"(?:[^(\n]*\((kvm-(\d{1,6})|qemu-kvm-)?[^)\n]*\))?",
    re.MULTILINE,
)
#: the value of ``clock=`` in the -rtc help line, e.g. ``host|rt|vm``
_RTC_CLOCK_VALUE = re.compile(r"clock=([^\]\s]*)")
_HELP_LIMIT = 4 * 1024 * 1024

# option at the start of a help line -> libvirt's flag name for it
_LINE_OPTIONS: tuple[tuple[str, str], ...] = (
    ("-rtc-td-hack", "RTC_TD_HACK"),
    ("-no-hpet", "NO_HPET"),
    ("-no-kvm-pit-reinjection", "NO_KVM_PIT"),
    ("-tdf", "TDF"),
    ("-enable-kvm", "ENABLE_KVM"),
    ("-no-kvm", "KVM"),
    ("-localtime", "LOCALTIME"),
    ("-startdate", "STARTDATE"),
)

_FLAG_CAPS = {
    "RTC": Cap.RTC,
    "RTC_TD_HACK": Cap.RTC_TD_HACK,
    "NO_HPET": Cap.NO_HPET,
    "NO_KVM_PIT": Cap.NO_KVM_PIT,
    "TDF": Cap.TDF,
    "LOCALTIME": Cap.LOCALTIME,
    "STARTDATE": Cap.STARTDATE,
    "KVM": Cap.KVM,
    "ENABLE_KVM": Cap.KVM,
}


@dataclass(frozen=True)
class HelpInfo:
    """What a ``-help`` text says: the version, the qemu-kvm fork, and libvirt's flags."""

    version: tuple[int, int, int]
    is_kvm: bool
    kvm_version: int
    #: libvirt's QEMU_CAPS_* names (without the prefix) this text implies
    flags: frozenset[str]
    capabilities: Capabilities

    @property
    def libvirt_version(self) -> int:
        """libvirt's encoding: major * 1,000,000 + minor * 1,000 + micro."""
        major, minor, micro = self.version
        return major * 1_000_000 + minor * 1_000 + micro


def _has_option(text: str, option: str) -> bool:
    # an option counts where it starts a help line and is followed by a blank
    # or its argument, so '-no-kvm' does not match '-no-kvm-pit'
    return re.search(rf"^{re.escape(option)}(?=[\s\[=]|$)", text, re.MULTILINE) is not None


def parse_help(text: str, *, arch: str = DEFAULT_ARCH, source: str = "help") -> HelpInfo:
    """Read ``qemu -help`` output. Raises CapabilityError when it is not QEMU's help."""
    if len(text) > _HELP_LIMIT:
        raise CapabilityError("the -help text is larger than 4 MiB; this is not QEMU", subject=source)
    if "\x00" in text:
        raise CapabilityError("the -help text contains NUL bytes; this is not QEMU", subject=source)
    match = _VERSION_LINE.search(text)
    if match is None:
        raise CapabilityError(
            "cannot find 'QEMU emulator version X.Y.Z' in the -help text; this is not QEMU",
            subject=source,
        )
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
    is_kvm = match.group(4) is not None
    kvm_version = int(match.group(5)) if match.group(5) else 0

    flags: set[str] = set()
    rtc_line = re.search(r"^-rtc[ \t]+\[?base=.*$", text, re.MULTILINE)
    if rtc_line is not None:
        flags.add("RTC")
    for option, flag in _LINE_OPTIONS:
        if _has_option(text, option):
            flags.add(flag)

    caps = {_FLAG_CAPS[flag] for flag in flags if flag in _FLAG_CAPS}
    caps.add(Cap.TCG)
    # one pass over each clock= value: the former single pattern clock=[^\]\s]*\brt\b
    # backtracked quadratically (a 240 kB line of 'clock=' took 69 s, 4 MiB would take hours)
    if rtc_line is not None and any(
        re.search(r"\brt\b", value) for value in _RTC_CLOCK_VALUE.findall(rtc_line.group(0))
    ):
        caps.add(Cap.RTC_CLOCK_RT)
    # -help does not list CPU properties; take them from the option history of
    # this version (these QEMUs all predate the prop=on|off syntax)
    caps |= {cap for cap in history_caps(version, arch) if cap.value.startswith("cpu.") or cap is Cap.CPU_FEATURE_PROPS}
    if arch in X86_ARCHES:
        caps.add(Cap.CPU_KVMCLOCK)
    capabilities = Capabilities(
        caps=frozenset(caps),
        source=source,
        version=version,
        arch=arch,
        default_machine="pc" if arch in X86_ARCHES else None,
    )
    return HelpInfo(
        version=version,
        is_kvm=is_kvm,
        kvm_version=kvm_version,
        flags=frozenset(flags - {"LOCALTIME", "STARTDATE"}),
        capabilities=capabilities,
    )
