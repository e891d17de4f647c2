"""Which clock each VM manager gives each guest OS: pure data, one row per opinion.

Six profiles: ``guestclock`` (ours, with a reason per element), ``libvirt`` (what libvirt
does when the domain says nothing), and the four peers that pick a clock for their
users: ``virt-manager`` (virtinst), ``nova`` (OpenStack's libvirt driver), ``proxmox``
(qemu-server) and ``kubevirt``. Each row names its source: the project file and the
version it was read in. Facts were read from the sources; no code was taken.

Elements: the ``<clock offset>``, the rtc and pit ``tickpolicy``, the hpet's ``present``,
the ``hypervclock`` timer, the ``<features><hyperv>`` set, the ``kvmclock`` timer and the
TSC (``<timer name='tsc' frequency>``, ``<cpu><feature name='invtsc'>``).

Values are libvirt's XML words: ``utc``/``localtime``, ``catchup``/``delay``/``discard``,
``yes``/``no``; the Hyper-V set is QEMU's enlightenment names separated by blanks
(``spinlocks=8191`` carries the retry count). ``None`` means "not set": the hypervisor's
default (QEMU 7.2: HPET present, RTC lost ticks discarded, kvm-pit delay).

Windows releases are ranked the way Proxmox's ``ostype`` ranks them (``PVE/QemuServer.pm``:
``win8`` is "Windows 8/2012/2012r2", ``win10`` "10/2016/2019", ``win11`` "11/2022/2025"):
3 for Windows 3.x, 4 for 9x and NT 4, 5 for 2000/XP/2003, 6 for Vista/2008, 7 for 7/2008 R2,
8, 10, 11.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from guestclock.core.read.osinfo import OSIdentity, version_tuple

__all__ = [
    "RULES",
    "SOURCES",
    "Element",
    "GuestOS",
    "OSFamily",
    "Profile",
    "Rule",
    "Source",
    "classify",
    "opinion",
    "profile_names",
]


class OSFamily(enum.Enum):
    """The guest OS families whose clocks differ."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    WINDOWS = "windows"
    LINUX = "linux"
    MACOS = "macos"
    DOS = "dos"
    SOLARIS = "solaris"
    BSD = "bsd"
    OTHER = "other"


class Profile(enum.Enum):
    """Whose policy: guestclock's own or a peer's."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    GUESTCLOCK = "guestclock"
    LIBVIRT = "libvirt"
    VIRT_MANAGER = "virt-manager"
    NOVA = "nova"
    PROXMOX = "proxmox"
    KUBEVIRT = "kubevirt"


class Element(enum.Enum):
    """One decision about a guest's clock."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    OFFSET = "offset"
    RTC_TICKPOLICY = "rtc tickpolicy"
    PIT_TICKPOLICY = "pit tickpolicy"
    HPET = "hpet present"
    HYPERVCLOCK = "hypervclock present"
    HYPERV = "hyperv set"
    KVMCLOCK = "kvmclock present"
    TSC = "tsc / invtsc"


@dataclass(frozen=True)
class GuestOS:
    """A resolved OS, classified for the clock rules."""

    family: OSFamily
    #: Windows' rank (see the module docstring); None for other families
    generation: int | None
    identity: OSIdentity

    @property
    def label(self) -> str:
        """e.g. ``win11 (Microsoft Windows 11; windows, generation 11)``."""
        name = self.identity.short_id or self.identity.id
        rank = f", generation {self.generation}" if self.generation is not None else ""
        return f"{name} ({self.identity.name or self.identity.id}; {self.family.value}{rank})"


@dataclass(frozen=True)
class Source:
    """Where a profile's policy was read: a project file and its version, or a document."""

    project: str
    where: str
    version: str

    def __str__(self) -> str:
        return f"{self.project}: {self.where} ({self.version})"


SOURCES: dict[Profile, Source] = {
    Profile.GUESTCLOCK: Source(
        "guestclock",
        "core/rules/os_profiles.py (a reason per element); Hyper-V set after QEMU docs/system/i386/hyperv.rst",
        "this version; hyperv.rst @ qemu/qemu 521500bd803b",
    ),
    Profile.LIBVIRT: Source(
        "libvirt",
        "no per-OS policy: a domain without <clock> is written back as <clock offset='utc'/> (virsh -c "
        "test:///default, checked here) and gets no <timer>; tests/qemuxml2argvdata/hyperv.args: "
        "<clock offset='utc'/> gives only -rtc base=utc",
        "9.0.0 (Debian 12)",
    ),
    Profile.VIRT_MANAGER: Source(
        "virt-manager",
        "virtinst/domain/clock.py DomainClock.set_defaults (timers only when none given, x86, QEMU); "
        "virtinst/osdict.py get_clock (localtime for families win9x, winnt, win16, solaris); "
        "virtinst/domain/features.py _set_hyperv_defaults (each only if domcaps lists it)",
        "v5.1.0-89-g2450354f3 (2026-03-27)",
    ),
    Profile.NOVA: Source(
        "nova",
        "nova/virt/libvirt/driver.py _set_clock, _set_kvm_timers (virt_type kvm; hpet from image property "
        "hw_time_hpet, default False), _set_features (os_type windows)",
        "33.0.0-373-g00a030403f (2026-08-21)",
    ),
    Profile.PROXMOX: Source(
        "proxmox",
        "qemu-server src/PVE/QemuServer/Cfg2Cmd/Timer.pm generate; src/PVE/QemuServer/CPUConfig.pm "
        "get_hyperv_enlightenments; src/PVE/QemuServer/Helpers.pm windows_version",
        "qemu-server 9.2.6, commit e6352be67f70 (2026-08-17)",
    ),
    Profile.KUBEVIRT: Source(
        "kubevirt",
        "examples/vmi-windows.yaml (Windows); examples/vmi-fedora.yaml sets no clock, and a VMI without "
        "spec.domain.clock gets no <clock> (libvirt's default)",
        "vmi-windows.yaml @ 05bdb95da7a0, vmi-fedora.yaml @ 0c674d353268",
    ),
}


@dataclass(frozen=True)
class Rule:
    """One opinion: ``profile`` gives ``element`` the ``value`` for guests of ``family``
    (None: any) whose Windows rank is within ``min_gen``..``max_gen``, and, with
    ``min_machine``, only on machine types of that version or newer (Proxmox)."""

    profile: Profile
    family: OSFamily | None
    element: Element
    value: str | None
    reason: str
    min_gen: int | None = None
    max_gen: int | None = None
    min_machine: tuple[int, int] | None = None

    def matches(self, guest: GuestOS, machine_version: tuple[int, int] | None) -> bool:
        """True when this row speaks about ``guest`` on a machine type of ``machine_version``."""
        if self.family is not None and self.family is not guest.family:
            return False
        rank = guest.generation if guest.generation is not None else 0
        if self.min_gen is not None and rank < self.min_gen:
            return False
        if self.max_gen is not None and rank > self.max_gen:
            return False
        return self.min_machine is None or (machine_version is not None and machine_version >= self.min_machine)


_W, _L, _M, _D, _S, _B = (
    OSFamily.WINDOWS,
    OSFamily.LINUX,
    OSFamily.MACOS,
    OSFamily.DOS,
    OSFamily.SOLARIS,
    OSFamily.BSD,
)
_OFF, _RTC, _PIT, _HPET = Element.OFFSET, Element.RTC_TICKPOLICY, Element.PIT_TICKPOLICY, Element.HPET
_HVC, _HV, _KVM, _TSC = Element.HYPERVCLOCK, Element.HYPERV, Element.KVMCLOCK, Element.TSC
_G, _LV, _VM, _N, _P, _K = (
    Profile.GUESTCLOCK,
    Profile.LIBVIRT,
    Profile.VIRT_MANAGER,
    Profile.NOVA,
    Profile.PROXMOX,
    Profile.KUBEVIRT,
)

#: the rows; within one (profile, element) the first matching row wins, so specific rows
#: come before general ones
RULES: tuple[Rule, ...] = (
    # -- guestclock ---------------------------------------------------------------------
    Rule(
        _G,
        _W,
        _OFF,
        "localtime",
        "Windows keeps the RTC in local time unless its registry says RealTimeIsUniversal=1 (then pass "
        "--utc-registry); with utc a Windows guest shows UTC as its local time",
    ),
    Rule(
        _G,
        _D,
        _OFF,
        "localtime",
        "DOS has no time zones: the BIOS clock is local time",
    ),
    Rule(
        _G,
        _S,
        _OFF,
        "localtime",
        "Solaris on x86 keeps the RTC in local time by default (rtc -z); virt-manager gives it localtime too",
    ),
    Rule(
        _G,
        _L,
        _OFF,
        "utc",
        "Linux keeps the RTC in UTC; with localtime the RTC jumps by the zone offset at each DST change and "
        "after a move to another zone",
    ),
    Rule(_G, _M, _OFF, "utc", "macOS keeps the hardware clock in UTC, as every Unix does"),
    Rule(_G, _B, _OFF, "utc", "the BSDs keep the RTC in UTC (FreeBSD: unless /etc/wall_cmos_clock exists)"),
    Rule(_G, None, _OFF, "utc", "libvirt's default, and every Unix keeps its RTC in UTC"),
    Rule(
        _G,
        _W,
        _RTC,
        "catchup",
        "Windows up to 7/2008 R2 counts RTC interrupts to keep time: ticks lost while the vCPU did not run "
        "must be made up (-rtc driftfix=slew)",
        max_gen=7,
    ),
    Rule(
        _G,
        _W,
        _RTC,
        None,
        "Windows 8/2012 and later do not count RTC interrupts (QEMU's test notes): catchup would be harmless, "
        "QEMU's default is enough",
        min_gen=8,
    ),
    Rule(
        _G,
        _L,
        _RTC,
        "catchup",
        "the policy the Red Hat QEMU developers recommend (virt-manager's comment) and virt-manager, nova and "
        "KubeVirt's Windows example carry; Linux keeps time with kvmclock, so it only matters to /dev/rtc users",
    ),
    Rule(_G, None, _RTC, None, "nothing in this OS counts RTC interrupts to keep time; QEMU's default is enough"),
    Rule(
        _G,
        _W,
        _PIT,
        "delay",
        "late PIT ticks are delivered late, none dropped: kvm-pit's own default and libvirt's, virt-manager's "
        "and nova's choice (Proxmox discards them for Windows Vista and later); with the Hyper-V clock and "
        "synthetic timers Windows barely uses the PIT",
    ),
    Rule(
        _G,
        _D,
        _PIT,
        "delay",
        "DOS's time of day is a count of PIT ticks (INT 08h, 18.2 Hz): every tick must arrive, late rather than never",
    ),
    Rule(_G, _L, _PIT, "delay", "kvm-pit's default, written out: Linux calibrates its timers against the PIT at boot"),
    Rule(_G, _S, _PIT, "delay", "kvm-pit's default, written out: every tick arrives, late rather than never"),
    Rule(_G, _B, _PIT, "delay", "kvm-pit's default, written out: every tick arrives, late rather than never"),
    Rule(_G, None, _PIT, None, "QEMU's default (kvm-pit re-injects late ticks)"),
    Rule(
        _G,
        _W,
        _HPET,
        "no",
        "with the Hyper-V clock and synthetic timers Windows does not need the HPET, and an emulated HPET "
        "costs host CPU while the guest idles (QEMU hyperv.rst: without hv-stimer Windows falls back to it)",
        min_gen=6,
    ),
    Rule(
        _G,
        _W,
        _HPET,
        None,
        "Windows before Vista/2008 gets no Hyper-V enlightenments: QEMU's default HPET stays",
    ),
    Rule(
        _G,
        _L,
        _HPET,
        "no",
        "Linux uses kvmclock and the local APIC timer; an emulated HPET costs a q35 guest several percent of "
        "a host core at idle, under one percent without it (issue 13)",
    ),
    Rule(
        _G,
        _M,
        _HPET,
        None,
        "real Macs always have an HPET and macOS is built for that hardware: guestclock keeps QEMU's default "
        "rather than remove a timer the OS expects",
    ),
    Rule(_G, None, _HPET, None, "this OS does not program the HPET; an unused HPET costs nothing"),
    Rule(
        _G,
        _W,
        _HVC,
        "yes",
        "hv-time: the Hyper-V reference counter and TSC page, Windows' paravirtual clocksource and what "
        "hv-stimer runs on",
        min_gen=6,
    ),
    Rule(_G, _W, _HVC, None, "Windows before Vista/2008 knows no Hyper-V enlightenments"),
    Rule(_G, None, _HVC, None, "only Windows uses the Hyper-V clock"),
    Rule(
        _G,
        _W,
        _HV,
        "relaxed vpindex runtime synic stimer stimer-direct frequencies reenlightenment",
        "synthetic timers (stimer, needing vpindex, synic and time) replace the HPET and RTC; direct mode is "
        "what nested Hyper-V (VBS, WSL2) needs; relaxed stops watchdog timeouts on a busy host; runtime shows "
        "stolen time; frequencies and reenlightenment keep the TSC frequency known (only with a fixed "
        "frequency when migratable)",
        min_gen=10,
    ),
    Rule(
        _G,
        _W,
        _HV,
        "relaxed vpindex runtime synic stimer frequencies",
        "synthetic timers (stimer, needing vpindex, synic and time) replace the HPET and RTC; relaxed stops "
        "watchdog timeouts on a busy host; runtime shows stolen time; frequencies saves the guest measuring "
        "the TSC (only with a fixed frequency when migratable)",
        min_gen=7,
    ),
    Rule(
        _G,
        _W,
        _HV,
        "relaxed vpindex runtime",
        "Vista/2008 predate the synthetic timers' use; relaxed and runtime are the clock-related ones it reads "
        "(Proxmox gives synic and stimer only from Windows 7)",
        min_gen=6,
    ),
    Rule(_G, None, _HV, None, "Hyper-V enlightenments are for Windows Vista/2008 and later"),
    Rule(
        _G,
        _L,
        _KVM,
        "yes",
        "Linux's preferred clocksource under KVM, stable across migration; written out so that a change of "
        "CPU model cannot drop it",
    ),
    Rule(_G, _W, _KVM, None, "Windows has no kvmclock driver: hv-time is its paravirtual clock"),
    Rule(_G, None, _KVM, None, "this OS has no kvmclock driver"),
    Rule(
        _G,
        None,
        _TSC,
        None,
        "a TSC frequency and invtsc only when you give the frequency (--tsc-frequency); when migratable, "
        "invtsc is disabled without one (QEMU blocks migrating an invariant TSC of unknown frequency)",
    ),
    # -- libvirt ------------------------------------------------------------------------
    Rule(_LV, None, _OFF, "utc", "libvirt's default offset"),
    *(Rule(_LV, None, element, None, "libvirt adds no timer") for element in (_RTC, _PIT, _HPET, _HVC, _KVM, _TSC)),
    Rule(_LV, None, _HV, None, "libvirt adds no <hyperv>"),
    # -- virt-manager -------------------------------------------------------------------
    Rule(_VM, _W, _OFF, "localtime", "osdict get_clock: localtime for families win9x, winnt, win16"),
    Rule(_VM, _S, _OFF, "localtime", "osdict get_clock: localtime for family solaris"),
    Rule(_VM, None, _OFF, "utc", "osdict get_clock: utc for every other family"),
    Rule(_VM, None, _RTC, "catchup", "clock.py: rtc tickpolicy catchup for every x86 guest"),
    Rule(_VM, None, _PIT, "delay", "clock.py: pit tickpolicy delay for every x86 guest"),
    Rule(_VM, None, _HPET, "no", "clock.py: hpet present=no ('unneeded and has a performance penalty')"),
    Rule(_VM, _W, _HVC, "yes", "clock.py: hypervclock for Windows when libvirt supports it"),
    Rule(_VM, None, _HVC, None, "only for Windows"),
    Rule(
        _VM,
        _W,
        _HV,
        "relaxed vapic spinlocks=8191 vpindex runtime synic stimer stimer-direct frequencies tlbflush ipi evmcs avic",
        "features.py: each only if domcaps lists it and its requirements are on; evmcs on Intel hosts, avic "
        "with <apic>",
    ),
    Rule(_VM, None, _HV, None, "only for Windows"),
    Rule(_VM, None, _KVM, None, "not set"),
    Rule(_VM, None, _TSC, None, "not set"),
    # -- nova ---------------------------------------------------------------------------
    Rule(_N, _W, _OFF, "localtime", "_set_clock: localtime for os_type windows (Microsoft KB 2687252)"),
    Rule(_N, None, _OFF, "utc", "_set_clock: utc"),
    Rule(_N, None, _RTC, "catchup", "_set_kvm_timers: rtc catchup"),
    Rule(_N, None, _PIT, "delay", "_set_kvm_timers: pit delay"),
    Rule(_N, None, _HPET, "no", "_set_kvm_timers: hpet present = image property hw_time_hpet (default False)"),
    Rule(_N, _W, _HVC, "yes", "_set_kvm_timers: hypervclock for os_type windows"),
    Rule(_N, None, _HVC, None, "only for os_type windows"),
    Rule(
        _N,
        _W,
        _HV,
        "relaxed spinlocks=8191 vapic vpindex runtime synic reset frequencies tlbflush ipi",
        "_set_features: for os_type windows (no stimer)",
    ),
    Rule(_N, None, _HV, None, "only for os_type windows"),
    Rule(_N, None, _KVM, None, "not set"),
    Rule(_N, None, _TSC, None, "not set"),
    # -- proxmox ------------------------------------------------------------------------
    Rule(_P, _W, _OFF, "localtime", "Timer.pm: localtime by default for Windows (windows_version >= 5)", min_gen=5),
    Rule(_P, None, _OFF, "utc", "Timer.pm: no -rtc base (QEMU's utc) unless localtime is set"),
    Rule(_P, _W, _RTC, "catchup", "Timer.pm: driftfix=slew for Windows with ACPI (tdf default)", min_gen=5),
    Rule(_P, None, _RTC, None, "Timer.pm: no driftfix (tdf defaults off)"),
    Rule(_P, _W, _PIT, "discard", "Timer.pm: -global kvm-pit.lost_tick_policy=discard for Windows >= 6", min_gen=6),
    Rule(_P, None, _PIT, None, "not set"),
    Rule(_P, _W, _HPET, "no", "Timer.pm: hpet=off for Windows >= 6", min_gen=6),
    Rule(_P, _L, _HPET, "no", "Timer.pm: hpet=off for Linux on machine versions >= 10.1", min_machine=(10, 1)),
    Rule(_P, None, _HPET, None, "Timer.pm: not set (Linux before machine version 10.1)"),
    Rule(_P, _W, _HVC, "yes", "CPUConfig.pm: hv_time for Windows >= 6 (machine >= 2.3)", min_gen=6),
    Rule(_P, None, _HVC, None, "not set"),
    Rule(
        _P,
        _W,
        _HV,
        "relaxed vapic spinlocks=8191 vpindex runtime synic stimer reset ipi",
        "CPUConfig.pm: Windows >= 7 adds relaxed, synic, stimer (machine >= 2.12), ipi (>= 3.1) to "
        "spinlocks 0x1fff, vapic, vpindex, runtime, reset; evmcs for Windows 11 on Intel hosts",
        min_gen=7,
    ),
    Rule(
        _P,
        _W,
        _HV,
        "vapic spinlocks=8191 vpindex runtime reset",
        "CPUConfig.pm: Windows 6 (Vista/2008); none with OVMF before Windows 8",
        min_gen=6,
    ),
    Rule(_P, None, _HV, None, "CPUConfig.pm: none below Windows 6"),
    Rule(_P, None, _KVM, None, "not set"),
    Rule(_P, None, _TSC, None, "not set"),
    # -- kubevirt -----------------------------------------------------------------------
    Rule(_K, _W, _OFF, "utc", "vmi-windows.yaml: clock utc"),
    Rule(_K, None, _OFF, "utc", "no clock: libvirt's default"),
    Rule(_K, _W, _RTC, "catchup", "vmi-windows.yaml: rtc tickPolicy catchup"),
    Rule(_K, _W, _PIT, "delay", "vmi-windows.yaml: pit tickPolicy delay"),
    Rule(_K, _W, _HPET, "no", "vmi-windows.yaml: hpet present false"),
    Rule(_K, _W, _HVC, "yes", "vmi-windows.yaml: timer hyperv"),
    Rule(_K, _W, _HV, "relaxed spinlocks=8191 vapic", "vmi-windows.yaml: features hyperv"),
    *(
        Rule(_K, None, element, None, "no clock in the VMI: nothing set")
        for element in (_RTC, _PIT, _HPET, _HVC, _HV, _KVM, _TSC)
    ),
)

_BY_KEY: dict[tuple[Profile, Element], tuple[Rule, ...]] = {}
for _rule in RULES:
    _BY_KEY[(_rule.profile, _rule.element)] = (*_BY_KEY.get((_rule.profile, _rule.element), ()), _rule)


def opinion(profile: Profile, element: Element, guest: GuestOS, machine_version: tuple[int, int] | None) -> Rule:
    """The row that decides ``element`` for ``guest`` under ``profile``."""
    for rule in _BY_KEY.get((profile, element), ()):
        if rule.matches(guest, machine_version):
            return rule
    # every (profile, element) ends with a row for any family: a test checks this
    raise LookupError(f"no rule for {profile.value} / {element.value}")  # pragma: no cover


#: the Windows rank of releases whose NT version does not say it (Proxmox's ostype groups)
_WINDOWS_RANK = {"win2k22": 11, "win2k25": 11}
_NT_RANK = {(5,): 5, (6, 0): 6, (6, 1): 7, (6, 2): 8, (6, 3): 8, (10,): 10, (11,): 11}


def _windows_rank(identity: OSIdentity) -> int:
    if identity.short_id in _WINDOWS_RANK:
        return _WINDOWS_RANK[identity.short_id]
    if identity.family == "win16":
        return 3
    if identity.family == "win9x":
        return 4
    version = version_tuple(identity.version)
    for key in (version[:2], version[:1]):
        if key in _NT_RANK:
            return _NT_RANK[key]
    if version and version[0] < 5:
        return 4  # NT 3.x, 4.0
    return 11 if version and version[0] > 11 else 10


def classify(identity: OSIdentity) -> GuestOS:
    """The family (and Windows rank) of an osinfo entry, from its family and distro.

    osinfo-db's families: ``winnt``, ``win9x``, ``win16``; ``linux``; ``darwin``; ``msdos``;
    ``solaris``; ``freebsd``, ``netbsd``, ``openbsd``, ``dragonflybsd``. FreeDOS is filed under
    ``linux`` there (distro ``freedos``) and is DOS here.
    """
    family = (identity.family or "").lower()
    distro = (identity.distro or "").lower()
    if distro == "freedos" or family == "msdos":
        return GuestOS(OSFamily.DOS, None, identity)
    if family in ("winnt", "win9x", "win16") or distro in ("win", "winnt"):
        return GuestOS(OSFamily.WINDOWS, _windows_rank(identity), identity)
    if family == "linux":
        return GuestOS(OSFamily.LINUX, None, identity)
    if family == "darwin" or distro in ("osx", "macos"):
        return GuestOS(OSFamily.MACOS, None, identity)
    if family == "solaris":
        return GuestOS(OSFamily.SOLARIS, None, identity)
    if family.endswith("bsd"):
        return GuestOS(OSFamily.BSD, None, identity)
    return GuestOS(OSFamily.OTHER, None, identity)


def profile_names() -> tuple[str, ...]:
    """The ``--profile`` words, guestclock first."""
    return tuple(profile.value for profile in Profile)
