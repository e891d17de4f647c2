"""How each QEMU era spells each fact: one ordered table, read in both directions.

For every :class:`~guestclock.core.model.facts.FactKey` the table lists the spellings
newest first; a translation takes the first one the QEMU has the capabilities for (and
whose ``when`` holds), a command-line reader finds the fact a word stands for, and a
rewrite picks the target QEMU's spelling of the fact it read. A spelling in slot
``NONE`` says that this QEMU needs no word at all, and ``reason`` says why.

Sources: spec/RULES.md ("QEMU option history"), libvirt's ``qemuBuildClockArgStr`` and
``qemuBuildCpuCommandLine``, the 2010 design (spec/seed-2010-qemu-clock-timers.txt).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.model.facts import Fact, FactKey, FactValue

if TYPE_CHECKING:
    from guestclock.core.rules.hyperv import CPUProp

__all__ = ["SPELLINGS", "Form", "Slot", "SpellContext", "Spelling", "choose", "render"]


class Slot(enum.Enum):
    """Where a spelling's words go."""

    #: QEMU's environment (``TZ=...``)
    ENV = "env"
    #: a property in the one ``-machine TYPE,...``
    MACHINE = "machine"
    #: a property in the one ``-cpu MODEL,...``
    CPU = "cpu"
    #: a parameter in the one ``-rtc ...``
    RTC = "rtc"
    #: an option of its own, right after ``-rtc`` (``-localtime``, ``-startdate``)
    EARLY = "early"
    #: an option of its own, after the others (``-no-hpet``, ``-global ...``)
    LATE = "late"
    #: no word: this QEMU does it already, or has nothing to switch
    NONE = "none"


class Form(enum.Enum):
    """How a spelling writes its value."""

    #: ``name=value`` inside an option (``hpet=off``, ``driftfix=slew``)
    PROP = "prop"
    #: the bare name (``-no-hpet``; ``hv_time`` inside ``-cpu``)
    FLAG = "flag"
    #: ``+name`` / ``-name`` inside ``-cpu`` (before QEMU 2.4's ``name=on|off``)
    SIGN = "sign"
    #: an option and its value (``-startdate 2010-01-01T00:00:00``)
    VALUE = "value"
    #: ``-global name=value`` (``name`` is ``DRIVER.PROPERTY``)
    GLOBAL = "global"
    #: a Hyper-V enlightenment, spelled by :mod:`guestclock.core.rules.hyperv`
    HYPERV = "hyperv"


@dataclass(frozen=True)
class SpellContext:
    """What besides the capabilities decides a spelling: the machine type and the domain type."""

    caps: Capabilities
    machine: str
    virt_type: str


@dataclass(frozen=True)
class Spelling:
    """One way one QEMU era writes one fact."""

    fact: FactKey
    slot: Slot
    #: the option, property, ``DRIVER.PROPERTY`` or variable
    name: str
    #: every capability this spelling needs
    needs: tuple[Cap, ...] = ()
    #: the capability ``explain`` names (default: the last of ``needs``)
    capability: Cap | None = None
    form: Form = Form.PROP
    #: the fact values this spelling can say (None: all)
    only: frozenset[FactValue] | None = None
    #: fact value -> the word (default: on/off for a switch, the value itself otherwise)
    words: Mapping[FactValue, str] | None = None
    #: a further condition on the QEMU and the value (the machine type has the property)
    when: Callable[[SpellContext, FactValue], bool] | None = None
    #: why this spelling is there, or (slot NONE) why no word is needed
    reason: str = ""
    #: a warning this spelling brings (e.g. a global QEMU ignores for this domain type)
    warning: Callable[[Fact, SpellContext], str | None] | None = None

    @property
    def explained_capability(self) -> Cap | None:
        """The capability this spelling is shown to need."""
        if self.capability is not None:
            return self.capability
        return self.needs[-1] if self.needs else None

    def fits(self, fact: Fact, context: SpellContext) -> bool:
        """True when this spelling can say ``fact`` on this QEMU."""
        if self.only is not None and fact.value not in self.only:
            return False
        if not all(context.caps.has(cap) for cap in self.needs):
            return False
        return self.when is None or self.when(context, fact.value)


def _word(spelling: Spelling, value: FactValue) -> str:
    if spelling.words is not None and value in spelling.words:
        return spelling.words[value]
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def render(spelling: Spelling, value: FactValue, caps: Capabilities) -> tuple[str, Cap | None]:
    """The text a spelling writes for ``value`` and the capability it shows: a part
    (``hpet=off``), a flag (``-no-hpet``), an option's value (the date of ``-startdate``),
    a global's value (``kvm-pit.lost_tick_policy=delay``)."""
    form = spelling.form
    if form is Form.HYPERV:
        prop = _hyperv_prop(caps, value)
        assert prop is not None  # fits() checked it
        return prop.text, prop.capability
    if form is Form.PROP or form is Form.GLOBAL:
        text = f"{spelling.name}={_word(spelling, value)}"
    elif form is Form.SIGN:
        text = f"{'+' if value else '-'}{spelling.name}"
    elif form is Form.VALUE:
        text = _word(spelling, value)
    else:
        text = spelling.name
    return text, spelling.explained_capability


def _machine_has_hpet(context: SpellContext, _value: FactValue) -> bool:
    return context.caps.machine_has_hpet(context.machine)


def _kvm_pit_ignored(fact: Fact, context: SpellContext) -> str | None:
    if context.virt_type == "kvm":
        return None
    return (
        f"{fact.origin}: -global kvm-pit.lost_tick_policy={fact.value} has no effect for a "
        f"type='{context.virt_type}' domain: without KVM the PIT is isa-pit, which QEMU "
        "does not configure through kvm-pit"
    )


def _hv_time_needs_kvm(fact: Fact, context: SpellContext) -> str | None:
    if context.virt_type == "kvm":
        return None
    return f"{fact.origin}: hv-time needs KVM; QEMU refuses Hyper-V enlightenments under TCG"


_K = FactKey
_S = Slot
_LOCAL = frozenset({"localtime"})
_UTC = frozenset({"utc"})


def _instant(_context: SpellContext, value: FactValue) -> bool:
    """A start date (not ``utc``/``localtime``): what ``-startdate`` can say."""
    return isinstance(value, str) and value not in ("utc", "localtime")


def _hyperv_prop(caps: Capabilities, value: FactValue) -> CPUProp | None:
    """The ``-cpu`` word of one enlightenment (``passthrough``: ``hv-passthrough=on``, QEMU 5.1+)."""
    from guestclock.core.rules import hyperv

    assert isinstance(value, tuple)
    name, setting = value
    if name == "passthrough":
        if not caps.has(Cap.CPU_HV_PASSTHROUGH):
            return None
        return hyperv.CPUProp("hv-passthrough=on", Cap.CPU_HV_PASSTHROUGH, None)
    return hyperv.spell(hyperv.TABLE[hyperv.Enlightenment(name)], caps, setting)


def _hyperv_fits(context: SpellContext, value: FactValue) -> bool:
    return _hyperv_prop(context.caps, value) is not None


#: every fact's spellings, newest era first
SPELLINGS: dict[FactKey, tuple[Spelling, ...]] = {
    _K.TZ: (Spelling(_K.TZ, _S.ENV, "TZ", reason="QEMU's C library reads the zone from TZ"),),
    _K.RTC_BASE: (
        Spelling(_K.RTC_BASE, _S.RTC, "base", (Cap.RTC,), reason="-rtc base= (QEMU 0.12+)"),
        Spelling(
            _K.RTC_BASE,
            _S.EARLY,
            "-localtime",
            (Cap.LOCALTIME,),
            form=Form.FLAG,
            only=_LOCAL,
            reason="before -rtc; removed in QEMU 3.1",
        ),
        Spelling(
            _K.RTC_BASE,
            _S.EARLY,
            "-startdate",
            (Cap.STARTDATE,),
            form=Form.VALUE,
            when=_instant,
            reason="before -rtc; removed in QEMU 3.1",
        ),
        Spelling(_K.RTC_BASE, _S.NONE, "", only=_UTC, reason="QEMU's RTC starts in UTC by default"),
    ),
    _K.RTC_CLOCK: (
        Spelling(
            _K.RTC_CLOCK,
            _S.RTC,
            "clock",
            (Cap.RTC, Cap.RTC_CLOCK_RT),
            only=frozenset({"rt"}),
            reason="-rtc clock=rt (QEMU 1.1+)",
        ),
        Spelling(_K.RTC_CLOCK, _S.RTC, "clock", (Cap.RTC,), only=frozenset({"host", "vm"}), reason="-rtc clock="),
    ),
    _K.RTC_LOST_TICKS: (
        Spelling(_K.RTC_LOST_TICKS, _S.RTC, "driftfix", (Cap.RTC,), reason="-rtc driftfix=slew"),
        Spelling(
            _K.RTC_LOST_TICKS,
            _S.LATE,
            "-rtc-td-hack",
            (Cap.RTC_TD_HACK,),
            form=Form.FLAG,
            reason="before -rtc driftfix; removed in QEMU 3.1",
        ),
    ),
    _K.PIT_LOST_TICKS: (
        Spelling(
            _K.PIT_LOST_TICKS,
            _S.LATE,
            "kvm-pit.lost_tick_policy",
            (Cap.KVM_PIT_TICK_POLICY,),
            form=Form.GLOBAL,
            reason="the in-kernel PIT's property (QEMU 1.2+)",
            warning=_kvm_pit_ignored,
        ),
        Spelling(
            _K.PIT_LOST_TICKS,
            _S.LATE,
            "-no-kvm-pit-reinjection",
            (Cap.NO_KVM_PIT,),
            form=Form.FLAG,
            only=frozenset({"discard"}),
            reason="qemu-kvm's spelling of lost_tick_policy=discard; removed in QEMU 3.0",
        ),
    ),
    _K.PIT_TDF: (
        Spelling(
            _K.PIT_TDF, _S.LATE, "-tdf", (Cap.TDF,), form=Form.FLAG, reason="qemu-kvm; a no-op, removed in QEMU 2.12"
        ),
    ),
    _K.HPET: (
        Spelling(
            _K.HPET,
            _S.MACHINE,
            "hpet",
            (Cap.MACHINE_HPET,),
            when=_machine_has_hpet,
            reason="the pc/q35 machine property (QEMU 5.2+)",
        ),
        Spelling(
            _K.HPET,
            _S.LATE,
            "-no-hpet",
            (Cap.NO_HPET,),
            form=Form.FLAG,
            only=frozenset({False}),
            reason="x86 option; deprecated in QEMU 8.0, removed in 9.0",
        ),
        Spelling(
            _K.HPET,
            _S.NONE,
            "",
            (Cap.NO_HPET,),
            only=frozenset({True}),
            reason="this QEMU gives x86 guests an HPET by default",
        ),
        Spelling(_K.HPET, _S.NONE, "", only=frozenset({False}), reason="this QEMU has no HPET to remove"),
    ),
    _K.CPU_KVMCLOCK: (
        Spelling(
            _K.CPU_KVMCLOCK,
            _S.CPU,
            "kvmclock",
            (Cap.CPU_FEATURE_PROPS,),
            capability=Cap.CPU_KVMCLOCK,
            reason="CPU feature as a property (QEMU 2.4+)",
        ),
        Spelling(
            _K.CPU_KVMCLOCK,
            _S.CPU,
            "kvmclock",
            capability=Cap.CPU_KVMCLOCK,
            form=Form.SIGN,
            reason="CPU feature before QEMU 2.4",
        ),
    ),
    _K.CPU_HV_TIME: (
        Spelling(
            _K.CPU_HV_TIME,
            _S.CPU,
            "hv-time",
            (Cap.CPU_HV_TIME,),
            reason="QEMU 4.1+",
            warning=_hv_time_needs_kvm,
        ),
        Spelling(
            _K.CPU_HV_TIME,
            _S.CPU,
            "hv_time",
            (Cap.CPU_HV_TIME_LEGACY,),
            form=Form.FLAG,
            reason="QEMU 2.0 to 4.0",
            warning=_hv_time_needs_kvm,
        ),
    ),
    _K.CPU_TSC_FREQUENCY: (
        Spelling(_K.CPU_TSC_FREQUENCY, _S.CPU, "tsc-frequency", (Cap.CPU_TSC_FREQUENCY,), reason="QEMU 2.1+"),
        Spelling(_K.CPU_TSC_FREQUENCY, _S.CPU, "tsc_freq", (Cap.CPU_TSC_FREQ_LEGACY,), reason="QEMU 1.1 to 2.0"),
    ),
    _K.CPU_KVM_NO_ADJVTIME: (
        Spelling(
            _K.CPU_KVM_NO_ADJVTIME, _S.CPU, "kvm-no-adjvtime", (Cap.CPU_KVM_NO_ADJVTIME,), reason="ARM, QEMU 5.0+"
        ),
    ),
    _K.CPU_INVTSC: (
        Spelling(
            _K.CPU_INVTSC,
            _S.CPU,
            "invtsc",
            (Cap.CPU_FEATURE_PROPS,),
            capability=Cap.CPU_INVTSC,
            reason="CPU feature as a property (QEMU 2.4+)",
        ),
        Spelling(_K.CPU_INVTSC, _S.CPU, "invtsc", capability=Cap.CPU_INVTSC, form=Form.SIGN, reason="before QEMU 2.4"),
    ),
    _K.CPU_HYPERV: (
        Spelling(
            _K.CPU_HYPERV,
            _S.CPU,
            "hv",
            form=Form.HYPERV,
            when=_hyperv_fits,
            reason="a Hyper-V enlightenment (hv-* from QEMU 4.1, hv_* before)",
        ),
    ),
}


def choose(fact: Fact, context: SpellContext) -> Spelling | None:
    """The first spelling of ``fact`` this QEMU has, or None when it has none."""
    for spelling in SPELLINGS[fact.key]:
        if spelling.fits(fact, context):
            return spelling
    return None
