"""``guestclock recommend``: the clock a guest OS should have on one QEMU, with the reasons,
and what every profile says beside it. Pure: the OS comes resolved, "now" is a parameter.

:func:`recommend` takes the chosen profile's row for each element
(:mod:`guestclock.core.rules.os_profiles`) and fits it to the facts:

* the options, which describe the guest and its deployment, not a policy, and so apply to
  every profile: ``utc_registry`` (Windows set to keep its RTC in UTC: ``utc`` is right),
  ``migratable`` (no ``invtsc`` without a TSC frequency, no ``hv-passthrough``, Hyper-V
  ``reenlightenment`` only with a frequency; guestclock's own policy drops
  ``frequencies`` too), ``tsc_frequency`` (``<timer name='tsc' frequency=.../>`` and
  ``invtsc``);
* the QEMU: what it cannot do is left out, and the element says why (no
  ``hv-stimer-direct`` before 4.1, no ``-rtc`` driftfix on 0.9); an enlightenment whose
  requirement was left out goes too (QEMU refuses to start under KVM otherwise); ``hpet=off``
  against ``-no-hpet`` is the translation's business, by era.

Contradictory options (``utc_registry`` for a guest that is not Windows) are a
:class:`RecommendError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.model.domain import (
    CPU,
    Clock,
    Domain,
    HyperV,
    HyperVFeature,
    Offset,
    TickPolicy,
    Timer,
    TimerName,
)
from guestclock.core.read.osinfo import OSIdentity
from guestclock.core.rules import hyperv as hv
from guestclock.core.rules.os_profiles import (
    SOURCES,
    Element,
    GuestOS,
    OSFamily,
    Profile,
    Rule,
    Source,
    classify,
    opinion,
)
from guestclock.core.rules.platform import DEFAULT_ARCH, X86_ARCHES, default_cpu_model
from guestclock.errors import RecommendError, shown

if TYPE_CHECKING:  # the translation (datetime and its rules) only when arguments are asked for
    from guestclock.core.model.argv import Now, Translation

__all__ = [
    "Choice",
    "ElementReport",
    "Opinion",
    "RecommendError",
    "RecommendOptions",
    "Recommendation",
    "check_options",
    "parse_profile",
    "recommend",
    "recommendation_to_json",
    "recommendation_to_xml",
    "render_table",
    "translate_recommendation",
]

#: QEMU's integer properties (tsc-frequency) are int64
_INT64_MAX = 2**63 - 1
_MACHINE_VERSION = re.compile(r"-(\d{1,3})\.(\d{1,3})$")


@dataclass(frozen=True)
class RecommendOptions:
    """What the user says about the guest and its deployment."""

    profile: Profile = Profile.GUESTCLOCK
    #: ``<type machine=...>``; None: the QEMU's default
    machine: str | None = None
    #: the guest will be live-migrated between hosts
    migratable: bool = False
    #: Windows keeps its RTC in UTC (``RealTimeIsUniversal=1`` in the registry)
    utc_registry: bool = False
    #: a fixed TSC frequency in Hz, the same on every host the guest runs on
    tsc_frequency: int | None = None
    #: the guest's architecture; None: the QEMU's
    arch: str | None = None
    #: ``<domain type=...>``
    virt_type: str = "kvm"


@dataclass(frozen=True)
class Choice:
    """What the recommendation says for one element, and why."""

    element: Element
    #: the value in libvirt's words, or None: not set (the hypervisor's default)
    value: str | None
    #: why the profile chose it
    reason: str
    #: why the profile's value was changed for this QEMU or these options, when it was
    adjusted: str | None = None


@dataclass(frozen=True)
class Opinion:
    """What one profile says about one element, with its source."""

    profile: Profile
    value: str | None
    note: str
    source: Source


@dataclass(frozen=True)
class ElementReport:
    """One element: the recommendation and every profile's opinion."""

    element: Element
    choice: Choice
    opinions: tuple[Opinion, ...]


@dataclass(frozen=True)
class Recommendation:
    """A guest's recommended clock, ``<hyperv>`` set and CPU features, with the reasons."""

    guest: GuestOS
    options: RecommendOptions
    arch: str
    clock: Clock
    hyperv: HyperV | None
    cpu: CPU | None
    elements: tuple[ElementReport, ...]
    #: where the OS facts came from, and anything else worth saying
    notes: tuple[str, ...] = ()

    def choice(self, element: Element) -> Choice:
        """The recommendation for ``element``."""
        return next(report.choice for report in self.elements if report.element is element)

    def domain(self) -> Domain:
        """The recommendation as a :class:`Domain` (what ``read_domain`` gives for its XML)."""
        return Domain(
            clock=self.clock,
            virt_type=self.options.virt_type,
            arch=self.arch,
            machine=self.options.machine,
            cpu=self.cpu,
            hyperv=self.hyperv,
            os_id=self.guest.identity.id,
        )


def parse_profile(name: str) -> Profile:
    """``--profile NAME`` as a :class:`Profile`."""
    for profile in Profile:
        if profile.value == name:
            return profile
    names = ", ".join(profile.value for profile in Profile)
    raise RecommendError(f"unknown profile '{shown(name)}': expected one of {names}", subject=name)


def check_options(guest: GuestOS, options: RecommendOptions) -> None:
    """Refuse options that contradict the guest or each other."""
    if options.utc_registry and guest.family is not OSFamily.WINDOWS:
        raise RecommendError(
            f"--utc-registry says a Windows guest keeps its RTC in UTC, but {guest.label} is not Windows; "
            "drop the option",
            subject="utc-registry",
        )
    frequency = options.tsc_frequency
    if frequency is not None and not 0 < frequency <= _INT64_MAX:
        raise RecommendError(
            f"invalid TSC frequency {frequency}: expected Hz between 1 and {_INT64_MAX}", subject="tsc-frequency"
        )
    if options.virt_type not in ("kvm", "qemu"):
        raise RecommendError(f"invalid domain type '{shown(options.virt_type)}': expected kvm or qemu")


def _machine_version(machine: str | None, caps: Capabilities) -> tuple[int, int] | None:
    """The version of a machine type (``pc-q35-10.1`` -> (10, 1)); an unversioned alias
    (``q35``) is the QEMU's newest, its own version."""
    if machine is not None:
        match = _MACHINE_VERSION.search(machine)
        if match is not None:
            return (int(match.group(1)), int(match.group(2)))
    return caps.version[:2] if caps.version is not None else None


def _parse_set(value: str | None) -> tuple[list[hv.Enlightenment], int | None]:
    """``"relaxed spinlocks=8191 stimer"`` -> enlightenments and the spinlock retries."""
    found: list[hv.Enlightenment] = []
    retries: int | None = None
    for word in (value or "").split():
        name, _sep, arg = word.partition("=")
        if name == "spinlocks" and arg:
            retries = int(arg)
        found.append(hv.Enlightenment(name))
    return found, retries


def _set_text(names: Sequence[hv.Enlightenment], retries: int | None) -> str | None:
    words = [f"spinlocks={retries}" if e is hv.Enlightenment.SPINLOCKS and retries else e.value for e in names]
    return " ".join(words) or None


class _Fitter:
    """Fits one profile's rows to the options and the QEMU, element by element."""

    def __init__(self, guest: GuestOS, caps: Capabilities, options: RecommendOptions, arch: str) -> None:
        self.guest = guest
        self.caps = caps
        self.options = options
        self.arch = arch
        self.x86 = arch in X86_ARCHES
        self.mine = options.profile is Profile.GUESTCLOCK
        self.machine_version = _machine_version(options.machine, caps)

    def rule(self, element: Element) -> Rule:
        return opinion(self.options.profile, element, self.guest, self.machine_version)

    def qemu(self) -> str:
        return f"QEMU {self.caps.version_string or self.caps.source}"

    def offset(self) -> Choice:
        rule = self.rule(Element.OFFSET)
        if self.options.utc_registry:
            return Choice(
                Element.OFFSET,
                "utc",
                "the guest keeps its RTC in UTC (RealTimeIsUniversal=1, --utc-registry)",
                None if rule.value == "utc" else f"{self.options.profile.value} says {rule.value}; --utc-registry",
            )
        if rule.value == "localtime" and not (self.caps.has(Cap.RTC) or self.caps.has(Cap.LOCALTIME)):
            return Choice(
                Element.OFFSET,
                "utc",
                rule.reason,
                f"{self.qemu()} can start the RTC neither in local time (-rtc base=localtime) nor with "
                "-localtime: the guest must keep UTC",
            )
        return Choice(Element.OFFSET, rule.value, rule.reason)

    def not_x86(self, element: Element, rule: Rule) -> Choice | None:
        if self.x86 or rule.value is None:
            return None
        return Choice(element, None, rule.reason, f"a {self.arch} guest has no PC timers or Hyper-V enlightenments")

    def rtc(self) -> Choice:
        rule = self.rule(Element.RTC_TICKPOLICY)
        if (gone := self.not_x86(Element.RTC_TICKPOLICY, rule)) is not None:
            return gone
        if rule.value == "catchup" and not (self.caps.has(Cap.RTC) or self.caps.has(Cap.RTC_TD_HACK)):
            return Choice(
                Element.RTC_TICKPOLICY,
                None,
                rule.reason,
                f"{self.qemu()} has neither -rtc driftfix=slew nor -rtc-td-hack",
            )
        return Choice(Element.RTC_TICKPOLICY, rule.value, rule.reason)

    def pit(self) -> Choice:
        rule = self.rule(Element.PIT_TICKPOLICY)
        if (gone := self.not_x86(Element.PIT_TICKPOLICY, rule)) is not None:
            return gone
        if rule.value == "discard" and not (self.caps.has(Cap.KVM_PIT_TICK_POLICY) or self.caps.has(Cap.NO_KVM_PIT)):
            return Choice(
                Element.PIT_TICKPOLICY,
                None,
                rule.reason,
                f"{self.qemu()} cannot discard PIT ticks (no kvm-pit lost_tick_policy, no -no-kvm-pit-reinjection)",
            )
        return Choice(Element.PIT_TICKPOLICY, rule.value, rule.reason)

    def hypervclock(self) -> Choice:
        rule = self.rule(Element.HYPERVCLOCK)
        if (gone := self.not_x86(Element.HYPERVCLOCK, rule)) is not None:
            return gone
        if rule.value == "yes" and not hv.supported(hv.Enlightenment.TIME, self.caps):
            return Choice(Element.HYPERVCLOCK, None, rule.reason, f"{self.qemu()} has no hv-time (QEMU 2.0+)")
        return Choice(Element.HYPERVCLOCK, rule.value, rule.reason)

    def hyperv(self, hypervclock: bool) -> tuple[Choice, list[hv.Enlightenment], int | None]:
        rule = self.rule(Element.HYPERV)
        if (gone := self.not_x86(Element.HYPERV, rule)) is not None:
            return gone, [], None
        wanted, retries = _parse_set(rule.value)
        dropped: list[str] = []
        fixed = self.options.tsc_frequency is not None
        if self.options.migratable and not fixed:
            cut = {hv.Enlightenment.REENLIGHTENMENT} | ({hv.Enlightenment.FREQUENCIES} if self.mine else set())
            gone_now = [e for e in wanted if e in cut]
            if gone_now:
                dropped.append(
                    f"{' and '.join(e.value for e in gone_now)}: the guest migrates and no TSC frequency is fixed "
                    "(--tsc-frequency), so the frequency it was told may change under it"
                )
                wanted = [e for e in wanted if e not in cut]
        missing = [e for e in wanted if not hv.supported(e, self.caps)]
        if missing:
            dropped.append(f"{', '.join(e.value for e in missing)}: not in {self.qemu()}")
            wanted = [e for e in wanted if e not in missing]
        # whatever lost a requirement goes too (QEMU refuses to start under KVM otherwise)
        while True:
            have = set(wanted) | ({hv.Enlightenment.TIME} if hypervclock else set())
            orphans = [e for e, needed in hv.missing_dependencies(have) if e is not hv.Enlightenment.TIME]
            if not orphans:
                break
            names = dict.fromkeys(orphans)
            dropped.append(
                ", ".join(f"{e.value} (requires {', '.join(n.value for n in hv.TABLE[e].requires)})" for e in names)
            )
            wanted = [e for e in wanted if e not in names]
        # the recommendation carries the clock-related ones (issue 13); a profile's others are in its note
        others = [e for e in wanted if e not in hv.CLOCK_RELATED]
        wanted = [e for e in wanted if e in hv.CLOCK_RELATED]
        reason = rule.reason
        if others:
            reason += f" (also sets {', '.join(e.value for e in others)}: not clock-related, not shown)"
        adjusted = "; ".join(dropped) or None
        return Choice(Element.HYPERV, _set_text(wanted, None), reason, adjusted), wanted, retries

    def hpet(self, stimer: bool, hypervclock: bool) -> Choice:
        rule = self.rule(Element.HPET)
        if (gone := self.not_x86(Element.HPET, rule)) is not None:
            return gone
        if rule.value == "yes" and not (self.caps.machine_has_hpet(self.options.machine) or self.caps.has(Cap.NO_HPET)):
            return Choice(Element.HPET, None, rule.reason, f"{self.qemu()} cannot provide an HPET on this machine")
        if self.mine and rule.value == "no" and self.guest.family is OSFamily.WINDOWS and not (stimer or hypervclock):
            return Choice(
                Element.HPET,
                None,
                rule.reason,
                f"{self.qemu()} gives this Windows neither hv-stimer nor the Hyper-V clock: without the HPET it "
                "would fall back to the RTC at a high idle CPU cost, so the HPET stays",
            )
        return Choice(Element.HPET, rule.value, rule.reason)

    def kvmclock(self) -> Choice:
        rule = self.rule(Element.KVMCLOCK)
        if (gone := self.not_x86(Element.KVMCLOCK, rule)) is not None:
            return gone
        if rule.value is not None and not self.caps.has(Cap.CPU_KVMCLOCK):
            return Choice(Element.KVMCLOCK, None, rule.reason, f"{self.qemu()} has no kvmclock CPU feature")
        return Choice(Element.KVMCLOCK, rule.value, rule.reason)

    def tsc(self) -> tuple[Choice, int | None, tuple[tuple[str, str], ...]]:
        rule = self.rule(Element.TSC)
        frequency = self.options.tsc_frequency
        if not self.x86:
            adjusted = None if frequency is None else f"a {self.arch} guest has no x86 TSC"
            return Choice(Element.TSC, None, rule.reason, adjusted), None, ()
        has_freq = self.caps.has(Cap.CPU_TSC_FREQUENCY) or self.caps.has(Cap.CPU_TSC_FREQ_LEGACY)
        invtsc = self.caps.has(Cap.CPU_INVTSC)
        if frequency is not None:
            if not has_freq:
                return (
                    Choice(Element.TSC, None, rule.reason, f"{self.qemu()} cannot set a TSC frequency"),
                    None,
                    (("invtsc", "disable"),) if self.options.migratable and invtsc else (),
                )
            value = f"frequency={frequency}" + (", invtsc required" if invtsc else "")
            return (
                Choice(
                    Element.TSC,
                    value,
                    "a fixed TSC frequency makes the invariant TSC safe to use and to migrate (to hosts of that "
                    "frequency or with TSC scaling)",
                ),
                frequency,
                (("invtsc", "require"),) if invtsc else (),
            )
        if self.options.migratable and invtsc:
            return (
                Choice(
                    Element.TSC,
                    "invtsc disabled",
                    "migratable without a fixed TSC frequency: QEMU blocks migrating an invariant TSC, and the "
                    "guest would see the frequency change",
                ),
                None,
                (("invtsc", "disable"),),
            )
        return Choice(Element.TSC, None, rule.reason), None, ()


_ELEMENTS = tuple(Element)


def _opinions(guest: GuestOS, element: Element, machine_version: tuple[int, int] | None) -> tuple[Opinion, ...]:
    found = []
    for profile in Profile:
        rule = opinion(profile, element, guest, machine_version)
        found.append(Opinion(profile, rule.value, rule.reason, SOURCES[profile]))
    return tuple(found)


def recommend(identity: OSIdentity, caps: Capabilities, options: RecommendOptions | None = None) -> Recommendation:
    """The clock, Hyper-V set and CPU features for ``identity`` on ``caps`` (see the module docstring)."""
    options = options or RecommendOptions()
    guest = classify(identity)
    check_options(guest, options)
    arch = options.arch or caps.arch or DEFAULT_ARCH
    fit = _Fitter(guest, caps, options, arch)

    offset = fit.offset()
    rtc = fit.rtc()
    pit = fit.pit()
    clock_choice = fit.hypervclock()
    hypervclock = clock_choice.value == "yes"
    hyperv_choice, enlightenments, retries = fit.hyperv(hypervclock)
    stimer = hv.Enlightenment.STIMER in enlightenments
    hpet = fit.hpet(stimer, hypervclock)
    kvmclock = fit.kvmclock()
    tsc, frequency, cpu_features = fit.tsc()

    timers: list[Timer] = []
    if rtc.value is not None:
        timers.append(Timer(TimerName.RTC, tickpolicy=TickPolicy(rtc.value)))
    if pit.value is not None:
        timers.append(Timer(TimerName.PIT, tickpolicy=TickPolicy(pit.value)))
    if hpet.value is not None:
        timers.append(Timer(TimerName.HPET, present=hpet.value == "yes"))
    if kvmclock.value is not None:
        timers.append(Timer(TimerName.KVMCLOCK, present=kvmclock.value == "yes"))
    if hypervclock:
        timers.append(Timer(TimerName.HYPERVCLOCK, present=True))
    if frequency is not None:
        timers.append(Timer(TimerName.TSC, frequency=frequency))
    clock = Clock(offset=Offset(offset.value or "utc"), timers=tuple(timers))

    hyperv: HyperV | None = None
    members = [e for e in enlightenments if hv.feature_of(e) is not None]
    if members:
        features: list[tuple[HyperVFeature, bool]] = []
        for feature in HyperVFeature:  # libvirt's order
            e = hv.from_feature(feature)
            if e in members:
                features.append((feature, True))
        hyperv = HyperV(
            mode="custom",
            features=tuple(features),
            stimer_direct=True if hv.Enlightenment.STIMER_DIRECT in enlightenments else None,
            spinlock_retries=retries if hv.Enlightenment.SPINLOCKS in members else None,
        )
    cpu = CPU(mode="custom", model=default_cpu_model(arch, "kvm"), features=cpu_features) if cpu_features else None

    reports = []
    for choice in (offset, rtc, pit, hpet, clock_choice, hyperv_choice, kvmclock, tsc):
        reports.append(ElementReport(choice.element, choice, _opinions(guest, choice.element, fit.machine_version)))
    notes = [f"OS facts from {identity.source}", *identity.notes]
    return Recommendation(
        guest=guest,
        options=options,
        arch=arch,
        clock=clock,
        hyperv=hyperv,
        cpu=cpu,
        elements=tuple(sorted(reports, key=lambda r: _ELEMENTS.index(r.element))),
        notes=tuple(notes),
    )


# -- QEMU arguments ------------------------------------------------------------------


def translate_recommendation(rec: Recommendation, caps: Capabilities, now: Now | None = None) -> Translation:
    """The QEMU arguments of a recommendation: :func:`guestclock.core.translate.translate` of its
    domain (the clock, the ``<hyperv>`` set and the CPU features in the one ``-cpu``)."""
    from guestclock.core.translate import translate

    return translate(rec.domain(), caps, now)


# -- rendering -------------------------------------------------------------------------


def _shown_value(value: str | None) -> str:
    return "not set" if value is None else value


_OPTION_WORD = re.compile(r"--([a-z][a-z-]*)")


def _comment(text: str) -> str:
    # "--" may not appear inside an XML comment: "--utc-registry" becomes "option 'utc-registry'"
    return _OPTION_WORD.sub(r"option '\1'", text).replace("--", "- -")


def recommendation_to_xml(rec: Recommendation) -> str:
    """A small ``<domain>`` holding the recommendation (``<metadata>`` OS id, ``<os><type>``,
    ``<features><hyperv>``, ``<cpu>`` features, ``<clock>``), each element's reason in a comment
    before it; :func:`guestclock.xmlread.read_domain` reads it back to the same model."""
    from guestclock.core.render.xml import clock_to_xml, cpu_to_xml, features_to_xml, os_metadata_to_xml

    lines = [
        f"<!-- guestclock recommend: {_comment(rec.guest.label)}, profile {rec.options.profile.value}"
        + (", migratable" if rec.options.migratable else "")
        + (", Windows RTC in UTC" if rec.options.utc_registry else "")
        + " -->\n"
    ]
    for report in rec.elements:
        choice = report.choice
        note = f" [{choice.adjusted}]" if choice.adjusted else ""
        lines.append(
            f"<!-- {report.element.value}: {_shown_value(choice.value)}: {_comment(choice.reason + note)} -->\n"
        )
    lines.append(f"<domain type='{rec.options.virt_type}'>\n")
    lines.append(os_metadata_to_xml(rec.guest.identity.id, "  "))
    machine = f" machine='{rec.options.machine}'" if rec.options.machine else ""
    lines.append(f"  <os>\n    <type arch='{rec.arch}'{machine}>hvm</type>\n  </os>\n")
    lines.append(features_to_xml(rec.hyperv, "  "))
    if rec.cpu is not None:
        lines.append(cpu_to_xml(rec.cpu, "  "))
    lines.append(clock_to_xml(rec.clock, "  "))
    lines.append("</domain>\n")
    return "".join(lines)


def recommendation_to_json(rec: Recommendation, translation: Translation | None = None) -> dict[str, object]:
    """Everything, JSON-ready: the OS, the options, the XML, the arguments (when given), and per
    element the recommendation, its reason and every profile's opinion with its source."""
    document: dict[str, object] = {
        "os": {**rec.guest.identity.to_json(), "guest_family": rec.guest.family.value, "rank": rec.guest.generation},
        "profile": rec.options.profile.value,
        "options": {
            "machine": rec.options.machine,
            "migratable": rec.options.migratable,
            "utc_registry": rec.options.utc_registry,
            "tsc_frequency": rec.options.tsc_frequency,
            "arch": rec.arch,
            "virt_type": rec.options.virt_type,
        },
        "xml": recommendation_to_xml(rec),
    }
    if translation is not None:
        document["argv"] = translation.argv
        document["env"] = translation.environ
        document["warnings"] = list(translation.warnings)
        document["qemu"] = {
            "source": translation.caps.source,
            "version": translation.caps.version_string,
            "estimated": translation.caps.estimated,
        }
    document["elements"] = [
        {
            "element": report.element.value,
            "value": report.choice.value,
            "reason": report.choice.reason,
            "adjusted": report.choice.adjusted,
            "profiles": {op.profile.value: {"value": op.value, "note": op.note} for op in report.opinions},
        }
        for report in rec.elements
    ]
    document["sources"] = {profile.value: str(source) for profile, source in SOURCES.items()}
    document["notes"] = list(rec.notes)
    return document


def render_table(recs: Sequence[Recommendation]) -> str:
    """A Markdown table: for each OS, each element against every profile (the recommended
    value in the first column; ``*`` marks a value changed for this QEMU or the options)."""
    profiles = list(Profile)
    header = "| OS | element | " + " | ".join(p.value for p in profiles) + " |\n"
    header += "|" + "---|" * (len(profiles) + 2) + "\n"
    rows = []
    for rec in recs:
        name = rec.guest.identity.short_id or rec.guest.identity.id
        for report in rec.elements:
            cells = []
            for op in report.opinions:
                value = _shown_value(op.value)
                if op.profile is rec.options.profile:
                    value = _shown_value(report.choice.value) + ("*" if report.choice.adjusted else "")
                cells.append(value)
            rows.append(f"| {name} | {report.element.value} | " + " | ".join(cells) + " |\n")
    return header + "".join(rows)
