"""Capabilities from a QMP conversation with a QEMU binary: pure, no process, no socket.

The edge (:mod:`guestclock.probe`) starts ``qemu -machine none -S`` and sends the
requests this module plans (:func:`first_round`, :func:`second_round`); the
(request, response) pairs it records, or the ones libvirt recorded in its
``caps_*.replies`` files, become :class:`QMPAnswers` (:func:`answers_from_conversation`)
and then :class:`~guestclock.caps.Capabilities` (:func:`caps_from_answers`).

What is asked, and why (every answer is optional: a QEMU too old for a command
simply leaves that part unknown):

* ``query-version``, ``query-target``: version and guest architecture.
* ``query-command-line-options`` ``rtc`` and ``machine``: ``-rtc base=`` and, from
  QEMU 8.0, the machine's ``hpet`` parameter.
* ``query-machines`` and ``qom-list-properties`` of ``generic-pc-machine`` (or, where
  that fails, of one machine type per pc/q35 family such as ``pc-i440fx-7.2-machine``):
  which machine types take ``hpet=`` (QEMU 5.2+; the property is a class property of
  every PC machine, so one answer says it for the whole family).
* ``device-list-properties`` of ``kvm-pit`` and ``mc146818rtc``: their
  ``lost_tick_policy`` (``-global kvm-pit.lost_tick_policy=``, ``-rtc driftfix=slew``);
  of ``hpet``: whether the build has an HPET at all (RHEL builds do not).
* ``qom-list-properties`` of the ``max`` CPU type: ``kvmclock``, ``hv-time``
  (``hv_time`` before 4.1), ``tsc-frequency``, ``kvm-no-adjvtime`` (ARM).
* ``query-kvm`` and ``qom-list-properties`` of ``tcg-accel``: KVM and TCG (libvirt's
  recordings list every type with ``qom-list-types``; both are read).

Options that QMP cannot show (``-no-hpet``, ``-localtime``, ``-rtc-td-hack``, ...)
come from the binary's ``-help`` text when the caller has it, else from QEMU's
option history, and the result then says so in a note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from guestclock.core.model.caps import Cap, Capabilities, machine_family_has_hpet
from guestclock.core.rules.history import history_caps
from guestclock.core.rules.hyperv import property_caps as hyperv_property_caps
from guestclock.core.rules.platform import DEFAULT_ARCH, X86_ARCHES, arch_from_target
from guestclock.errors import CapabilityError

__all__ = [
    "PC_MACHINE_TYPE",
    "PLAIN_OPTION_CAPS",
    "QMPAnswers",
    "Request",
    "answers_from_conversation",
    "caps_from_answers",
    "cpu_typename",
    "first_round",
    "parse_replies_text",
    "second_round",
]

#: one QMP request: command name and arguments (None: no arguments)
Request = tuple[str, dict[str, object] | None]

#: capabilities that are plain command-line options: QMP cannot list them
PLAIN_OPTION_CAPS = frozenset({Cap.NO_HPET, Cap.RTC_TD_HACK, Cap.LOCALTIME, Cap.STARTDATE, Cap.NO_KVM_PIT, Cap.TDF})

_CLOCK_DEVICES = ("kvm-pit", "mc146818rtc", "hpet")
#: QEMU's abstract parent of every pc-i440fx and pc-q35 machine type (TYPE_PC_MACHINE)
PC_MACHINE_TYPE = "generic-pc-machine"
# QEMU's target name -> libvirt's architecture name
# QEMU's target name -> the suffix of its CPU type names
_CPU_SUFFIX = {"aarch64": "arm", "ppc64": "powerpc64", "ppc": "powerpc", "riscv64": "riscv", "riscv32": "riscv"}
_VERSIONED = re.compile(r"^(.*)-\d+(?:\.\d+)+$")
_MAX_TEXT = 64 * 1024 * 1024


@dataclass(frozen=True)
class QMPAnswers:
    """The answers of one QEMU to the probe's questions; None means "not asked or failed"."""

    version: Mapping[str, object] | None = None
    target: Mapping[str, object] | None = None
    kvm: Mapping[str, object] | None = None
    #: option name -> its parameter names (``query-command-line-options``)
    command_line_options: Mapping[str, frozenset[str]] | None = None
    machines: Sequence[Mapping[str, object]] | None = None
    #: type name -> its property names; None when QEMU said the type does not exist
    machine_properties: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    device_properties: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    cpu_properties: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    #: names of the accelerator types (``tcg-accel``, ``kvm-accel``, ...)
    accelerators: frozenset[str] | None = None


def cpu_typename(target_arch: str) -> str:
    """QOM type of the ``max`` CPU for a QEMU target (``x86_64`` -> ``max-x86_64-cpu``)."""
    return f"max-{_CPU_SUFFIX.get(target_arch, target_arch)}-cpu"


def first_round(target_arch: str) -> list[Request]:
    """The requests that need no earlier answer. ``target_arch`` is a guess (from the binary's name)."""
    requests: list[Request] = [
        ("query-version", None),
        ("query-target", None),
        ("query-kvm", None),
        ("query-command-line-options", {"option": "rtc"}),
        ("query-command-line-options", {"option": "machine"}),
        ("query-machines", None),
        # qom-list-types {"implements": "accel"} would say the same but costs QEMU ~10 ms
        ("qom-list-properties", {"typename": "tcg-accel"}),
    ]
    requests.extend(("device-list-properties", {"typename": name}) for name in _CLOCK_DEVICES)
    requests.append(("qom-list-properties", {"typename": cpu_typename(target_arch)}))
    if arch_from_target(target_arch) in X86_ARCHES:
        # hpet is a class property of the abstract PC machine, so its answer holds for every
        # pc/q35 machine type and saves a second round trip
        requests.append(("qom-list-properties", {"typename": PC_MACHINE_TYPE}))
    return requests


def _machine_families(machines: Sequence[Mapping[str, object]]) -> dict[str, list[str]]:
    """pc/q35 machine names grouped by family (``pc-i440fx``, ``pc-q35``), newest first."""
    families: dict[str, list[str]] = {}
    for machine in machines:
        name = machine.get("name")
        if not isinstance(name, str) or not machine_family_has_hpet(name):
            continue
        match = _VERSIONED.match(name)
        family = match.group(1) if match else name
        families.setdefault(family, []).append(name)
    for names in families.values():
        names.sort(key=_version_key, reverse=True)
    return families


def _version_key(name: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", name)
    return tuple(int(n) for n in numbers)


def second_round(answers: QMPAnswers) -> list[Request]:
    """Requests that depend on the first answers: one machine type per pc/q35 family,
    and the CPU type again when the guess from the binary's name was wrong."""
    requests: list[Request] = []
    if answers.machines is not None and answers.machine_properties.get(PC_MACHINE_TYPE) is None:
        for names in _machine_families(answers.machines).values():
            requests.append(("qom-list-properties", {"typename": f"{names[0]}-machine"}))
    arch = _target_arch(answers)
    if arch is not None and cpu_typename(arch) not in answers.cpu_properties:
        requests.append(("qom-list-properties", {"typename": cpu_typename(arch)}))
    return requests


def _target_arch(answers: QMPAnswers) -> str | None:
    if answers.target is None:
        return None
    arch = answers.target.get("arch")
    return arch if isinstance(arch, str) else None


def _names(value: object) -> frozenset[str]:
    """The ``name`` members of a list of property/type descriptions."""
    if not isinstance(value, list):
        raise CapabilityError(f"expected a list of properties, got {type(value).__name__}")
    return frozenset(str(item["name"]) for item in value if isinstance(item, dict) and "name" in item)


def answers_from_conversation(
    pairs: Iterable[tuple[Mapping[str, object], Mapping[str, object]]],
) -> QMPAnswers:
    """Collect (request, response) message pairs into :class:`QMPAnswers`.

    Requests this module does not need are ignored; the first successful answer to
    a question wins (libvirt's recordings ask some questions twice, once per accelerator).
    """
    version: Mapping[str, object] | None = None
    target: Mapping[str, object] | None = None
    kvm: Mapping[str, object] | None = None
    options: dict[str, frozenset[str]] | None = None
    machines: list[Mapping[str, object]] | None = None
    machine_props: dict[str, frozenset[str] | None] = {}
    device_props: dict[str, frozenset[str] | None] = {}
    cpu_props: dict[str, frozenset[str] | None] = {}
    accelerators: frozenset[str] | None = None
    for request, response in pairs:
        command = request.get("execute")
        raw_args = request.get("arguments")
        args: Mapping[str, object] = raw_args if isinstance(raw_args, dict) else {}
        ok = "return" in response
        result = response.get("return")
        typename = args.get("typename")
        if command == "query-version" and ok and version is None and isinstance(result, dict):
            version = result
        elif command == "query-target" and ok and target is None and isinstance(result, dict):
            target = result
        elif command == "query-kvm" and ok and kvm is None and isinstance(result, dict):
            kvm = result
        elif command == "query-command-line-options" and ok and isinstance(result, list):
            options = {} if options is None else options
            for entry in result:
                if isinstance(entry, dict) and isinstance(entry.get("option"), str):
                    options.setdefault(str(entry["option"]), _names(entry.get("parameters", [])))
        elif command == "query-machines" and ok and machines is None and isinstance(result, list):
            machines = [item for item in result if isinstance(item, dict)]
        elif command == "qom-list-types" and ok and isinstance(result, list):
            found = frozenset(name for name in _names(result) if name.endswith("-accel"))
            accelerators = found | (accelerators or frozenset())
        elif command == "qom-list-properties" and isinstance(typename, str) and typename.endswith("-accel"):
            accelerators = (accelerators or frozenset()) | (frozenset({typename}) if ok else frozenset())
        elif command in ("qom-list-properties", "device-list-properties") and isinstance(typename, str):
            value = _names(result) if ok else None
            if typename.endswith("-machine") or typename == PC_MACHINE_TYPE:
                table = machine_props
            elif typename.endswith("-cpu"):
                table = cpu_props
            else:
                table = device_props
            if table.get(typename) is None:
                table[typename] = value
    return QMPAnswers(
        version=version,
        target=target,
        kvm=kvm,
        command_line_options=options,
        machines=machines,
        machine_properties=machine_props,
        device_properties=device_props,
        cpu_properties=cpu_props,
        accelerators=accelerators,
    )


def parse_replies_text(text: str) -> list[tuple[dict[str, object], dict[str, object]]]:
    """(request, response) pairs from libvirt's ``.replies`` format: JSON objects one
    after another, each request followed by its response; events are skipped."""
    if len(text) > _MAX_TEXT:
        raise CapabilityError("QMP conversation is larger than 64 MiB")
    decoder = json.JSONDecoder()
    messages: list[dict[str, object]] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            break
        try:
            message, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise CapabilityError(f"QMP conversation is not JSON at line {exc.lineno}: {exc.msg}") from None
        if not isinstance(message, dict):
            raise CapabilityError(f"QMP message is a {type(message).__name__}, expected an object")
        if "event" not in message:
            messages.append(message)
    pairs: list[tuple[dict[str, object], dict[str, object]]] = []
    pending: dict[str, object] | None = None
    for message in messages:
        if "execute" in message:
            pending = message
        elif pending is not None and ("return" in message or "error" in message):
            pairs.append((pending, message))
            pending = None
    return pairs


def _version_of(answers: QMPAnswers) -> tuple[int, int, int]:
    qemu = answers.version.get("qemu") if answers.version is not None else None
    if not isinstance(qemu, dict):
        raise CapabilityError("QEMU did not answer query-version; this is not QEMU or its QMP is broken")
    try:
        return (int(qemu["major"]), int(qemu["minor"]), int(qemu["micro"]))
    except (KeyError, TypeError, ValueError):
        raise CapabilityError(f"query-version answered {json.dumps(qemu)[:80]}, expected major/minor/micro") from None


def caps_from_answers(
    answers: QMPAnswers,
    *,
    source: str = "qmp",
    plain_options: Capabilities | None = None,
) -> Capabilities:
    """The capabilities these answers show.

    ``plain_options`` is what the binary's ``-help`` text says (e.g. from
    :func:`guestclock.helpparse.parse_help`); only :data:`PLAIN_OPTION_CAPS` are taken
    from it. Without it they follow from the version, and a note says so.
    """
    version = _version_of(answers)
    target = _target_arch(answers) or DEFAULT_ARCH
    arch = arch_from_target(target)
    caps: set[Cap] = set()
    notes: list[str] = []

    options = answers.command_line_options or {}
    rtc_params = options.get("rtc", frozenset())
    if "base" in rtc_params:
        caps.add(Cap.RTC)
        if "clock" in rtc_params and version >= (1, 1, 0):
            caps.add(Cap.RTC_CLOCK_RT)  # clock=rt arrived in 1.1 with the clock parameter's third value

    devices = answers.device_properties
    pit = devices.get("kvm-pit")
    if pit is not None and "lost_tick_policy" in pit:
        caps.add(Cap.KVM_PIT_TICK_POLICY)
    rtc = devices.get("mc146818rtc")
    if rtc is not None and "lost_tick_policy" not in rtc:
        notes.append("this QEMU's RTC (mc146818rtc) has no lost_tick_policy: QEMU refuses -rtc driftfix=slew")

    hpet_machines: set[str] = set()
    families = _machine_families(answers.machines or [])
    pc_props = answers.machine_properties.get(PC_MACHINE_TYPE)
    asked_families = pc_props is not None
    for names in families.values():
        typename = f"{names[0]}-machine"
        asked_families = asked_families or typename in answers.machine_properties
        props = answers.machine_properties.get(typename, pc_props)
        if props is not None and "hpet" in props:
            hpet_machines.update(names)
            hpet_machines.update(_aliases(answers.machines or [], names))
    machine_params = options.get("machine", frozenset())
    # no HPET device at all (RHEL builds): then no machine type can switch one on
    hpet_device_missing = "hpet" in devices and devices["hpet"] is None
    if (hpet_machines or "hpet" in machine_params) and not hpet_device_missing:
        caps.add(Cap.MACHINE_HPET)
    if hpet_device_missing:
        notes.append("this QEMU is built without an HPET device")

    cpu_props: frozenset[str] | None = answers.cpu_properties.get(cpu_typename(target))
    if cpu_props is None:
        cpu_props = next((props for props in answers.cpu_properties.values() if props is not None), None)
    if cpu_props is not None:
        # CPU features became QOM properties (feature=on|off) in 2.4; qom-list-properties is younger
        caps.add(Cap.CPU_FEATURE_PROPS)
        for name, cap in (
            ("kvmclock", Cap.CPU_KVMCLOCK),
            ("hv-time", Cap.CPU_HV_TIME),
            ("hv_time", Cap.CPU_HV_TIME_LEGACY),
            ("tsc-frequency", Cap.CPU_TSC_FREQUENCY),
            ("tsc_freq", Cap.CPU_TSC_FREQ_LEGACY),
            ("kvm-no-adjvtime", Cap.CPU_KVM_NO_ADJVTIME),
            ("invtsc", Cap.CPU_INVTSC),
            # the Hyper-V enlightenments, both spellings (hv-stimer from 4.1, hv_stimer before)
            *hyperv_property_caps(),
        ):
            if name in cpu_props:
                caps.add(cap)
    else:
        history = history_caps(version, arch)
        caps |= {cap for cap in history if cap.value.startswith("cpu.") or cap is Cap.CPU_FEATURE_PROPS}
        notes.append(
            f"QEMU {'.'.join(map(str, version))} did not list its CPU properties; "
            "CPU timer properties are estimated from its option history"
        )

    if answers.kvm is not None and answers.kvm.get("present") is True:
        caps.add(Cap.KVM)
    if answers.accelerators is None or "tcg-accel" in answers.accelerators:
        caps.add(Cap.TCG)

    if plain_options is not None:
        caps |= plain_options.caps & PLAIN_OPTION_CAPS
    else:
        plain = history_caps(version, arch) & PLAIN_OPTION_CAPS
        if hpet_device_missing:
            plain -= {Cap.NO_HPET}  # nothing to switch off; present='yes' must be refused
        caps |= plain
        # -no-hpet is a generic x86 option of every upstream QEMU from 0.10 to 8.2 (and
        # superseded by the machine property from 5.2); the others came and went with
        # qemu-kvm and distributions, so only they are worth a note
        if plain - {Cap.NO_HPET}:
            notes.append(
                "options QMP cannot show ("
                + ", ".join(sorted(cap.value for cap in plain))
                + f") are assumed from QEMU {'.'.join(map(str, version))}'s option history"
            )

    return Capabilities(
        caps=frozenset(caps),
        source=source,
        version=version,
        arch=arch,
        hpet_machines=frozenset(hpet_machines) if asked_families else None,
        default_machine=_default_machine(answers.machines or []),
        machines=_machine_names(answers.machines),
        notes=tuple(notes),
    )


def _aliases(machines: Sequence[Mapping[str, object]], names: Iterable[str]) -> set[str]:
    wanted = set(names)
    return {
        str(machine["alias"])
        for machine in machines
        if machine.get("name") in wanted and isinstance(machine.get("alias"), str)
    }


def _machine_names(machines: Sequence[Mapping[str, object]] | None) -> frozenset[str] | None:
    """Every machine type name and alias query-machines listed (None: not asked)."""
    if not machines:
        return None
    return frozenset(
        str(machine[key]) for machine in machines for key in ("name", "alias") if isinstance(machine.get(key), str)
    )


def _default_machine(machines: Sequence[Mapping[str, object]]) -> str | None:
    for machine in machines:
        if machine.get("is-default") is True and isinstance(machine.get("name"), str):
            return str(machine["name"])
    return None
