"""Write a :class:`Clock` back as a libvirt ``<clock>`` element (attribute order as libvirt's)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from guestclock.core.model.domain import Clock, Offset, Timer

__all__ = ["clock_to_xml"]


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
