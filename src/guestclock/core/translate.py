"""Translate a domain's ``<clock>`` into QEMU arguments for one QEMU: pure, no I/O.

Two tables and a short loop: :func:`guestclock.core.rules.timers.lower` turns the domain
into QEMU facts (libvirt's semantics), each fact is spelled in the words this QEMU has
(:mod:`guestclock.core.rules.spellings`, newest era first), and the words are assembled
into the one ``-machine``, the one ``-cpu``, the one ``-rtc`` and the options of their own.
Every emitted word records the XML element it came from and the capability its spelling
needed; every refusal names the capability whose absence caused it, and all of them are
raised together.

"now" is a parameter (:class:`~guestclock.core.model.argv.Now`), never read here.
"""

from __future__ import annotations

from guestclock.core.model.argv import Now, Option, Origin, Part, Translation
from guestclock.core.model.caps import Capabilities
from guestclock.core.model.domain import Domain
from guestclock.core.model.facts import Fact
from guestclock.core.rules.platform import default_cpu_model, emulates, is_name
from guestclock.core.rules.spellings import Form, Slot, SpellContext, Spelling, choose, render
from guestclock.core.rules.timers import Lowering, lower
from guestclock.errors import Refusals, UnsupportedConfigError, shown

__all__ = ["Skipped", "translate", "translate_facts"]

#: a fact that needs no word on this QEMU, and the spelling that says why
Skipped = tuple[Fact, Spelling]


def _cpu_model(domain: Domain, low: Lowering, warnings: list[str]) -> Part:
    """The model word of ``-cpu``: the domain's, or the default libvirt uses."""
    cpu = domain.cpu
    if cpu is not None:
        if cpu.mode == "host-passthrough":
            return Part("host", Origin("<cpu mode='host-passthrough'>"))
        if cpu.mode == "maximum":
            return Part("max", Origin("<cpu mode='maximum'>"))
        if cpu.mode == "host-model":
            warnings.append(
                "<cpu mode='host-model'> names no model QEMU knows without the host's CPU "
                "description; the clock's CPU properties are attached to -cpu host"
            )
            return Part("host", Origin("<cpu mode='host-model'>"))
        if cpu.model is not None:
            return Part(cpu.model, Origin(f"<cpu><model>{cpu.model}</model>"))
    return Part(default_cpu_model(low.arch, low.virt_type), Origin(f"default CPU model for arch {low.arch}"))


def _check_words(
    refusals: Refusals, named: list[tuple[str, str]], env: list[tuple[str, str, Origin]], line: int | None
) -> None:
    """Refuse any value that would change the meaning of the argv or the environment.

    Every word is built from enums, integers and checked names, so this only fires for a
    Domain or Capabilities built without the readers' checks (a library caller, a dump's
    default machine).
    """
    for kind, value in named:
        if not is_name(value):
            refusals.refuse(
                f"{kind} '{shown(value)}' cannot be passed to QEMU: expected letters, digits and "
                "'._+-' only (a ',' or '=' would change the meaning of the option)",
                subject=kind,
            )
    for _name, value, _origin in env:
        if not value or not value.isprintable() or any(ch.isspace() for ch in value):
            refusals.refuse(
                f"time zone '{shown(value)}' cannot be passed to QEMU: expected a zone name "
                "without blanks or control characters",
                subject="clock",
                line=line,
            )


def translate_facts(low: Lowering) -> tuple[Translation, tuple[Skipped, ...]]:
    """Spell ``low``'s facts for its QEMU and assemble the options; also the facts that need no
    word here (each with the reason). Raises every refusal together."""
    domain, caps = low.domain, low.caps
    context = SpellContext(caps, low.machine, low.virt_type)
    refusals = Refusals()
    warnings: list[str] = list(caps.notes)
    slots: dict[Slot, list[Part]] = {Slot.MACHINE: [], Slot.CPU: [], Slot.RTC: []}
    early: list[Option] = []
    late: list[Option] = []
    env: list[tuple[str, str, Origin]] = []
    skipped: list[Skipped] = []
    if caps.arch is not None and domain.arch is not None and not emulates(caps.arch, domain.arch):
        refusals.refuse(f"this QEMU emulates arch {caps.arch}, not the domain's arch {domain.arch}", subject="arch")
    machine = domain.machine
    if machine is not None and caps.machines is not None and machine not in caps.machines:
        # not a clock setting, but the -machine word carries it, and a guest moved to a
        # QEMU without its versioned machine type does not start at all
        warnings.append(
            f"this QEMU has no machine type '{machine}' (<type machine='{machine}'>); "
            "QEMU will refuse to start the guest"
        )
    for event in low.events:
        if isinstance(event, str):
            warnings.append(event)
            continue
        if isinstance(event, UnsupportedConfigError):
            refusals.add(event)
            continue
        spelling = choose(event, context)
        if spelling is None:
            assert event.refusal is not None, f"no spelling and no refusal for {event.key}"
            refusals.refuse(
                event.refusal,
                subject=event.subject,
                capability=event.missing.value if event.missing else None,
                line=event.line,
            )
            continue
        if spelling.warning is not None:
            warning = spelling.warning(event, context)
            if warning:
                warnings.append(warning)
        slot = spelling.slot
        if slot is Slot.NONE:
            skipped.append((event, spelling))
            continue
        text, capability = render(spelling, event.value, caps)
        if slot is Slot.ENV:
            env.append((spelling.name, str(event.value), event.origin))
        elif slot in slots:
            slots[slot].append(Part(text, event.origin, capability))
        else:
            target = early if slot is Slot.EARLY else late
            if spelling.form is Form.FLAG:
                target.append(Option(spelling.name, origin=event.origin, capability=capability))
            else:
                name = "-global" if spelling.form is Form.GLOBAL else spelling.name
                target.append(Option(name, (Part(text, event.origin, capability),)))
    cpu_head = _cpu_model(domain, low, warnings) if slots[Slot.CPU] else None
    named = []
    if slots[Slot.MACHINE]:
        named.append(("machine type", low.machine))
    if cpu_head is not None:
        named.append(("CPU model", cpu_head.text))
    _check_words(refusals, named, env, domain.clock.line)
    refusals.finalize()
    head: list[Option] = []
    if slots[Slot.MACHINE]:
        origin = Origin(f"<type machine='{domain.machine}'>" if domain.machine else "default machine type")
        head.append(Option("-machine", (Part(low.machine, origin), *slots[Slot.MACHINE])))
    if cpu_head is not None:
        head.append(Option("-cpu", (cpu_head, *slots[Slot.CPU])))
    if slots[Slot.RTC]:
        head.append(Option("-rtc", tuple(slots[Slot.RTC])))
    translation = Translation(
        options=(*head, *early, *late),
        env=tuple(env),
        warnings=tuple(dict.fromkeys(warnings)),
        caps=caps,
    )
    return translation, tuple(skipped)


def translate(domain: Domain, caps: Capabilities, now: Now | None = None) -> Translation:
    """The QEMU arguments and environment that implement ``domain.clock`` on ``caps``.

    Raises :class:`~guestclock.errors.UnsupportedConfigError` (the first refusal; ``.refusals``
    has all of them) when this QEMU cannot implement the clock.
    """
    return translate_facts(lower(domain, caps, now))[0]
