"""What libvirt's ``<clock>`` means, as a table: one row per timer, plus the offset and the
CPU-borne settings around it.

Each :class:`TimerRule` holds all guestclock knows of one timer: the attributes libvirt
lets it take (parse time, ``virDomainDefPostParseTimer``), the guests that have it and
what libvirt does with it on the others, how it lowers to QEMU facts
(:mod:`guestclock.core.model.facts`: libvirt semantics, never era spelling, which is
:mod:`guestclock.core.rules.spellings`'s job), and what ``verify`` can observe of it.
Adding a timer attribute is one row's change.

Sources: libvirt's ``qemuBuildClockArgStr``, ``qemuBuildClockCommandLine``,
``qemuValidateDomainDefClockTimers`` and ``qemuBuildCpuCommandLine`` (libvirt 9.0), the
2010 design (spec/seed-2010-qemu-clock-timers.txt) for QEMU known only by ``-help``,
spec/RULES.md.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field

from guestclock.core.model.argv import Now, Origin
from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.model.domain import Basis, Domain, Offset, TickPolicy, Timer, TimerName, Track
from guestclock.core.model.facts import Fact, FactKey, FactValue
from guestclock.core.rules.platform import (
    DEFAULT_ARCH,
    INT64_MAX,
    MAX_EPOCH,
    MIN_EPOCH,
    X86_ARCHES,
    default_machine,
)
from guestclock.errors import UnsupportedConfigError

__all__ = [
    "TIMERS",
    "Expectation",
    "Lowering",
    "TimerRule",
    "expectations_of",
    "format_instant",
    "lower",
]


@dataclass(frozen=True)
class Expectation:
    """One thing the XML asked that can be looked for in a running QEMU."""

    #: ``hpet``, ``rtc-date``, ``rtc-policy``, ``rtc-track``, ``pit``, ``cpu:<property>``
    key: str
    #: what the XML asked, for people
    asked: str
    #: the value the running QEMU must show (None: cannot be read back)
    value: object
    origin: str


#: what lowering produces, in document order: a fact, a warning, or a refusal
Event = Fact | str | UnsupportedConfigError


@dataclass
class Lowering:
    """The facts, warnings and refusals of one domain on one QEMU, in the order they arose.

    The context every rule reads: the domain, the capabilities (a rule reads them only to
    decide what libvirt *means* on that QEMU: which default the in-kernel PIT has, whether
    ``-no-kvm-pit-reinjection`` is the only way to ask for a policy), "now", and the arch,
    domain type and machine type the translation settles on.
    """

    domain: Domain
    caps: Capabilities
    now: Now | None
    arch: str = ""
    virt_type: str = ""
    machine: str = ""
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        domain, caps = self.domain, self.caps
        self.arch = domain.arch or caps.arch or DEFAULT_ARCH
        self.virt_type = domain.virt_type or ("kvm" if caps.has(Cap.KVM) else "qemu")
        self.machine = domain.machine or caps.default_machine or default_machine(self.arch) or "none"

    @property
    def x86(self) -> bool:
        """True for the arches that have the PC timers."""
        return self.arch in X86_ARCHES

    @property
    def facts(self) -> list[Fact]:
        """The facts alone."""
        return [event for event in self.events if isinstance(event, Fact)]

    def fact(
        self,
        key: FactKey,
        value: FactValue,
        origin: Origin,
        *,
        refusal: str | None = None,
        missing: Cap | None = None,
        subject: str = "clock",
        line: int | None = None,
    ) -> None:
        """Ask for ``key=value``; ``refusal`` (with the capability ``missing``) is what to say when
        this QEMU has no spelling for it."""
        self.events.append(Fact(key, value, origin, refusal, missing, subject, line))

    def warn(self, text: str) -> None:
        """A warning for the user."""
        self.events.append(text)

    def refuse(self, message: str, *, subject: str, capability: Cap | None = None, line: int | None = None) -> None:
        """A refusal (libvirt's text)."""
        self.events.append(
            UnsupportedConfigError(
                message, subject=subject, capability=capability.value if capability else None, line=line
            )
        )

    def deny(self, timer: Timer, message: str, capability: Cap | None = None) -> None:
        """A refusal about ``timer`` (its name is the subject, its line the place)."""
        self.refuse(message, subject=timer.name.value, capability=capability, line=timer.line)

    def not_for_guest(self, timer: Timer) -> None:
        """libvirt's refusal of a timer this kind of guest does not have."""
        self.deny(
            timer,
            f"Configuring the '{timer.name.value}' timer is not supported for "
            f"virtType={self.virt_type} arch={self.arch} machine={self.machine} guests",
        )

    def timer_fact(
        self,
        timer: Timer,
        origin: Origin,
        key: FactKey,
        value: FactValue,
        *,
        refusal: str | None = None,
        missing: Cap | None = None,
    ) -> None:
        """:meth:`fact` about ``timer``."""
        self.fact(key, value, origin, refusal=refusal, missing=missing, subject=timer.name.value, line=timer.line)


def format_instant(epoch: int) -> str:
    """``-rtc base=`` / ``-startdate`` form of an instant: ``YYYY-MM-DDTHH:MM:SS`` (UTC)."""
    m = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=epoch)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"


# -- the offset ---------------------------------------------------------------------


def _base_instant(low: Lowering) -> int | None:
    """The guest's RTC start as seconds since the epoch, for variable/absolute offsets."""
    clock = low.domain.clock
    if clock.offset is Offset.ABSOLUTE:
        assert clock.start is not None
        if clock.start > MAX_EPOCH:
            low.refuse(
                f"The maximum 'start' value for <clock offset='absolute'> is {MAX_EPOCH}",
                subject="clock",
                line=clock.line,
            )
            return None
        return clock.start
    if low.now is None:
        low.refuse(
            "offset='variable' needs the current time to compute the RTC base; pass 'now'",
            subject="clock",
            line=clock.line,
        )
        return None
    adjustment = 0 if clock.reset or clock.adjustment is None else clock.adjustment
    if clock.basis is Basis.LOCALTIME:
        # libvirt adds the host's current UTC offset, then treats it as utc
        adjustment += low.now.utc_offset
    instant = low.now.epoch + adjustment
    if not MIN_EPOCH <= instant <= MAX_EPOCH:
        low.refuse(
            f"clock adjustment '{clock.adjustment}' puts the guest's clock outside the years 1 to 9999",
            subject="clock",
            line=clock.line,
        )
        return None
    return instant


def _lower_offset(low: Lowering, origin: Origin) -> None:
    """``<clock offset=...>``: the RTC's start (``-rtc base=``) and, for a zone, ``TZ``."""
    clock = low.domain.clock
    if clock.offset is Offset.TIMEZONE:
        assert clock.timezone is not None
        low.fact(FactKey.TZ, clock.timezone, origin)
    refusal = f"unsupported clock offset '{clock.offset.value}'"
    if clock.offset is Offset.UTC:
        low.fact(FactKey.RTC_BASE, "utc", origin, line=clock.line)
    elif clock.offset in (Offset.LOCALTIME, Offset.TIMEZONE):
        # the zone reaches the RTC through TZ: QEMU's localtime is the zone's
        low.fact(FactKey.RTC_BASE, "localtime", origin, refusal=refusal, missing=Cap.RTC, line=clock.line)
    else:
        instant = _base_instant(low)
        if instant is not None:
            low.fact(
                FactKey.RTC_BASE, format_instant(instant), origin, refusal=refusal, missing=Cap.RTC, line=clock.line
            )


# -- the timers ---------------------------------------------------------------------

_TRACK_CLOCK = {Track.GUEST: "vm", Track.WALL: "host", Track.REALTIME: "rt"}


def _lower_rtc(timer: Timer, origin: Origin, low: Lowering) -> None:
    if timer.present is False:
        low.warn(f"{origin}: the RTC cannot be removed from a QEMU guest; present='no' is ignored")
    has_rtc = low.caps.has(Cap.RTC)
    if timer.track is Track.BOOT:
        low.deny(timer, "unsupported rtc timer track 'boot'", None if has_rtc else Cap.RTC)
    elif timer.track is not None:
        low.timer_fact(
            timer,
            origin,
            FactKey.RTC_CLOCK,
            _TRACK_CLOCK[timer.track],
            refusal=f"unsupported rtc timer track '{timer.track.value}'",
            missing=Cap.RTC_CLOCK_RT if has_rtc else Cap.RTC,
        )
    policy = timer.tickpolicy
    if policy is TickPolicy.CATCHUP:
        # QEMU's RTC re-injects lost interrupts with lost_tick_policy=slew
        low.timer_fact(
            timer,
            origin,
            FactKey.RTC_LOST_TICKS,
            "slew",
            refusal="unsupported rtc tickpolicy 'catchup'",
            missing=Cap.RTC_TD_HACK,
        )
    elif policy in (TickPolicy.MERGE, TickPolicy.DISCARD):
        assert policy is not None
        # libvirt's -rtc era says "timer tickpolicy", the 2010 design "tickpolicy"
        word = "rtc timer tickpolicy" if has_rtc else "rtc tickpolicy"
        low.deny(timer, f"unsupported {word} '{policy.value}'")


def _lower_pit(timer: Timer, origin: Origin, low: Lowering) -> None:
    policy = timer.tickpolicy
    has_global = low.caps.has(Cap.KVM_PIT_TICK_POLICY)
    no_reinjection = low.caps.has(Cap.NO_KVM_PIT)
    if policy is TickPolicy.MERGE:
        low.deny(timer, f"unsupported pit tickpolicy '{policy.value}'")
    elif policy is None or policy is TickPolicy.DELAY:
        if has_global:
            low.timer_fact(timer, origin, FactKey.PIT_LOST_TICKS, "delay")
        elif no_reinjection:
            # the 2010 design maps delay to -no-kvm-pit-reinjection on qemu-kvm
            low.timer_fact(timer, origin, FactKey.PIT_LOST_TICKS, "discard")
    elif policy is TickPolicy.CATCHUP:
        if has_global or no_reinjection:
            return  # the in-kernel PIT re-injects lost ticks by default
        if low.caps.has(Cap.TDF):
            low.timer_fact(timer, origin, FactKey.PIT_TDF, True)  # userspace PIT catch-up
        else:
            low.deny(timer, "unsupported pit tickpolicy 'catchup'", Cap.KVM_PIT_TICK_POLICY)
    else:  # discard
        low.timer_fact(
            timer,
            origin,
            FactKey.PIT_LOST_TICKS,
            "discard",
            refusal="unsupported pit tickpolicy 'discard'",
            missing=Cap.KVM_PIT_TICK_POLICY,
        )


def _lower_hpet(timer: Timer, origin: Origin, low: Lowering) -> None:
    if timer.tickpolicy is not None:
        low.warn(f"{origin}: QEMU has no tick policy for the HPET; tickpolicy is ignored")
    if timer.present is None:
        return
    if not low.x86:
        if timer.present:
            low.deny(timer, "hpet timer is not supported by this architecture")
        return
    # the 2010 design says fail where no HPET can be had; its code forgot to
    low.timer_fact(
        timer, origin, FactKey.HPET, timer.present, refusal="hpet timer is not supported", missing=Cap.NO_HPET
    )


def _lower_kvmclock(timer: Timer, origin: Origin, low: Lowering) -> None:
    if timer.present is not None:
        # libvirt emits the CPU feature without asking the QEMU
        low.timer_fact(timer, origin, FactKey.CPU_KVMCLOCK, timer.present)


def _lower_hypervclock(timer: Timer, origin: Origin, low: Lowering) -> None:
    if timer.present is True:
        low.timer_fact(
            timer,
            origin,
            FactKey.CPU_HV_TIME,
            True,
            refusal="Configuring the 'hypervclock' timer is not supported with this QEMU binary",
            missing=Cap.CPU_HV_TIME,
        )


def _lower_tsc(timer: Timer, origin: Origin, low: Lowering) -> None:
    if not (low.caps.has(Cap.CPU_TSC_FREQUENCY) or low.caps.has(Cap.CPU_TSC_FREQ_LEGACY)):
        # the 2010 design: QEMU of that era has no tsc timer at all
        low.deny(timer, "unsupported timer type (name) 'tsc'", Cap.CPU_TSC_FREQUENCY)
        return
    if timer.frequency is not None and timer.frequency > INT64_MAX:
        # libvirt reads frequency as an unsigned 64-bit number and passes it on; QEMU's
        # tsc-frequency is an int64 and QEMU 7.2 exits with "Parameter 'tsc-frequency'
        # expects int64" (found by starting generated translations in QEMU)
        low.deny(timer, f"tsc frequency '{timer.frequency}' is beyond QEMU's largest tsc-frequency, {INT64_MAX}")
    elif timer.frequency is not None:
        low.timer_fact(timer, origin, FactKey.CPU_TSC_FREQUENCY, timer.frequency)
    if timer.mode is not None or timer.present is not None:
        low.warn(f"{origin}: QEMU has no option for the TSC's mode or presence; only frequency is applied")


def _lower_armvtimer(timer: Timer, origin: Origin, low: Lowering) -> None:
    name = timer.name.value
    if not low.caps.has(Cap.CPU_KVM_NO_ADJVTIME):
        low.deny(
            timer, f"Configuring the '{name}' timer is not supported with this QEMU binary", Cap.CPU_KVM_NO_ADJVTIME
        )
        return
    policy = timer.tickpolicy
    if timer.present is False:
        low.deny(timer, f"The '{name}' timer can't be disabled")
    elif policy in (TickPolicy.CATCHUP, TickPolicy.MERGE):
        assert policy is not None
        low.deny(timer, f"The '{name}' timer does not support tickpolicy '{policy.value}'")
    elif policy is not None:
        # delay: the guest's virtual counter keeps counting while the VM is stopped
        low.timer_fact(timer, origin, FactKey.CPU_KVM_NO_ADJVTIME, policy is TickPolicy.DISCARD)


def _lower_platform(timer: Timer, origin: Origin, low: Lowering) -> None:
    low.deny(timer, "unsupported timer type (name) 'platform'")


# -- what verify can see ------------------------------------------------------------


def _present(timer: Timer) -> str:
    return f"present='{'yes' if timer.present else 'no'}'"


def _expect_rtc(timer: Timer, origin: str) -> list[Expectation]:
    found = []
    if timer.tickpolicy is not None:
        policy = "slew" if timer.tickpolicy is TickPolicy.CATCHUP else "discard"
        found.append(Expectation("rtc-policy", f"tickpolicy='{timer.tickpolicy.value}'", policy, origin))
    if timer.track is not None:
        found.append(Expectation("rtc-track", f"track='{timer.track.value}'", None, origin))
    return found


def _expect_pit(timer: Timer, origin: str) -> list[Expectation]:
    if timer.tickpolicy is None and timer.present is None:
        return []
    policy = "discard" if timer.tickpolicy is TickPolicy.DISCARD else "delay"
    asked = f"tickpolicy='{timer.tickpolicy.value}'" if timer.tickpolicy else "default policy"
    return [Expectation("pit", asked, policy, origin)]


def _expect_hpet(timer: Timer, origin: str) -> list[Expectation]:
    return [] if timer.present is None else [Expectation("hpet", _present(timer), timer.present, origin)]


def _expect_kvmclock(timer: Timer, origin: str) -> list[Expectation]:
    return [] if timer.present is None else [Expectation("cpu:kvmclock", _present(timer), timer.present, origin)]


def _expect_hypervclock(timer: Timer, origin: str) -> list[Expectation]:
    return [Expectation("cpu:hv-time", "present='yes'", True, origin)] if timer.present is True else []


def _expect_tsc(timer: Timer, origin: str) -> list[Expectation]:
    if timer.frequency is None:
        return []
    return [Expectation("cpu:tsc-frequency", f"frequency='{timer.frequency}'", timer.frequency, origin)]


def _nothing(timer: Timer, origin: str) -> list[Expectation]:
    return []


# -- the table ----------------------------------------------------------------------


def _everywhere(low: Lowering) -> bool:
    return True


def _on_x86(low: Lowering) -> bool:
    return low.x86


def _on_arm_kvm_virt(low: Lowering) -> bool:
    machine = low.machine
    return low.arch == "aarch64" and low.virt_type == "kvm" and (machine == "virt" or machine.startswith("virt-"))


@dataclass(frozen=True)
class TimerRule:
    """Everything guestclock knows of one ``<timer name=...>``."""

    name: TimerName
    #: the attributes besides ``name`` and ``present`` libvirt lets this timer take, in the
    #: order libvirt checks them (``catchup`` is a child, allowed with tickpolicy='catchup')
    takes: frozenset[str]
    #: the guests that have this timer
    guest: Callable[[Lowering], bool]
    #: on another guest: True when libvirt refuses the setting (else libvirt ignores it)
    refused_elsewhere: Callable[[Timer], bool]
    lower: Callable[[Timer, Origin, Lowering], None]
    #: what ``verify`` can look for in a running QEMU (on a guest that has the timer)
    expect: Callable[[Timer, str], list[Expectation]] = _nothing
    #: this rule checks the guest itself (its refusal text differs from libvirt's usual one)
    checks_guest: bool = False


TIMERS: dict[TimerName, TimerRule] = {
    rule.name: rule
    for rule in (
        TimerRule(
            TimerName.RTC,
            frozenset({"tickpolicy", "track"}),
            _everywhere,
            lambda t: False,
            _lower_rtc,
            _expect_rtc,
        ),
        TimerRule(
            TimerName.PIT,
            frozenset({"tickpolicy"}),
            _on_x86,
            lambda t: t.present is True or t.tickpolicy is not None,
            _lower_pit,
            _expect_pit,
        ),
        TimerRule(
            TimerName.HPET,
            frozenset({"tickpolicy"}),
            _everywhere,
            lambda t: False,
            _lower_hpet,
            _expect_hpet,
            checks_guest=True,
        ),
        TimerRule(
            TimerName.KVMCLOCK,
            frozenset(),
            _on_x86,
            lambda t: t.present is not None,
            _lower_kvmclock,
            _expect_kvmclock,
        ),
        TimerRule(
            TimerName.HYPERVCLOCK,
            frozenset(),
            _on_x86,
            lambda t: t.present is True,
            _lower_hypervclock,
            _expect_hypervclock,
        ),
        TimerRule(
            TimerName.TSC,
            frozenset({"tickpolicy", "frequency", "mode"}),
            _on_x86,
            lambda t: t.present is True or t.frequency is not None,
            _lower_tsc,
            _expect_tsc,
        ),
        TimerRule(
            TimerName.ARMVTIMER,
            frozenset({"tickpolicy"}),
            _on_arm_kvm_virt,
            lambda t: True,
            _lower_armvtimer,
        ),
        TimerRule(
            TimerName.PLATFORM,
            frozenset({"tickpolicy", "track"}),
            _everywhere,
            lambda t: False,
            _lower_platform,
        ),
    )
}


# -- the CPU-borne settings beside the clock ----------------------------------------


def _lower_hyperv(low: Lowering) -> None:
    """``<features><hyperv>``: every enlightenment switched on, in libvirt's order (libvirt emits
    them in the same ``-cpu`` word as the clock's ``hv-time``)."""
    from guestclock.core.rules import hyperv as hv

    features = low.domain.hyperv
    if features is None:
        return
    origin = Origin("<features><hyperv>", features.line)

    def ask(name: str, value: str | None, libvirt: str, cap: Cap) -> None:
        low.fact(
            FactKey.CPU_HYPERV,
            (name, value),
            origin,
            refusal=f"Configuring the Hyper-V '{libvirt}' enlightenment is not supported with this QEMU binary",
            missing=cap,
            subject=libvirt,
            line=features.line,
        )

    if features.mode == "passthrough":
        ask("passthrough", None, "passthrough", Cap.CPU_HV_PASSTHROUGH)
    for info, value in hv.enabled_properties(features):
        ask(info.enlightenment.value, value, info.refusal_name, info.modern_cap)
    hypervclock = low.domain.clock.timer(TimerName.HYPERVCLOCK)
    for warning in hv.dependency_warnings(
        features, hypervclock=hypervclock is not None and hypervclock.present is True, virt_type=low.virt_type
    ):
        low.warn(warning)


#: CPU features beside the clock that decide how the guest keeps time
_CLOCK_CPU_FEATURES = {"invtsc": FactKey.CPU_INVTSC}


def _lower_cpu_features(low: Lowering) -> None:
    """``<cpu><feature name='invtsc'>``: the invariant TSC (it decides whether a guest can migrate)."""
    cpu = low.domain.cpu
    if cpu is None:
        return
    for name, policy in cpu.features:
        key = _CLOCK_CPU_FEATURES.get(name)
        if key is not None:
            on = policy in ("force", "require", "optional")
            low.fact(key, on, Origin(f"<cpu><feature policy='{policy}' name='{name}'/>"))


def lower(domain: Domain, caps: Capabilities, now: Now | None = None) -> Lowering:
    """The facts (with every warning and refusal, in document order) that ``domain``'s clock
    asks of the QEMU ``caps`` describes."""
    low = Lowering(domain, caps, now)
    clock = domain.clock
    _lower_offset(low, Origin(source=clock, line=clock.line))
    for timer in clock.timers:
        rule = TIMERS[timer.name]
        origin = Origin(source=timer, line=timer.line)
        if rule.checks_guest or rule.guest(low):
            rule.lower(timer, origin, low)
        elif rule.refused_elsewhere(timer):
            low.not_for_guest(timer)
    if low.x86:
        _lower_hyperv(low)
        _lower_cpu_features(low)
    return low


def expectations_of(domain: Domain, arch: str) -> list[Expectation]:
    """What ``domain``'s clock asks of the timer devices, as values a running QEMU can show."""
    found = [Expectation("rtc-date", f"offset='{domain.clock.offset.value}'", None, "<clock>")]
    x86 = arch in X86_ARCHES
    for timer in domain.clock.timers:
        if timer.name is TimerName.RTC or x86:
            found += TIMERS[timer.name].expect(timer, f"<timer name='{timer.name.value}'>")
    return found
