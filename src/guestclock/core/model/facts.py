"""The QEMU side of a clock: device and CPU properties, the RTC's start and the environment.

libvirt's XML words changed meaning across releases (the PIT's ``delay`` meant three
different things); these facts did not. A translation lowers a domain to facts
(:mod:`guestclock.core.rules.timers`), then spells each fact in the words one QEMU
understands (:mod:`guestclock.core.rules.spellings`); reading a command line back goes
the other way through the same two tables.

==========================  =====================================================  ==============
fact                        QEMU's own name                                        value
==========================  =====================================================  ==============
``RTC_BASE``                ``-rtc base=``                                         ``utc``, ``localtime``, a date
``RTC_CLOCK``               ``-rtc clock=``                                        ``host``, ``vm``, ``rt``
``RTC_LOST_TICKS``          ``mc146818rtc.lost_tick_policy``                       ``slew``
``PIT_LOST_TICKS``          ``kvm-pit.lost_tick_policy``                           ``delay``, ``discard``
``PIT_TDF``                 qemu-kvm's userspace PIT tick catch-up (``-tdf``)      True
``HPET``                    the machine's ``hpet`` property                        True/False
``CPU_KVMCLOCK``            the CPU's ``kvmclock``                                 True/False
``CPU_HV_TIME``             the CPU's ``hv-time``                                  True
``CPU_TSC_FREQUENCY``       the CPU's ``tsc-frequency``                            Hz
``CPU_KVM_NO_ADJVTIME``     the ARM CPU's ``kvm-no-adjvtime``                      True/False
``CPU_INVTSC``              the CPU's ``invtsc`` feature                           True/False
``CPU_HYPERV``              one of the CPU's other ``hv-*`` enlightenments         (name, value or None)
``TZ``                      QEMU's environment ``TZ``                              a zone
==========================  =====================================================  ==============
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from guestclock.core.model.argv import Origin
from guestclock.core.model.caps import Cap

__all__ = ["Fact", "FactKey", "FactValue"]

#: a fact's value: a word, a number, a switch, or (for CPU_HYPERV) a property and its value
FactValue = str | int | bool | tuple[str, str | None]


class FactKey(enum.Enum):
    """Which QEMU property a :class:`Fact` sets."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    TZ = "TZ"
    RTC_BASE = "rtc.base"
    RTC_CLOCK = "rtc.clock"
    RTC_LOST_TICKS = "mc146818rtc.lost_tick_policy"
    PIT_LOST_TICKS = "kvm-pit.lost_tick_policy"
    PIT_TDF = "pit.tdf"
    HPET = "machine.hpet"
    CPU_KVMCLOCK = "cpu.kvmclock"
    CPU_HV_TIME = "cpu.hv-time"
    CPU_TSC_FREQUENCY = "cpu.tsc-frequency"
    CPU_KVM_NO_ADJVTIME = "cpu.kvm-no-adjvtime"
    CPU_INVTSC = "cpu.invtsc"
    CPU_HYPERV = "cpu.hv"


@dataclass(frozen=True)
class Fact:
    """One QEMU setting a domain asks for, where it came from, and what to say when this QEMU
    has no words for it (libvirt's text, and the capability whose absence is the reason)."""

    key: FactKey
    value: FactValue
    origin: Origin
    refusal: str | None = None
    missing: Cap | None = None
    #: the subject of a refusal (a timer's name, ``clock``)
    subject: str = "clock"
    line: int | None = None
