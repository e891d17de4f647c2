"""Read libosinfo's OS database files (osinfo-db ``os/*/*.xml``): pure, bytes in.

An osinfo-db OS file is ``<libosinfo><os id="URL">`` with ``<short-id>`` (one or more:
``debian11``, ``debianbullseye``), ``<name>`` (plus translations with ``xml:lang``),
``<version>``, ``<family>`` (``winnt``, ``linux``, ``darwin``, ``msdos``, ``solaris``,
``freebsd``, ...), ``<distro>`` (``win``, ``debian``, ``rhel``, ``osx``, ...) and the
links ``<derives-from id=.../>`` and ``<upgrades id=.../>``. The files are read with
guestclock's hardened reader (no DTD, bounded size and depth), keeping only those
elements.

:func:`resolve` follows ``derives-from`` (then ``upgrades``) from an entry for the
fields it lacks (a ``win-10.d`` fragment names only the id and the short id) and
records the chain it followed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from guestclock.core.read.safexml import Keep, parse_document
from guestclock.errors import MalformedXMLError, OSInfoError, shown

__all__ = [
    "OSIdentity",
    "OSInfoError",
    "OSRecord",
    "parse_os_document",
    "resolve",
    "version_tuple",
]

#: an OS file is a few kB; a whole database entry stays far below this
MAX_OS_FILE = 1024 * 1024
#: the depth of derives-from/upgrades links followed (osinfo-db's longest chain is ~40:
#: Debian 1.1 to testing); a loop is stopped by remembering what was visited
MAX_CHAIN = 64

_FIELDS = ("short-id", "name", "version", "family", "distro", "derives-from", "upgrades", "release-date")
_KEEP: Keep = {"libosinfo": {"os": {name: {} for name in _FIELDS}}}


@dataclass(frozen=True)
class OSRecord:
    """One ``<os>`` entry as osinfo-db writes it (None: the entry does not say)."""

    id: str
    short_ids: tuple[str, ...] = ()
    name: str | None = None
    version: str | None = None
    family: str | None = None
    distro: str | None = None
    derives_from: tuple[str, ...] = ()
    upgrades: tuple[str, ...] = ()
    release_date: str | None = None


@dataclass(frozen=True)
class OSIdentity:
    """An OS resolved to what the clock rules need.

    ``source`` says where the facts came from (``osinfo-db 20221203`` or
    ``guestclock's built-in table``); ``notes`` say why the built-in table served.
    """

    id: str
    short_id: str | None
    name: str | None
    family: str | None
    distro: str | None
    version: str | None
    #: the ids followed to fill in the fields, starting with this one
    chain: tuple[str, ...]
    source: str
    notes: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready description."""
        return {
            "id": self.id,
            "short_id": self.short_id,
            "name": self.name,
            "family": self.family,
            "distro": self.distro,
            "version": self.version,
            "chain": list(self.chain),
            "source": self.source,
            "notes": list(self.notes),
        }


def version_tuple(version: str | None) -> tuple[int, ...]:
    """``"10.0"`` -> ``(10, 0)``; the leading numeric parts only (``"9-unknown"`` -> ``(9,)``)."""
    if not version:
        return ()
    numbers: list[int] = []
    for part in version.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        numbers.append(int(digits[:9]))
        if len(digits) != len(part):
            break
    return tuple(numbers)


def _text(value: str) -> str | None:
    text = value.strip()
    return text if text and len(text) <= 256 and text.isprintable() else None


def parse_os_document(data: bytes, source: str) -> tuple[OSRecord, ...]:
    """The ``<os>`` entries of one osinfo-db file, or OSInfoError naming ``source``."""
    if len(data) > MAX_OS_FILE:
        raise OSInfoError(f"osinfo-db file '{shown(source)}' is {len(data)} bytes; the limit is {MAX_OS_FILE}")
    try:
        root = parse_document(data, _KEEP)
    except MalformedXMLError as exc:
        where = f" (line {exc.line})" if exc.line is not None else ""
        raise OSInfoError(f"osinfo-db file '{shown(source)}' is not readable{where}: {exc.message}") from None
    if root.tag != "libosinfo":
        raise OSInfoError(f"osinfo-db file '{shown(source)}' has root <{shown(root.tag, 64)}>, expected <libosinfo>")
    records: list[OSRecord] = []
    for element in root.findall("os"):
        os_id = _text(element.attrib.get("id", ""))
        if os_id is None:
            raise OSInfoError(f"osinfo-db file '{shown(source)}' line {element.line}: <os> without an id")
        values: dict[str, list[str]] = {name: [] for name in _FIELDS}
        for child in element.children:
            # translations (<name xml:lang="de">) are not the OS's name
            if "xml:lang" in child.attrib:
                continue
            value = (
                _text(child.attrib.get("id", "")) if child.tag in ("derives-from", "upgrades") else _text(child.text)
            )
            if value is not None:
                values[child.tag].append(value)
        records.append(
            OSRecord(
                id=os_id,
                short_ids=tuple(values["short-id"]),
                name=next(iter(values["name"]), None),
                version=next(iter(values["version"]), None),
                family=next(iter(values["family"]), None),
                distro=next(iter(values["distro"]), None),
                derives_from=tuple(values["derives-from"]),
                upgrades=tuple(values["upgrades"]),
                release_date=next(iter(values["release-date"]), None),
            )
        )
    return tuple(records)


def merge(records: Sequence[OSRecord]) -> OSRecord:
    """One record from several entries of the same id (a file and its ``.d`` fragments):
    the first value of each field wins, links are united."""
    first = records[0]

    def pick(name: str) -> str | None:
        return next((getattr(r, name) for r in records if getattr(r, name) is not None), None)

    def union(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item for r in records for item in getattr(r, name)))

    return OSRecord(
        id=first.id,
        short_ids=union("short_ids"),
        name=pick("name"),
        version=pick("version"),
        family=pick("family"),
        distro=pick("distro"),
        derives_from=union("derives_from"),
        upgrades=union("upgrades"),
        release_date=pick("release_date"),
    )


def resolve(
    start: OSRecord,
    lookup: Callable[[str], OSRecord | None],
    *,
    source: str,
    wanted: str | None = None,
    notes: tuple[str, ...] = (),
) -> OSIdentity:
    """``start`` with the fields it lacks (family, distro, version, name) taken from the
    entries it ``derives-from`` (first) or ``upgrades``, as far as needed.

    ``wanted`` is the short id the user gave (an entry may have several); ``lookup``
    finds an entry by id URL.
    """
    fields = {"family": start.family, "distro": start.distro, "version": start.version, "name": start.name}
    chain = [start.id]
    seen = {start.id}
    current: OSRecord | None = start
    while current is not None and None in (fields["family"], fields["distro"], fields["version"]):
        if len(chain) >= MAX_CHAIN:
            break
        nxt: OSRecord | None = None
        for link in (*current.derives_from, *current.upgrades):
            if link in seen:
                continue
            nxt = lookup(link)
            if nxt is not None:
                break
        current = nxt
        if current is None:
            break
        seen.add(current.id)
        chain.append(current.id)
        for key, value in list(fields.items()):
            if value is None:
                fields[key] = getattr(current, key)
    short = wanted if wanted in start.short_ids else next(iter(start.short_ids), None)
    return OSIdentity(
        id=start.id,
        short_id=short,
        name=fields["name"],
        family=fields["family"],
        distro=fields["distro"],
        version=fields["version"],
        chain=tuple(chain),
        source=source,
        notes=notes,
    )
