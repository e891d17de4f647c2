"""``guestclock check FILE --os OS``: what is wrong with a guest's clock for its OS. Pure.

Each finding has a severity, the reason and the fix (issue 13, section 2):

=================================  ========  ====================================================
code                               severity  when
=================================  ========  ====================================================
hyperv-missing-dependency          warning   an enlightenment is on without one it requires
                                             (QEMU hyperv.rst; QEMU refuses to start under KVM)
windows-hpet-off-without-stimer    warning   Windows, ``hpet present='no'``, neither ``stimer``
                                             nor the Hyper-V clock: it falls back to the RTC
linux-localtime                    warning   a Linux guest whose RTC runs in local time
windows-utc                        warning   ``utc`` for Windows not set to keep its RTC in UTC
windows-localtime-utc-registry     warning   ``localtime`` for Windows that keeps its RTC in UTC
rtc-catchup-not-counted            info      rtc ``catchup`` for Windows 8/2012 and later, which
                                             do not count RTC interrupts: harmless
invtsc-migratable                  warning   ``invtsc`` without a TSC frequency, migratable
hyperv-passthrough-migratable      warning   ``<hyperv mode='passthrough'>``, migratable
reenlightenment-migratable         warning   ``reenlightenment`` without a TSC frequency, migratable
=================================  ========  ====================================================

``--os auto`` takes the OS from the domain's ``<metadata>`` libosinfo id
(:func:`os_argument`). :func:`exit_status`: 0 when clean or only info; with ``strict``,
1 when any warning.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from guestclock.core.model.domain import Basis, Domain, Offset, TickPolicy, TimerName
from guestclock.core.recommend import RecommendOptions, check_options
from guestclock.core.rules import hyperv as hv
from guestclock.core.rules.os_profiles import GuestOS, OSFamily
from guestclock.core.rules.platform import DEFAULT_ARCH, X86_ARCHES
from guestclock.errors import OSInfoError

__all__ = ["Finding", "Severity", "exit_status", "lint", "os_argument"]


class Severity(enum.Enum):
    """How much a finding matters."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    INFO = "info"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One thing ``check --os`` says, with its reason and its fix."""

    code: str
    severity: Severity
    #: the element it is about (``<timer name='hpet'>``, ``<hyperv><stimer>``)
    subject: str
    message: str
    reason: str
    fix: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.message}: {self.reason}; fix: {self.fix}"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready finding."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "subject": self.subject,
            "message": self.message,
            "reason": self.reason,
            "fix": self.fix,
            "line": self.line,
        }


def os_argument(domain: Domain, os_arg: str) -> str:
    """The OS id ``--os`` names: itself, or for ``auto`` the domain's libosinfo id."""
    if os_arg != "auto":
        return os_arg
    if domain.os_id is None:
        raise OSInfoError(
            "--os auto: the domain names no OS (no <libosinfo:os id=.../> in its <metadata>); give one with --os ID",
            subject="auto",
        )
    return domain.os_id


def _xml_of(e: hv.Enlightenment) -> str:
    if e is hv.Enlightenment.TIME:
        return "<timer name='hypervclock' present='yes'/> in <clock>"
    if e is hv.Enlightenment.STIMER_DIRECT:
        return "<stimer state='on'><direct state='on'/></stimer> in <features><hyperv>"
    return f"<{hv.TABLE[e].libvirt} state='on'/> in <features><hyperv>"


def lint(
    domain: Domain, guest: GuestOS, *, migratable: bool = False, utc_registry: bool = False
) -> tuple[Finding, ...]:
    """Every finding for ``domain`` running ``guest`` (``migratable``: it will be
    live-migrated; ``utc_registry``: Windows keeps its RTC in UTC)."""
    check_options(guest, RecommendOptions(migratable=migratable, utc_registry=utc_registry))
    clock = domain.clock
    found: list[Finding] = []
    x86 = (domain.arch or DEFAULT_ARCH) in X86_ARCHES
    hyperv = domain.hyperv
    clock_timer = clock.timer(TimerName.HYPERVCLOCK)
    hypervclock = clock_timer is not None and clock_timer.present is True
    enabled = hv.enabled_set(hyperv, hypervclock=hypervclock)
    passthrough = hyperv is not None and hyperv.mode == "passthrough"
    hyperv_line = hyperv.line if hyperv is not None else None

    if not passthrough:
        for e, needed in hv.missing_dependencies(enabled):
            requires = ", ".join(n.value for n in hv.TABLE[e].requires)
            found.append(
                Finding(
                    "hyperv-missing-dependency",
                    Severity.WARNING,
                    f"<hyperv><{hv.TABLE[e].libvirt}>",
                    f"Hyper-V '{e.value}' is on without '{needed.value}'",
                    f"QEMU refuses to start the guest under KVM ({hv.SOURCE_HYPERV_RST}: "
                    f"{e.value} requires {requires})",
                    f"add {_xml_of(needed)}",
                    hyperv_line,
                )
            )

    offset = clock.offset
    local = offset in (Offset.LOCALTIME, Offset.TIMEZONE) or (
        offset is Offset.VARIABLE and clock.basis is Basis.LOCALTIME
    )
    utc = offset is Offset.UTC or (offset is Offset.VARIABLE and clock.basis is not Basis.LOCALTIME)
    windows = guest.family is OSFamily.WINDOWS
    hpet = clock.timer(TimerName.HPET)
    hyperv_timers = passthrough or hv.Enlightenment.STIMER in enabled or hypervclock
    if windows and x86 and hpet is not None and hpet.present is False and not hyperv_timers:
        found.append(
            Finding(
                "windows-hpet-off-without-stimer",
                Severity.WARNING,
                "<timer name='hpet'>",
                "the HPET is off for a Windows guest without hv-stimer or the Hyper-V clock",
                "Windows then falls back to the RTC for its timer interrupts and keeps a host CPU busy while it "
                f"idles ({hv.SOURCE_HYPERV_RST}, hv-stimer)",
                "add <timer name='hypervclock' present='yes'/> and vpindex, synic and stimer to "
                "<features><hyperv>, or drop <timer name='hpet' present='no'/>",
                hpet.line,
            )
        )
    if guest.family is OSFamily.LINUX and local:
        found.append(
            Finding(
                "linux-localtime",
                Severity.WARNING,
                "<clock offset>",
                f"offset '{offset.value}' for a Linux guest",
                "Linux keeps the RTC in UTC: with a local-time RTC the guest's clock jumps by the zone offset at each "
                "DST change and after a move to a host in another zone",
                "<clock offset='utc'> (and 'timedatectl set-local-rtc 0' in the guest)",
                clock.line,
            )
        )
    if windows and utc and not utc_registry:
        found.append(
            Finding(
                "windows-utc",
                Severity.WARNING,
                "<clock offset>",
                f"offset '{offset.value}' for a Windows guest that keeps its RTC in local time",
                "Windows reads the RTC as local time unless RealTimeIsUniversal=1 is set in its registry: the guest "
                "shows the wrong time, off by the zone offset",
                "<clock offset='localtime'>; or set HKLM\\SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation"
                "\\RealTimeIsUniversal=1 in the guest and check with --utc-registry",
                clock.line,
            )
        )
    if windows and local and utc_registry:
        found.append(
            Finding(
                "windows-localtime-utc-registry",
                Severity.WARNING,
                "<clock offset>",
                f"offset '{offset.value}' for a Windows guest that keeps its RTC in UTC",
                "with RealTimeIsUniversal=1 Windows reads the RTC as UTC: a local-time RTC puts it off by the zone "
                "offset",
                "<clock offset='utc'>",
                clock.line,
            )
        )
    rtc = clock.timer(TimerName.RTC)
    if windows and rtc is not None and rtc.tickpolicy is TickPolicy.CATCHUP and (guest.generation or 0) >= 8:
        found.append(
            Finding(
                "rtc-catchup-not-counted",
                Severity.INFO,
                "<timer name='rtc'>",
                "rtc tickpolicy 'catchup' for Windows 8/2012 or later",
                "these Windows releases do not count RTC interrupts to keep time (QEMU's test notes), so catching up "
                "lost ticks changes nothing: harmless",
                "nothing needed; drop tickpolicy to use QEMU's default",
                rtc.line,
            )
        )
    tsc = clock.timer(TimerName.TSC)
    fixed = tsc is not None and tsc.frequency is not None
    cpu = domain.cpu
    if migratable and cpu is not None and cpu.wants("invtsc") and not fixed:
        found.append(
            Finding(
                "invtsc-migratable",
                Severity.WARNING,
                "<cpu><feature name='invtsc'>",
                "invtsc without a TSC frequency on a migratable guest",
                "QEMU blocks migration of a guest with an invariant TSC of unknown frequency, and a host with another "
                "TSC frequency would change it under the guest",
                "add <timer name='tsc' frequency='HZ'/> (the same on every host), or <feature policy='disable' "
                "name='invtsc'/>",
            )
        )
    if migratable and passthrough:
        found.append(
            Finding(
                "hyperv-passthrough-migratable",
                Severity.WARNING,
                "<hyperv mode='passthrough'>",
                "Hyper-V passthrough on a migratable guest",
                "passthrough gives the guest whatever this host's KVM has; another host may have a different set "
                f"({hv.SOURCE_HYPERV_RST}: hv-passthrough effectively prevents migration)",
                "<hyperv mode='custom'> with the features named",
                hyperv_line,
            )
        )
    if migratable and hv.Enlightenment.REENLIGHTENMENT in enabled and not fixed:
        found.append(
            Finding(
                "reenlightenment-migratable",
                Severity.WARNING,
                "<hyperv><reenlightenment>",
                "Hyper-V reenlightenment without a TSC frequency on a migratable guest",
                "KVM does not emulate TSC accesses after migration: tsc-frequency must be set for migration to "
                f"succeed ({hv.SOURCE_HYPERV_RST}, hv-reenlightenment)",
                "add <timer name='tsc' frequency='HZ'/> (the same on every host), or switch reenlightenment off",
                hyperv_line,
            )
        )
    return tuple(found)


def exit_status(findings: Sequence[Finding], *, strict: bool) -> int:
    """0 when clean or only info; 1 with any warning under ``strict``."""
    if strict and any(f.severity is Severity.WARNING for f in findings):
        return 1
    return 0
