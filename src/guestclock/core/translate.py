"""Translate a domain's ``<clock>`` into QEMU arguments for one QEMU: pure, no I/O.

The rules follow libvirt's QEMU driver (``qemuBuildClockArgStr``,
``qemuBuildClockCommandLine``, ``qemuValidateDomainDefClockTimers`` and the CPU
timer properties of ``qemuBuildCpuCommandLine``) for QEMU that answers QMP, and
the 2010 design (spec/seed-2010-qemu-clock-timers.txt) for QEMU whose abilities
show only in ``-help``. Every rule names the capability it reads; every emitted
word records the XML element it came from; every refusal names the capability
whose absence caused it.

"now" is a parameter (:class:`Now`), never read here.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

from guestclock.core.model.argv import Now, Option, Origin, Part, Translation
from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.model.domain import (
    Basis,
    Domain,
    Offset,
    TickPolicy,
    Timer,
    TimerName,
    Track,
)
from guestclock.core.rules.platform import INT64_MAX, MAX_EPOCH, MIN_EPOCH, X86_ARCHES, default_cpu_model, is_name
from guestclock.errors import UnsupportedConfigError, shown

__all__ = ["Now", "Option", "Origin", "Part", "Translation", "translate"]

MAX_START = MAX_EPOCH
_MIN_EPOCH = MIN_EPOCH
_QEMU_INT64_MAX = INT64_MAX


def _format_instant(epoch: int) -> str:
    m = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=epoch)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"


class _Builder:
    """Collects options, environment, warnings and refusals during one translation."""

    def __init__(self, domain: Domain, caps: Capabilities, now: Now | None) -> None:
        self.domain = domain
        self.caps = caps
        self.now = now
        self.clock = domain.clock
        self.clock_origin = Origin(source=domain.clock, line=domain.clock.line)
        self.arch = domain.arch or caps.arch or "x86_64"
        self.virt_type = domain.virt_type or ("kvm" if caps.has(Cap.KVM) else "qemu")
        self.machine = (
            domain.machine
            or caps.default_machine
            or ("pc" if self.arch in X86_ARCHES else "virt" if self.arch == "aarch64" else "none")
        )
        self.x86 = self.arch in X86_ARCHES
        self.rtc_parts: list[Part] = []
        self.machine_parts: list[Part] = []
        self.cpu_parts: list[Part] = []
        self.options: list[Option] = []
        self.late_options: list[Option] = []
        self.env: list[tuple[str, str, Origin]] = []
        self.warnings: list[str] = list(caps.notes)
        self.refusals: list[UnsupportedConfigError] = []

    # -- helpers -------------------------------------------------------------
    def refuse(self, message: str, *, subject: str, capability: Cap | None = None, line: int | None = None) -> None:
        self.refusals.append(
            UnsupportedConfigError(
                message,
                subject=subject,
                capability=capability.value if capability else None,
                line=line,
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

    def flag(self, name: str, origin: Origin, capability: Cap | None, *, late: bool = True) -> None:
        option = Option(name, origin=origin, capability=capability)
        (self.late_options if late else self.options).append(option)

    # -- offset --------------------------------------------------------------
    def base_instant(self) -> int | None:
        """The guest's RTC start as seconds since the epoch, for variable/absolute offsets."""
        clock = self.clock
        if clock.offset is Offset.ABSOLUTE:
            assert clock.start is not None
            if clock.start > MAX_START:
                self.refuse(
                    f"The maximum 'start' value for <clock offset='absolute'> is {MAX_START}",
                    subject="clock",
                    line=clock.line,
                )
                return None
            return clock.start
        if self.now is None:
            self.refuse(
                "offset='variable' needs the current time to compute the RTC base; pass 'now'",
                subject="clock",
                line=clock.line,
            )
            return None
        adjustment = 0 if clock.reset or clock.adjustment is None else clock.adjustment
        if clock.basis is Basis.LOCALTIME:
            # libvirt adds the host's current UTC offset, then treats it as utc
            adjustment += self.now.utc_offset
        instant = self.now.epoch + adjustment
        if not _MIN_EPOCH <= instant <= MAX_START:
            self.refuse(
                f"clock adjustment '{clock.adjustment}' puts the guest's clock outside the years 1 to 9999",
                subject="clock",
                line=clock.line,
            )
            return None
        return instant

    def offset(self) -> None:
        clock = self.clock
        origin = self.clock_origin
        if clock.offset is Offset.TIMEZONE:
            assert clock.timezone is not None
            self.env.append(("TZ", clock.timezone, origin))
        if self.caps.has(Cap.RTC):
            # rule: -rtc base= needs Cap.RTC (QEMU 0.12+)
            if clock.offset is Offset.UTC:
                base = "utc"
            elif clock.offset in (Offset.LOCALTIME, Offset.TIMEZONE):
                base = "localtime"
            else:
                instant = self.base_instant()
                if instant is None:
                    return
                base = _format_instant(instant)
            self.rtc_parts.append(Part(f"base={base}", origin, Cap.RTC))
            return
        # QEMU without -rtc (seed era): -localtime, -startdate, or nothing for utc
        if clock.offset is Offset.UTC:
            return
        local = clock.offset in (Offset.LOCALTIME, Offset.TIMEZONE)
        if not self.caps.has(Cap.LOCALTIME if local else Cap.STARTDATE):
            self.refuse(
                f"unsupported clock offset '{clock.offset.value}'",
                subject="clock",
                capability=Cap.RTC,
                line=clock.line,
            )
        elif local:
            self.flag("-localtime", origin, Cap.LOCALTIME, late=False)
        else:
            self.startdate(origin)

    def startdate(self, origin: Origin) -> None:
        instant = self.base_instant()
        if instant is not None:
            self.options.append(Option("-startdate", (Part(_format_instant(instant), origin, Cap.STARTDATE),)))

    # -- timers --------------------------------------------------------------
    def rtc(self, timer: Timer, origin: Origin) -> None:
        if timer.present is False:
            self.warnings.append(f"{origin}: the RTC cannot be removed from a QEMU guest; present='no' is ignored")
        policy = timer.tickpolicy
        if self.caps.has(Cap.RTC):
            # rule: clock= and driftfix= ride on -rtc (Cap.RTC); clock=rt needs Cap.RTC_CLOCK_RT
            if timer.track is Track.BOOT:
                self.deny(timer, f"unsupported rtc timer track '{timer.track.value}'")
            elif timer.track is Track.GUEST:
                self.rtc_parts.append(Part("clock=vm", origin, Cap.RTC))
            elif timer.track is Track.WALL:
                self.rtc_parts.append(Part("clock=host", origin, Cap.RTC))
            elif timer.track is Track.REALTIME:
                if self.caps.has(Cap.RTC_CLOCK_RT):
                    self.rtc_parts.append(Part("clock=rt", origin, Cap.RTC_CLOCK_RT))
                else:
                    self.deny(timer, f"unsupported rtc timer track '{timer.track.value}'", Cap.RTC_CLOCK_RT)
            if policy is TickPolicy.CATCHUP:
                self.rtc_parts.append(Part("driftfix=slew", origin, Cap.RTC))
            elif policy in (TickPolicy.MERGE, TickPolicy.DISCARD):
                self.deny(timer, f"unsupported rtc timer tickpolicy '{policy.value}'")
            return
        # no -rtc: the track cannot be expressed at all
        if timer.track is not None:
            self.deny(timer, f"unsupported rtc timer track '{timer.track.value}'", Cap.RTC)
        if policy is None or policy is TickPolicy.DELAY:
            return
        if self.caps.has(Cap.RTC_TD_HACK) and policy is TickPolicy.CATCHUP:
            # rule: -rtc-td-hack needs Cap.RTC_TD_HACK
            self.flag("-rtc-td-hack", origin, Cap.RTC_TD_HACK)
            return
        self.deny(
            timer,
            f"unsupported rtc tickpolicy '{policy.value}'",
            Cap.RTC_TD_HACK if policy is TickPolicy.CATCHUP else None,
        )

    def pit(self, timer: Timer, origin: Origin) -> None:
        if not self.x86:
            if timer.present is True or timer.tickpolicy is not None:
                self.not_for_guest(timer)
            return
        policy = timer.tickpolicy
        has_global = self.caps.has(Cap.KVM_PIT_TICK_POLICY)
        if policy is TickPolicy.MERGE:
            self.deny(timer, f"unsupported pit tickpolicy '{policy.value}'")
            return
        if policy is None or policy is TickPolicy.DELAY:
            if has_global:
                # rule: -global kvm-pit.lost_tick_policy needs Cap.KVM_PIT_TICK_POLICY
                self.pit_global("delay", origin)
            elif self.caps.has(Cap.NO_KVM_PIT):
                # the 2010 design maps delay to -no-kvm-pit-reinjection on qemu-kvm
                self.flag("-no-kvm-pit-reinjection", origin, Cap.NO_KVM_PIT)
            return
        if policy is TickPolicy.CATCHUP:
            if has_global or self.caps.has(Cap.NO_KVM_PIT):
                return  # the in-kernel PIT re-injects lost ticks by default
            if self.caps.has(Cap.TDF):
                # rule: -tdf (userspace PIT catch-up) needs Cap.TDF
                self.flag("-tdf", origin, Cap.TDF)
                return
            self.deny(timer, f"unsupported pit tickpolicy '{policy.value}'", Cap.KVM_PIT_TICK_POLICY)
            return
        # discard
        if has_global:
            self.pit_global("discard", origin)
        elif self.caps.has(Cap.NO_KVM_PIT):
            # -no-kvm-pit-reinjection is what QEMU 1.3 re-spelled lost_tick_policy=discard
            self.flag("-no-kvm-pit-reinjection", origin, Cap.NO_KVM_PIT)
        else:
            self.deny(timer, f"unsupported pit tickpolicy '{policy.value}'", Cap.KVM_PIT_TICK_POLICY)

    def pit_global(self, policy: str, origin: Origin) -> None:
        self.late_options.append(
            Option(
                "-global",
                (Part(f"kvm-pit.lost_tick_policy={policy}", origin, Cap.KVM_PIT_TICK_POLICY),),
            )
        )
        if self.virt_type != "kvm":
            self.warnings.append(
                f"{origin}: -global kvm-pit.lost_tick_policy={policy} has no effect for a "
                f"type='{self.virt_type}' domain: without KVM the PIT is isa-pit, which QEMU "
                "does not configure through kvm-pit"
            )

    def hpet(self, timer: Timer, origin: Origin) -> None:
        if timer.tickpolicy is not None:
            self.warnings.append(f"{origin}: QEMU has no tick policy for the HPET; tickpolicy is ignored")
        if timer.present is None:
            return
        if not self.x86:
            if timer.present:
                self.deny(timer, "hpet timer is not supported by this architecture")
            return
        if self.caps.machine_has_hpet(self.machine):
            # rule: -machine TYPE,hpet= needs Cap.MACHINE_HPET on a pc/q35 machine type
            self.machine_parts.append(Part(f"hpet={'on' if timer.present else 'off'}", origin, Cap.MACHINE_HPET))
            return
        if self.caps.has(Cap.NO_HPET):
            # rule: -no-hpet needs Cap.NO_HPET; with it, an HPET is there by default
            if not timer.present:
                self.flag("-no-hpet", origin, Cap.NO_HPET)
            return
        if timer.present:
            # the 2010 design says fail here; its code forgot to
            self.deny(timer, "hpet timer is not supported", Cap.NO_HPET)
        # present='no' on a QEMU without an HPET: nothing to switch off

    def cpu_prop(self, prop: str, on: bool, origin: Origin, capability: Cap | None) -> None:
        if self.caps.has(Cap.CPU_FEATURE_PROPS):
            text = f"{prop}={'on' if on else 'off'}"
        else:
            text = f"{'+' if on else '-'}{prop}"
        self.cpu_parts.append(Part(text, origin, capability))

    def kvmclock(self, timer: Timer, origin: Origin) -> None:
        if timer.present is None:
            return
        if not self.x86:
            self.not_for_guest(timer)
            return
        # rule: the kvmclock CPU feature (x86); libvirt emits it unconditionally
        self.cpu_prop("kvmclock", timer.present, origin, Cap.CPU_KVMCLOCK)

    def hypervclock(self, timer: Timer, origin: Origin) -> None:
        if timer.present is not True:
            return
        if not self.x86:
            self.not_for_guest(timer)
            return
        if self.caps.has(Cap.CPU_HV_TIME):
            # rule: -cpu ...,hv-time=on needs Cap.CPU_HV_TIME (QEMU 4.1+)
            self.cpu_parts.append(Part("hv-time=on", origin, Cap.CPU_HV_TIME))
        elif self.caps.has(Cap.CPU_HV_TIME_LEGACY):
            self.cpu_parts.append(Part("hv_time", origin, Cap.CPU_HV_TIME_LEGACY))
        else:
            self.deny(
                timer, "Configuring the 'hypervclock' timer is not supported with this QEMU binary", Cap.CPU_HV_TIME
            )
            return
        if self.virt_type != "kvm":
            self.warnings.append(f"{origin}: hv-time needs KVM; QEMU refuses Hyper-V enlightenments under TCG")

    def tsc(self, timer: Timer, origin: Origin) -> None:
        if not self.x86:
            if timer.present is True or timer.frequency is not None:
                self.not_for_guest(timer)
            return
        if not (self.caps.has(Cap.CPU_TSC_FREQUENCY) or self.caps.has(Cap.CPU_TSC_FREQ_LEGACY)):
            # the 2010 design: QEMU of that era has no tsc timer at all
            self.deny(timer, "unsupported timer type (name) 'tsc'", Cap.CPU_TSC_FREQUENCY)
            return
        if timer.frequency is not None and timer.frequency > _QEMU_INT64_MAX:
            # libvirt reads frequency as an unsigned 64-bit number and passes it on; QEMU's
            # tsc-frequency is an int64 and QEMU 7.2 exits with "Parameter 'tsc-frequency'
            # expects int64" (found by starting generated translations in QEMU)
            self.deny(
                timer, f"tsc frequency '{timer.frequency}' is beyond QEMU's largest tsc-frequency, {_QEMU_INT64_MAX}"
            )
        elif timer.frequency is not None:
            if self.caps.has(Cap.CPU_TSC_FREQUENCY):
                # rule: -cpu ...,tsc-frequency=N needs Cap.CPU_TSC_FREQUENCY
                self.cpu_parts.append(Part(f"tsc-frequency={timer.frequency}", origin, Cap.CPU_TSC_FREQUENCY))
            else:
                self.cpu_parts.append(Part(f"tsc_freq={timer.frequency}", origin, Cap.CPU_TSC_FREQ_LEGACY))
        if timer.mode is not None or timer.present is not None:
            self.warnings.append(
                f"{origin}: QEMU has no option for the TSC's mode or presence; only frequency is applied"
            )

    def armvtimer(self, timer: Timer, origin: Origin) -> None:
        name = timer.name.value
        if not (
            self.arch == "aarch64"
            and self.virt_type == "kvm"
            and (self.machine == "virt" or self.machine.startswith("virt-"))
        ):
            self.not_for_guest(timer)
            return
        if not self.caps.has(Cap.CPU_KVM_NO_ADJVTIME):
            self.deny(
                timer, f"Configuring the '{name}' timer is not supported with this QEMU binary", Cap.CPU_KVM_NO_ADJVTIME
            )
            return
        if timer.present is False:
            self.deny(timer, f"The '{name}' timer can't be disabled")
            return
        policy = timer.tickpolicy
        if policy in (TickPolicy.CATCHUP, TickPolicy.MERGE):
            assert policy is not None
            self.deny(timer, f"The '{name}' timer does not support tickpolicy '{policy.value}'")
        elif policy is TickPolicy.DELAY:
            # rule: -cpu ...,kvm-no-adjvtime needs Cap.CPU_KVM_NO_ADJVTIME (ARM, QEMU 5.0+)
            self.cpu_parts.append(Part("kvm-no-adjvtime=off", origin, Cap.CPU_KVM_NO_ADJVTIME))
        elif policy is TickPolicy.DISCARD:
            self.cpu_parts.append(Part("kvm-no-adjvtime=on", origin, Cap.CPU_KVM_NO_ADJVTIME))

    def platform(self, timer: Timer, origin: Origin) -> None:
        self.deny(timer, "unsupported timer type (name) 'platform'")

    # -- assembly ------------------------------------------------------------
    def cpu_model(self) -> Part:
        cpu = self.domain.cpu
        if cpu is not None:
            if cpu.mode == "host-passthrough":
                return Part("host", Origin("<cpu mode='host-passthrough'>"))
            if cpu.mode == "maximum":
                return Part("max", Origin("<cpu mode='maximum'>"))
            if cpu.mode == "host-model":
                self.warnings.append(
                    "<cpu mode='host-model'> names no model QEMU knows without the host's CPU "
                    "description; the clock's CPU properties are attached to -cpu host"
                )
                return Part("host", Origin("<cpu mode='host-model'>"))
            if cpu.model is not None:
                return Part(cpu.model, Origin(f"<cpu><model>{cpu.model}</model>"))
        model = default_cpu_model(self.arch, self.virt_type)
        return Part(model, Origin(f"default CPU model for arch {self.arch}"))

    def check_words(self, cpu_head: Part | None) -> None:
        """Refuse any value that would change the meaning of the argv or the environment.

        Every word is built from enums, integers and these checked names, so this
        only fires for a Domain or Capabilities built without the readers' checks.
        """
        named = []
        if self.machine_parts:
            named.append(("machine type", self.machine))
        if cpu_head is not None:
            named.append(("CPU model", cpu_head.text))
        for kind, value in named:
            if not is_name(value):
                self.refuse(
                    f"{kind} '{shown(value)}' cannot be passed to QEMU: expected letters, digits and "
                    "'._+-' only (a ',' or '=' would change the meaning of the option)",
                    subject=kind,
                )
        for _name, value, _origin in self.env:
            if not value or not value.isprintable() or any(ch.isspace() for ch in value):
                self.refuse(
                    f"time zone '{shown(value)}' cannot be passed to QEMU: expected a zone name "
                    "without blanks or control characters",
                    subject="clock",
                    line=self.clock.line,
                )

    def run(self) -> Translation:
        clock = self.clock
        if self.caps.arch is not None and self.domain.arch is not None:
            compatible = self.domain.arch == self.caps.arch or (
                self.domain.arch == "i686" and self.caps.arch == "x86_64"
            )
            if not compatible:
                self.refuse(
                    f"this QEMU emulates arch {self.caps.arch}, not the domain's arch {self.domain.arch}",
                    subject="arch",
                )
        machine = self.domain.machine
        if machine is not None and self.caps.machines is not None and machine not in self.caps.machines:
            # not a clock setting, but the -machine word carries it, and a guest moved to a
            # QEMU without its versioned machine type does not start at all
            self.warnings.append(
                f"this QEMU has no machine type '{machine}' (<type machine='{machine}'>); "
                "QEMU will refuse to start the guest"
            )
        self.offset()
        handlers = _HANDLERS
        for timer in clock.timers:
            handlers[timer.name](self, timer, Origin(source=timer, line=timer.line))
        cpu_head = self.cpu_model() if self.cpu_parts else None
        self.check_words(cpu_head)
        if self.refusals:
            first = self.refusals[0]
            first.refusals = tuple(self.refusals)
            raise first
        head: list[Option] = []
        if self.machine_parts:
            machine_origin = Origin(
                f"<type machine='{self.domain.machine}'>" if self.domain.machine else "default machine type"
            )
            head.append(Option("-machine", (Part(self.machine, machine_origin), *self.machine_parts)))
        if cpu_head is not None:
            head.append(Option("-cpu", (cpu_head, *self.cpu_parts)))
        if self.rtc_parts:
            head.append(Option("-rtc", tuple(self.rtc_parts)))
        return Translation(
            options=(*head, *self.options, *self.late_options),
            env=tuple(self.env),
            warnings=tuple(dict.fromkeys(self.warnings)),
            caps=self.caps,
        )


#: the rule for each timer (a table built once, not per translation)
_HANDLERS: dict[TimerName, Callable[[_Builder, Timer, Origin], None]] = {
    TimerName.RTC: _Builder.rtc,
    TimerName.PIT: _Builder.pit,
    TimerName.HPET: _Builder.hpet,
    TimerName.KVMCLOCK: _Builder.kvmclock,
    TimerName.HYPERVCLOCK: _Builder.hypervclock,
    TimerName.TSC: _Builder.tsc,
    TimerName.ARMVTIMER: _Builder.armvtimer,
    TimerName.PLATFORM: _Builder.platform,
}


def translate(domain: Domain, caps: Capabilities, now: Now | None = None) -> Translation:
    """The QEMU arguments and environment that implement ``domain.clock`` on ``caps``.

    Raises :class:`UnsupportedConfigError` (the first refusal; ``.refusals`` has all
    of them) when this QEMU cannot implement the clock.
    """
    return _Builder(domain, caps, now).run()
