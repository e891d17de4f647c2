"""Read a libvirt ``<clock>`` (alone or inside a ``<domain>``) into the model.

Implements libvirt's parse-time rules for ``<clock>``, ``<timer>`` and
``<catchup>`` with libvirt's error texts (``src/conf/domain_conf.c``,
``src/conf/domain_postparse.c``), plus three refusals of our own: a timer given
twice (libvirt 9.0 accepts it and emits contradictory arguments), attributes
and elements libvirt does not define (a typo must not silently drop a setting),
and values that would change the meaning of a QEMU option (``,`` in a machine
type or CPU model).
"""

from __future__ import annotations

import enum
import re
from typing import TypeVar

from guestclock.core.model.domain import (
    CPU,
    Basis,
    Catchup,
    Clock,
    Domain,
    HyperV,
    HyperVFeature,
    Offset,
    TickPolicy,
    Timer,
    TimerMode,
    TimerName,
    Track,
)
from guestclock.core.read.safexml import ALL, Element, Keep, parse_document
from guestclock.core.rules.timers import TIMERS
from guestclock.errors import XMLError, shown

__all__ = ["ReadResult", "read_clock_element", "read_domain"]

_E = TypeVar("_E", Offset, Basis, TimerName, TickPolicy, Track, TimerMode)

_CLOCK_ATTRS = frozenset({"offset", "timezone", "adjustment", "basis", "start"})
_TIMER_ATTRS = frozenset({"name", "present", "tickpolicy", "track", "wallclock", "frequency", "mode"})
_CATCHUP_ATTRS = frozenset({"threshold", "slew", "limit"})
_TIMER_CHILDREN = frozenset({"catchup"})
_ULLONG_MAX = 2**64 - 1
_LLONG_MIN, _LLONG_MAX = -(2**63), 2**63 - 1
_ULONG_MAX = 2**64 - 1
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
#: machine types, CPU models and arch names go into ``-machine``/``-cpu`` words:
#: nothing that QEMU's option parser would split on
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


class ReadResult:
    """A read domain plus the warnings reading produced (deprecated spellings)."""

    __slots__ = ("domain", "warnings")

    def __init__(self, domain: Domain, warnings: tuple[str, ...]) -> None:
        self.domain = domain
        self.warnings = warnings


def _invalid(element: Element, attribute: str, value: str) -> XMLError:
    return XMLError(
        f"Invalid value for attribute '{attribute}' in element '{element.tag}': '{shown(value)}'.",
        line=element.line,
        element=element.tag,
        attribute=attribute,
        value=value,
    )


#: value -> member for each vocabulary: a dict lookup, where ``Kind(value)`` goes
#: through the enum metaclass (about a microsecond, several times per timer)
_MEMBERS: dict[type[enum.Enum], dict[str, enum.Enum]] = {
    kind: {member.value: member for member in kind} for kind in (Offset, Basis, TimerName, TickPolicy, Track, TimerMode)
}


def _enum(element: Element, attribute: str, kind: type[_E]) -> _E | None:
    value = element.attrib.get(attribute)
    if value is None:
        return None
    member = _MEMBERS[kind].get(value)
    if member is None:
        raise _invalid(element, attribute, value)
    return member  # type: ignore[return-value]  # _MEMBERS[kind] holds members of kind


def _beyond_64_bits(digits: str) -> bool:
    """True for an integer with more than 20 significant digits (2**64 has 20): out of
    every range here, and kept from int(), which raises ValueError past 4,300 digits."""
    return len(digits.lstrip("+-").lstrip("0")) > 20


def _to_int(digits: str) -> int:
    """int() of a checked integer, leading zeros dropped first (they count toward int()'s limit)."""
    significant = digits.lstrip("+-").lstrip("0") or "0"
    return -int(significant) if digits.startswith("-") else int(significant)


def _integer(element: Element, attribute: str, low: int, high: int) -> int | None:
    value = element.attrib.get(attribute)
    if value is None:
        return None
    if _INTEGER.match(value) is None or _beyond_64_bits(value):
        raise _invalid(element, attribute, value)
    number = _to_int(value)
    if not low <= number <= high:
        raise _invalid(element, attribute, value)
    return number


def _check_known(element: Element, known: frozenset[str], children: frozenset[str]) -> None:
    if element.attrib.keys() <= known and not element.children:
        return  # the common case, decided in C
    for name in element.attrib:
        if name not in known:
            raise XMLError(
                f"unknown attribute '{shown(name)}' in element '{element.tag}'",
                line=element.line,
                element=element.tag,
                attribute=name,
            )
    for child in element.children:
        if child.tag not in children:
            raise XMLError(
                f"unexpected element '{shown(child.tag)}' in element '{element.tag}'",
                line=child.line,
                element=child.tag,
            )


def _read_catchup(element: Element) -> Catchup:
    _check_known(element, _CATCHUP_ATTRS, frozenset())
    return Catchup(
        threshold=_integer(element, "threshold", 0, _ULONG_MAX),
        slew=_integer(element, "slew", 0, _ULONG_MAX),
        limit=_integer(element, "limit", 0, _ULONG_MAX),
    )


def _read_timer(element: Element, warnings: list[str]) -> Timer:
    _check_known(element, _TIMER_ATTRS, _TIMER_CHILDREN)
    if "name" not in element.attrib:
        raise XMLError(
            "Missing required attribute 'name' in element 'timer'",
            line=element.line,
            element="timer",
            attribute="name",
        )
    name = _enum(element, "name", TimerName)
    assert name is not None
    present_text = element.attrib.get("present")
    present: bool | None = None
    if present_text is not None:
        if present_text not in ("yes", "no"):
            raise _invalid(element, "present", present_text)
        present = present_text == "yes"
    track = _enum(element, "track", Track)
    wallclock = element.attrib.get("wallclock")
    if wallclock is not None:
        # the 2010 design's spelling of track; libvirt renamed it in 0.8.x
        legacy = {"host": Track.WALL, "guest": Track.GUEST}.get(wallclock)
        if legacy is None:
            raise _invalid(element, "wallclock", wallclock)
        if track is not None and track is not legacy:
            raise XMLError(
                f"timer {name.value} has track='{track.value}' and the deprecated "
                f"wallclock='{wallclock}', which disagree",
                line=element.line,
                element="timer",
                attribute="wallclock",
                value=wallclock,
            )
        track = legacy
        warnings.append(
            f"line {element.line}: <timer wallclock='{wallclock}'> is deprecated; write track='{legacy.value}'"
        )
    frequency = _integer(element, "frequency", 0, _ULLONG_MAX)
    if frequency == 0:
        raise _invalid(element, "frequency", element.attrib["frequency"])
    catchup_elements = element.findall("catchup")
    if len(catchup_elements) > 1:
        raise XMLError(
            "element 'catchup' may appear only once in a timer",
            line=catchup_elements[1].line,
            element="catchup",
        )
    timer = Timer(
        name=name,
        present=present,
        tickpolicy=_enum(element, "tickpolicy", TickPolicy),
        catchup=_read_catchup(catchup_elements[0]) if catchup_elements else None,
        track=track,
        frequency=frequency,
        mode=_enum(element, "mode", TimerMode),
        line=element.line,
    )
    _post_parse_timer(timer, element)
    return timer


def _post_parse_timer(timer: Timer, element: Element) -> None:
    """libvirt's virDomainDefPostParseTimer: which timer takes which attribute (the timer
    table's ``takes`` column)."""
    name = timer.name.value
    takes = TIMERS[timer.name].takes

    def refuse(message: str, attribute: str) -> XMLError:
        # libvirt reports these as 'unsupported configuration', only the catchup one as an XML error
        return XMLError(
            message, line=element.line, element="timer", attribute=attribute, unsupported=attribute != "catchup"
        )

    if timer.tickpolicy is not None and "tickpolicy" not in takes:
        raise refuse(f"timer {name} doesn't support setting of timer tickpolicy", "tickpolicy")
    catchup = timer.catchup
    if (
        catchup is not None
        and timer.tickpolicy is not TickPolicy.CATCHUP
        and any((catchup.threshold, catchup.slew, catchup.limit))  # libvirt: zero means unset
    ):
        raise refuse(
            "setting of timer catchup policies is only supported with tickpolicy='catchup'",
            "catchup",
        )
    if timer.frequency is not None and "frequency" not in takes:
        raise refuse(f"timer {name} doesn't support setting of timer frequency", "frequency")
    if timer.mode is not None and "mode" not in takes:
        raise refuse(f"timer {name} doesn't support setting of timer mode", "mode")
    if timer.track is not None and "track" not in takes:
        raise refuse(f"timer {name} doesn't support setting of timer track", "track")


def read_clock_element(element: Element, warnings: list[str]) -> Clock:
    """Convert a ``<clock>`` element (already parsed) into a :class:`Clock`."""
    _check_known(element, _CLOCK_ATTRS, frozenset({"timer"}))
    offset_text = element.attrib.get("offset", "utc")
    try:
        offset = Offset(offset_text)  # once per document
    except ValueError:
        raise XMLError(
            f"unknown clock offset '{shown(offset_text)}'",
            line=element.line,
            element="clock",
            attribute="offset",
            value=offset_text,
        ) from None

    def unknown(what: str, attribute: str) -> XMLError:
        value = element.attrib[attribute]
        return XMLError(
            f"unknown clock {what} '{shown(value)}'",
            line=element.line,
            element="clock",
            attribute=attribute,
            value=value,
        )

    timezone: str | None = None
    adjustment: int | None = None
    reset = False
    basis: Basis | None = None
    start: int | None = None
    adjustment_text = element.attrib.get("adjustment")

    def numeric_adjustment() -> int:
        assert adjustment_text is not None
        if _INTEGER.match(adjustment_text) is None:
            raise unknown("adjustment", "adjustment")
        if _beyond_64_bits(adjustment_text):
            raise _invalid(element, "adjustment", adjustment_text)
        number = _to_int(adjustment_text)
        if not _LLONG_MIN <= number <= _LLONG_MAX:
            raise _invalid(element, "adjustment", adjustment_text)
        return number

    if offset in (Offset.UTC, Offset.LOCALTIME):
        if adjustment_text == "reset":
            reset = True
        elif adjustment_text is not None:
            # libvirt stores utc/localtime with a number as a variable offset
            adjustment = numeric_adjustment()
            basis = Basis.UTC if offset is Offset.UTC else Basis.LOCALTIME
            offset = Offset.VARIABLE
    elif offset is Offset.TIMEZONE:
        timezone = element.attrib.get("timezone")
        if timezone is None:
            raise XMLError(
                "missing 'timezone' attribute for clock with offset='timezone'",
                line=element.line,
                element="clock",
                attribute="timezone",
            )
        if not timezone or len(timezone) > 255 or any(not ch.isprintable() or ch.isspace() for ch in timezone):
            raise _invalid(element, "timezone", timezone)
    elif offset is Offset.VARIABLE:
        if adjustment_text == "reset":
            reset = True
        elif adjustment_text is not None:
            adjustment = numeric_adjustment()
        basis_text = element.attrib.get("basis")
        if basis_text is not None:
            try:
                basis = Basis(basis_text)
            except ValueError:
                raise unknown("basis", "basis") from None
        else:
            basis = Basis.UTC
    else:  # absolute
        if "start" not in element.attrib:
            raise XMLError(
                "missing 'start' attribute for clock with offset='absolute'",
                line=element.line,
                element="clock",
                attribute="start",
            )
        start = _integer(element, "start", 0, _ULLONG_MAX)

    timers: list[Timer] = []
    seen: dict[TimerName, Timer] = {}
    for child in element.findall("timer"):
        timer = _read_timer(child, warnings)
        first = seen.get(timer.name)
        if first is not None:
            raise XMLError(
                f"timer '{timer.name.value}' is given twice (lines {first.line} and {timer.line}); "
                "libvirt would emit contradictory arguments",
                line=child.line,
                element="timer",
                attribute="name",
                value=timer.name.value,
            )
        seen[timer.name] = timer
        timers.append(timer)

    return Clock(
        offset=offset,
        timezone=timezone,
        adjustment=adjustment,
        reset=reset,
        basis=basis,
        start=start,
        timers=tuple(timers),
        line=element.line,
    )


def _name_attr(element: Element | None, attribute: str) -> str | None:
    if element is None:
        return None
    value = element.attrib.get(attribute)
    if value is None:
        return None
    if _NAME.match(value) is None:
        raise _invalid(element, attribute, value)
    return value


_CPU_FEATURE_POLICIES = frozenset({"force", "require", "optional", "disable", "forbid"})


def _read_cpu(element: Element | None) -> CPU | None:
    if element is None:
        return None
    mode = element.attrib.get("mode")
    if mode is not None and mode not in ("custom", "host-model", "host-passthrough", "maximum"):
        raise _invalid(element, "mode", mode)
    features: list[tuple[str, str]] = []
    for feature in element.findall("feature"):
        name = feature.attrib.get("name")
        if name is None:
            raise XMLError(
                "Missing required attribute 'name' in element 'feature'",
                line=feature.line,
                element="feature",
                attribute="name",
            )
        if _NAME.match(name) is None:
            raise _invalid(feature, "name", name)
        # libvirt: a feature without a policy is 'require' (in a custom CPU)
        policy = feature.attrib.get("policy", "require")
        if policy not in _CPU_FEATURE_POLICIES:
            raise _invalid(feature, "policy", policy)
        features.append((name, policy))
    model_element = element.find("model")
    model: str | None = None
    if model_element is not None:
        model = model_element.text.strip() or None
        if model is not None and _NAME.match(model) is None:
            raise XMLError(
                f"Invalid CPU model '{shown(model)}'",
                line=model_element.line,
                element="model",
                value=model,
            )
    return CPU(mode=mode, model=model, features=tuple(features))


_HYPERV_MEMBERS = {member.value: member for member in HyperVFeature}
#: libvirt's limit for ``<vendor_id value=...>`` (CPUID leaf 0x40000000 holds 12 bytes)
_VENDOR_ID_MAX = 12
#: libvirt's smallest ``<spinlocks retries=...>`` (0xFFF)
_SPINLOCKS_MIN = 4095
_UINT_MAX = 2**32 - 1


def _read_hyperv(element: Element | None) -> HyperV | None:
    """``<features><hyperv>`` (libvirt's virDomainFeaturesHyperVDefParse)."""
    if element is None:
        return None
    mode = element.attrib.get("mode")
    if mode is not None and mode not in ("custom", "passthrough"):
        raise _invalid(element, "mode", mode)
    features: list[tuple[HyperVFeature, bool]] = []
    stimer_direct: bool | None = None
    retries: int | None = None
    vendor_id: str | None = None
    seen: set[HyperVFeature] = set()
    for child in element.children:
        feature = _HYPERV_MEMBERS.get(child.tag)
        if feature is None:
            raise XMLError(
                f"unsupported HyperV Enlightenment feature: {shown(child.tag)}",
                line=child.line,
                element=child.tag,
                unsupported=True,
            )
        if feature in seen:
            raise XMLError(
                f"HyperV feature '{feature.value}' is given twice",
                line=child.line,
                element=child.tag,
            )
        seen.add(feature)
        state = child.attrib.get("state")
        if state is None:
            raise XMLError(
                f"Missing required attribute 'state' in element '{child.tag}'",
                line=child.line,
                element=child.tag,
                attribute="state",
            )
        if state not in ("on", "off"):
            raise _invalid(child, "state", state)
        on = state == "on"
        features.append((feature, on))
        if feature is HyperVFeature.SPINLOCKS and on:
            retries = _integer(child, "retries", 0, _UINT_MAX)
            if retries is None:
                raise XMLError(
                    "missing HyperV spinlock retry count", line=child.line, element="spinlocks", attribute="retries"
                )
            if retries < _SPINLOCKS_MIN:
                raise XMLError(
                    f"HyperV spinlock retry count must be at least {_SPINLOCKS_MIN}",
                    line=child.line,
                    element="spinlocks",
                    attribute="retries",
                )
        elif feature is HyperVFeature.VENDOR_ID and on:
            vendor_id = child.attrib.get("value")
            if vendor_id is None:
                raise XMLError(
                    "missing 'value' attribute for HyperV feature 'vendor_id'",
                    line=child.line,
                    element="vendor_id",
                    attribute="value",
                )
            if len(vendor_id) > _VENDOR_ID_MAX or not vendor_id.isprintable() or "," in vendor_id:
                # QEMU's option parser would split a ',' inside -cpu ...,hv-vendor-id=
                raise XMLError(
                    f"HyperV vendor_id value must not be more than {_VENDOR_ID_MAX} characters, printable, without ','",
                    line=child.line,
                    element="vendor_id",
                    attribute="value",
                    value=vendor_id,
                )
        elif feature is HyperVFeature.STIMER:
            for sub in child.children:
                if sub.tag != "direct":
                    raise XMLError(
                        f"unsupported Hyper-V stimer feature: {shown(sub.tag)}",
                        line=sub.line,
                        element=sub.tag,
                        unsupported=True,
                    )
                direct = sub.attrib.get("state")
                if direct not in ("on", "off"):
                    raise _invalid(sub, "state", direct or "")
                stimer_direct = direct == "on"
    return HyperV(
        mode=mode,
        features=tuple(features),
        stimer_direct=stimer_direct,
        spinlock_retries=retries,
        vendor_id=vendor_id,
        line=element.line,
    )


def _read_os_id(metadata: Element | None) -> str | None:
    """``<metadata><libosinfo:libosinfo><libosinfo:os id=.../>`` (any namespace prefix)."""
    if metadata is None:
        return None
    for child in metadata.children:
        if child.tag.rpartition(":")[2] != "libosinfo":
            continue
        for os_element in child.children:
            if os_element.tag.rpartition(":")[2] == "os":
                value = os_element.attrib.get("id")
                if value and len(value) <= 1024 and value.isprintable():
                    return value
    return None


#: the parts of a document the model is read from (everything else is only checked)
DOMAIN_KEEP: Keep = {
    "clock": ALL,
    "domain": {
        "name": {},
        "os": {"type": {}},
        "cpu": ALL,
        "clock": ALL,
        "devices": {"emulator": {}},
        "features": {"hyperv": ALL},
        "metadata": ALL,
    },
}


def read_domain(data: bytes | str) -> ReadResult:
    """Read a ``<domain>`` or a bare ``<clock>`` document."""
    root = parse_document(data, DOMAIN_KEEP)
    warnings: list[str] = []
    if root.tag == "clock":
        return ReadResult(Domain(clock=read_clock_element(root, warnings)), tuple(warnings))
    if root.tag != "domain":
        raise XMLError(
            f"expected a <domain> or <clock> document, found <{shown(root.tag)}>",
            line=root.line,
            element=root.tag,
        )
    clocks = root.findall("clock")
    if len(clocks) > 1:
        raise XMLError("element 'clock' may appear only once in a domain", line=clocks[1].line, element="clock")
    clock = read_clock_element(clocks[0], warnings) if clocks else Clock()
    os_element = root.find("os")
    type_element = os_element.find("type") if os_element is not None else None
    virt_type = root.attrib.get("type")
    if virt_type is not None and _NAME.match(virt_type) is None:
        raise _invalid(root, "type", virt_type)
    devices = root.find("devices")
    emulator = devices.find("emulator") if devices is not None else None
    name = root.find("name")
    features = root.find("features")
    domain = Domain(
        clock=clock,
        virt_type=virt_type,
        arch=_name_attr(type_element, "arch"),
        machine=_name_attr(type_element, "machine"),
        cpu=_read_cpu(root.find("cpu")),
        emulator=emulator.text.strip() or None if emulator is not None else None,
        name=name.text.strip() or None if name is not None else None,
        hyperv=_read_hyperv(features.find("hyperv") if features is not None else None),
        os_id=_read_os_id(root.find("metadata")),
    )
    return ReadResult(domain, tuple(warnings))
