"""Write a :class:`Clock` back as a libvirt ``<clock>`` element (attribute order as libvirt's)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from guestclock.core.model.domain import CPU, Clock, HyperV, HyperVFeature, Offset, Timer

__all__ = ["clock_to_xml", "cpu_to_xml", "features_to_xml", "hyperv_to_xml", "os_metadata_to_xml"]


def _attrs(pairs: list[tuple[str, str]]) -> str:
    # single quotes, as libvirt writes them
    return "".join(f" {name}='{escape(value, {chr(39): '&apos;', chr(34): '&quot;'})}'" for name, value in pairs)


def _timer_to_xml(timer: Timer, indent: str) -> str:
    pairs: list[tuple[str, str]] = [("name", timer.name.value)]
    if timer.tickpolicy is not None:
        pairs.append(("tickpolicy", timer.tickpolicy.value))
    if timer.track is not None:
        pairs.append(("track", timer.track.value))
    if timer.frequency is not None:
        pairs.append(("frequency", str(timer.frequency)))
    if timer.mode is not None:
        pairs.append(("mode", timer.mode.value))
    if timer.present is not None:
        pairs.append(("present", "yes" if timer.present else "no"))
    if timer.catchup is None:
        return f"{indent}<timer{_attrs(pairs)}/>\n"
    catchup = timer.catchup
    inner: list[tuple[str, str]] = [
        (name, str(value))
        for name, value in (
            ("threshold", catchup.threshold),
            ("slew", catchup.slew),
            ("limit", catchup.limit),
        )
        if value is not None
    ]
    return f"{indent}<timer{_attrs(pairs)}>\n{indent}  <catchup{_attrs(inner)}/>\n{indent}</timer>\n"


def clock_to_xml(clock: Clock, indent: str = "") -> str:
    """The ``<clock>`` element for ``clock``, newline-terminated."""
    pairs: list[tuple[str, str]] = [("offset", clock.offset.value)]
    if clock.offset is Offset.TIMEZONE and clock.timezone is not None:
        pairs.append(("timezone", clock.timezone))
    if clock.reset:
        pairs.append(("adjustment", "reset"))
    elif clock.adjustment is not None:
        pairs.append(("adjustment", str(clock.adjustment)))
    if clock.offset is Offset.VARIABLE and clock.basis is not None:
        pairs.append(("basis", clock.basis.value))
    if clock.offset is Offset.ABSOLUTE and clock.start is not None:
        pairs.append(("start", str(clock.start)))
    if not clock.timers:
        return f"{indent}<clock{_attrs(pairs)}/>\n"
    body = "".join(_timer_to_xml(timer, indent + "  ") for timer in clock.timers)
    return f"{indent}<clock{_attrs(pairs)}>\n{body}{indent}</clock>\n"


def hyperv_to_xml(hyperv: HyperV, indent: str = "") -> str:
    """``<hyperv>`` (inside ``<features>``) for ``hyperv``, members in the given order,
    newline-terminated; what ``xmlread``'s libvirt-rule reader reads back."""
    head = f"{indent}<hyperv{_attrs([('mode', hyperv.mode)] if hyperv.mode else [])}"
    if not hyperv.features:
        return head + "/>\n"
    inner = indent + "  "
    lines = [head + ">\n"]
    for feature, on in hyperv.features:
        pairs: list[tuple[str, str]] = [("state", "on" if on else "off")]
        if feature is HyperVFeature.SPINLOCKS and on and hyperv.spinlock_retries is not None:
            pairs.append(("retries", str(hyperv.spinlock_retries)))
        elif feature is HyperVFeature.VENDOR_ID and on and hyperv.vendor_id is not None:
            pairs.append(("value", hyperv.vendor_id))
        if feature is HyperVFeature.STIMER and hyperv.stimer_direct is not None:
            direct = _attrs([("state", "on" if hyperv.stimer_direct else "off")])
            lines.append(f"{inner}<stimer{_attrs(pairs)}>\n{inner}  <direct{direct}/>\n{inner}</stimer>\n")
        else:
            lines.append(f"{inner}<{feature.value}{_attrs(pairs)}/>\n")
    lines.append(f"{indent}</hyperv>\n")
    return "".join(lines)


def features_to_xml(hyperv: HyperV | None, indent: str = "") -> str:
    """``<features>`` holding the ``<hyperv>`` set (empty string without one)."""
    if hyperv is None:
        return ""
    return f"{indent}<features>\n{hyperv_to_xml(hyperv, indent + '  ')}{indent}</features>\n"


def cpu_to_xml(cpu: CPU, indent: str = "") -> str:
    """``<cpu mode=...>`` with its ``<model>`` and ``<feature policy=... name=.../>`` lines."""
    head = f"{indent}<cpu{_attrs([('mode', cpu.mode)] if cpu.mode else [])}"
    if cpu.model is None and not cpu.features:
        return head + "/>\n"
    inner = indent + "  "
    body = f"{inner}<model>{escape(cpu.model)}</model>\n" if cpu.model is not None else ""
    body += "".join(
        f"{inner}<feature{_attrs([('policy', policy), ('name', name)])}/>\n" for name, policy in cpu.features
    )
    return f"{head}>\n{body}{indent}</cpu>\n"


#: libvirt's namespace for the libosinfo id in ``<metadata>`` (virt-install writes it)
LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"


def os_metadata_to_xml(os_id: str, indent: str = "") -> str:
    """``<metadata>`` naming the libosinfo OS, as virt-install writes it."""
    inner = indent + "  "
    return (
        f"{indent}<metadata>\n"
        f"{inner}<libosinfo:libosinfo{_attrs([('xmlns:libosinfo', LIBOSINFO_NS)])}>\n"
        f"{inner}  <libosinfo:os{_attrs([('id', os_id)])}/>\n"
        f"{inner}</libosinfo:libosinfo>\n"
        f"{indent}</metadata>\n"
    )
