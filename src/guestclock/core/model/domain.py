"""Typed, immutable model of libvirt's ``<clock>`` element and the domain facts it needs.

Closed vocabularies are enums whose values are libvirt's XML spellings; values are
frozen dataclasses. The model never holds an unconverted string: reading and
validation (``xmlread``) convert or refuse.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "CPU",
    "Basis",
    "Catchup",
    "Clock",
    "Domain",
    "HyperV",
    "HyperVFeature",
    "Offset",
    "TickPolicy",
    "Timer",
    "TimerMode",
    "TimerName",
    "Track",
]


class Offset(enum.Enum):
    """``<clock offset=...>``."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    UTC = "utc"
    LOCALTIME = "localtime"
    TIMEZONE = "timezone"
    VARIABLE = "variable"
    ABSOLUTE = "absolute"


class Basis(enum.Enum):
    """``<clock offset='variable' basis=...>``."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    UTC = "utc"
    LOCALTIME = "localtime"


class TimerName(enum.Enum):
    """``<timer name=...>``."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    PLATFORM = "platform"
    PIT = "pit"
    RTC = "rtc"
    HPET = "hpet"
    TSC = "tsc"
    KVMCLOCK = "kvmclock"
    HYPERVCLOCK = "hypervclock"
    ARMVTIMER = "armvtimer"


class TickPolicy(enum.Enum):
    """``<timer tickpolicy=...>``: what happens to ticks the guest missed."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    DELAY = "delay"
    CATCHUP = "catchup"
    MERGE = "merge"
    DISCARD = "discard"


class Track(enum.Enum):
    """``<timer track=...>``: which clock the rtc/platform timer follows."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    BOOT = "boot"
    GUEST = "guest"
    WALL = "wall"
    REALTIME = "realtime"


class TimerMode(enum.Enum):
    """``<timer name='tsc' mode=...>``."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    AUTO = "auto"
    NATIVE = "native"
    EMULATE = "emulate"
    PARAVIRT = "paravirt"
    SMPSAFE = "smpsafe"


class HyperVFeature(enum.Enum):
    """A member of ``<features><hyperv>`` (libvirt's names; QEMU's ``hv-*`` CPU properties)."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    RELAXED = "relaxed"
    VAPIC = "vapic"
    SPINLOCKS = "spinlocks"
    VPINDEX = "vpindex"
    RUNTIME = "runtime"
    SYNIC = "synic"
    STIMER = "stimer"
    RESET = "reset"
    VENDOR_ID = "vendor_id"
    FREQUENCIES = "frequencies"
    REENLIGHTENMENT = "reenlightenment"
    TLBFLUSH = "tlbflush"
    IPI = "ipi"
    EVMCS = "evmcs"
    AVIC = "avic"
    EMSR_BITMAP = "emsr_bitmap"
    XMM_INPUT = "xmm_input"


@dataclass(frozen=True)
class Catchup:
    """``<catchup threshold slew limit/>`` inside a timer with tickpolicy='catchup'."""

    threshold: int | None = None
    slew: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Timer:
    """One ``<timer>``. ``None`` means the attribute was absent (the hypervisor default)."""

    name: TimerName
    present: bool | None = None
    tickpolicy: TickPolicy | None = None
    catchup: Catchup | None = None
    track: Track | None = None
    frequency: int | None = None
    mode: TimerMode | None = None
    #: source line of the element (not part of equality: two readings of one clock are equal)
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Clock:
    """``<clock>``.

    libvirt turns ``offset='utc|localtime' adjustment='N'`` into a variable offset
    with the matching basis; the reader does the same, so ``adjustment`` is only
    set for ``Offset.VARIABLE``, and ``reset`` records ``adjustment='reset'``.
    """

    offset: Offset = Offset.UTC
    timezone: str | None = None
    adjustment: int | None = None
    reset: bool = False
    basis: Basis | None = None
    start: int | None = None
    timers: tuple[Timer, ...] = ()
    line: int | None = field(default=None, compare=False)

    def timer(self, name: TimerName) -> Timer | None:
        """The timer called ``name``, if the clock has one."""
        for timer in self.timers:
            if timer.name is name:
                return timer
        return None


@dataclass(frozen=True)
class HyperV:
    """``<features><hyperv mode=...>``: the Hyper-V enlightenments a Windows guest is offered.

    The clock's ``hypervclock`` timer is libvirt's spelling of the ``time``
    enlightenment; the others matter to the clock as its dependencies (``stimer``
    needs ``synic``, ``vpindex`` and ``time``) and for migration (``frequencies``,
    ``reenlightenment`` need a fixed TSC frequency).
    """

    #: ``custom`` (the default) or ``passthrough``
    mode: str | None = None
    #: each feature named, with its ``state`` (on: True)
    features: tuple[tuple[HyperVFeature, bool], ...] = ()
    #: ``<stimer><direct state=.../></stimer>``
    stimer_direct: bool | None = None
    #: ``<spinlocks retries=.../>``
    spinlock_retries: int | None = None
    #: ``<vendor_id value=.../>``
    vendor_id: str | None = None
    line: int | None = field(default=None, compare=False)

    def state(self, feature: HyperVFeature) -> bool | None:
        """True/False when the feature is named with state on/off, None when not named."""
        for name, on in self.features:
            if name is feature:
                return on
        return None

    def enabled(self, feature: HyperVFeature) -> bool:
        """True when ``feature`` is switched on."""
        return self.state(feature) is True


@dataclass(frozen=True)
class CPU:
    """The part of ``<cpu>`` that decides the ``-cpu`` model, and its named features."""

    mode: str | None = None
    model: str | None = None
    #: ``<feature policy=... name=.../>`` in document order: (name, policy)
    features: tuple[tuple[str, str], ...] = ()

    def feature_policy(self, name: str) -> str | None:
        """The policy given for feature ``name`` (``require``, ``disable``, ...), or None."""
        for feature, policy in self.features:
            if feature == name:
                return policy
        return None

    def wants(self, name: str) -> bool:
        """True when the guest CPU is asked to have feature ``name`` (force/require/optional)."""
        return self.feature_policy(name) in ("force", "require", "optional")


@dataclass(frozen=True)
class Domain:
    """The facts of a ``<domain>`` that the clock's arguments depend on.

    A bare ``<clock>`` document gives a Domain with only ``clock`` set; the
    translation then takes the architecture from the capabilities.
    """

    clock: Clock
    virt_type: str | None = None
    arch: str | None = None
    machine: str | None = None
    cpu: CPU | None = None
    emulator: str | None = None
    name: str | None = None
    #: ``<features><hyperv>``
    hyperv: HyperV | None = None
    #: the libosinfo OS id from ``<metadata>`` (``http://microsoft.com/win/11``)
    os_id: str | None = None
