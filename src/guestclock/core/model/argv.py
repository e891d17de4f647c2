"""The output side of the core: QEMU options whose every word knows the XML it came from.

:class:`Translation` is what ``translate`` returns and what every renderer (shell,
JSON, lines, explain) and every edge (verify, batch, matrix) reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.model.domain import Clock, Offset, Timer

__all__ = ["Now", "Option", "Origin", "Part", "Translation", "describe_clock", "describe_timer"]


@dataclass(frozen=True)
class Now:
    """The instant of translation and the host's UTC offset at that instant.

    ``utc_offset`` (seconds east of UTC) is what libvirt adds for
    ``basis='localtime'``; the edge computes it from the process's TZ.
    """

    epoch: int
    utc_offset: int = 0


class Origin:
    """The XML that produced a word: a description of the element and its line.

    The description of a timer or clock element is built only when someone reads
    it (explain, a warning): a fleet run translates millions of timers and reads
    almost none of these texts.
    """

    __slots__ = ("_element", "_source", "line")

    def __init__(self, element: str | None = None, line: int | None = None, *, source: Timer | Clock | None = None):
        self._element = element
        self._source = source
        self.line = line

    @property
    def element(self) -> str:
        """e.g. ``<timer name='rtc' tickpolicy='catchup'>``."""
        if self._element is None:
            source = self._source
            self._element = describe_timer(source) if isinstance(source, Timer) else describe_clock(source)
        return self._element

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Origin) and (self.element, self.line) == (other.element, other.line)

    def __hash__(self) -> int:
        return hash((self.element, self.line))

    def __repr__(self) -> str:
        return f"Origin({self.element!r}, line={self.line})"

    def __str__(self) -> str:
        return self.element if self.line is None else f"{self.element} (line {self.line})"


@dataclass(frozen=True)
class Part:
    """One comma-separated piece of an option's value, or a whole flag option."""

    text: str
    origin: Origin
    #: the capability that made this spelling possible (None: needs none)
    capability: Cap | None = None


@dataclass(frozen=True)
class Option:
    """One QEMU option: ``-name`` and, unless it is a flag, a value made of parts."""

    name: str
    parts: tuple[Part, ...] = ()
    #: for a flag option (no value), where it came from
    origin: Origin | None = None
    capability: Cap | None = None

    @property
    def value(self) -> str | None:
        """The option's argument (parts joined by ','), or None for a flag."""
        if not self.parts:
            return None
        return ",".join(part.text for part in self.parts)

    @property
    def words(self) -> tuple[str, ...]:
        """The argv words of this option."""
        value = self.value
        return (self.name,) if value is None else (self.name, value)


@dataclass(frozen=True)
class Translation:
    """QEMU arguments and environment that implement a domain's clock on one QEMU."""

    options: tuple[Option, ...]
    env: tuple[tuple[str, str, Origin], ...]
    warnings: tuple[str, ...]
    caps: Capabilities = field(compare=False)

    @property
    def argv(self) -> list[str]:
        """The arguments, in order, one word per item."""
        return [word for option in self.options for word in option.words]

    @property
    def environ(self) -> dict[str, str]:
        """The environment variables to set for QEMU."""
        return {name: value for name, value, _origin in self.env}


def describe_timer(timer: Timer) -> str:
    attrs = [f"name='{timer.name.value}'"]
    if timer.present is not None:
        attrs.append(f"present='{'yes' if timer.present else 'no'}'")
    if timer.tickpolicy is not None:
        attrs.append(f"tickpolicy='{timer.tickpolicy.value}'")
    if timer.track is not None:
        attrs.append(f"track='{timer.track.value}'")
    if timer.frequency is not None:
        attrs.append(f"frequency='{timer.frequency}'")
    if timer.mode is not None:
        attrs.append(f"mode='{timer.mode.value}'")
    return f"<timer {' '.join(attrs)}>"


def describe_clock(clock: Clock | None) -> str:
    if clock is None:
        return "<clock>"
    attrs = [f"offset='{clock.offset.value}'"]
    if clock.timezone is not None:
        attrs.append(f"timezone='{clock.timezone}'")
    if clock.reset:
        attrs.append("adjustment='reset'")
    elif clock.adjustment is not None:
        attrs.append(f"adjustment='{clock.adjustment}'")
    if clock.offset is Offset.VARIABLE and clock.basis is not None:
        attrs.append(f"basis='{clock.basis.value}'")
    if clock.start is not None:
        attrs.append(f"start='{clock.start}'")
    return f"<clock {' '.join(attrs)}>"
