"""The installed osinfo-db (``/usr/share/osinfo``): find an OS by short id or id URL.

Debian's ``osinfo-db`` holds ~800 OS files. Parsing all of them for one lookup costs
~80 ms (measured on this machine: 77 ms with the hardened reader keeping only the
elements needed), so a lookup does not: it finds the few files that name the id
(a byte search over the files, ~15 ms warm), parses only those and the entries their
``derives-from``/``upgrades`` links lead to. Where each id and short id lives is
cached in ``$XDG_CACHE_HOME/guestclock/osinfo-*.json`` (written atomically, with a
SHA-256 checksum line), keyed by every file's path, size and mtime: an upgraded or edited
database is scanned again, and a cached lookup only stats the files and parses 1-4.
The cache says only *where* to look; what an entry says is always read from the
file itself.

Ids newer than the installed data (Debian 12 ships osinfo-db 20221203, which has no
``debian12``, ``rhel9.4``, ``fedora40``, ``macos13``, ``freebsd14``) come from a small
built-in table, and so does every id when the database is missing or a file is
corrupt; the result's ``notes`` then say so.

The directory is, in order: the ``directory`` argument, ``$GUESTCLOCK_OSINFO_DIR``,
``/usr/share/osinfo`` (each the folder that holds ``os/``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass

from guestclock.core.read.osinfo import (
    MAX_OS_FILE,
    OSIdentity,
    OSInfoError,
    OSRecord,
    merge,
    parse_os_document,
    resolve,
)
from guestclock.errors import shown

__all__ = ["BUILTIN", "DEFAULT_DIR", "known_short_ids", "lookup", "osinfo_dir"]

DEFAULT_DIR = "/usr/share/osinfo"
#: bump when the cached index changes shape
_INDEX_FORMAT = 1
_BUILTIN_SOURCE = "guestclock's built-in table"
_ID = re.compile(rb"<os\s+id\s*=\s*([\"'])([^\"'<>]{1,1024})\1")
_SHORT = re.compile(rb"<short-id>\s*([^<\s]{1,256})\s*</short-id>")
_MAX_INDEX = 16 * 1024 * 1024


def _r(*row: str) -> OSRecord:
    """(id, short ids separated by blanks, name, version, family, distro) as a record."""
    os_id, short_ids, name, version, family, distro = row
    return OSRecord(
        id=os_id, short_ids=tuple(short_ids.split()), name=name, version=version, family=family, distro=distro
    )


#: the OSes guestclock's examples and tests name, and the releases newer than Debian 12's
#: osinfo-db 20221203; ids, short ids, versions, families and distros as osinfo-db spells
#: them (osinfo-db has no macOS after 10.7: those ids follow its pattern)
BUILTIN: tuple[OSRecord, ...] = (
    _r("http://microsoft.com/msdos/6.22", "msdos6.22", "Microsoft MS-DOS 6.22", "6.22", "msdos", "msdos"),
    _r("http://freedos.org/freedos/1.3", "freedos1.3", "FreeDOS 1.3", "1.3", "msdos", "freedos"),
    _r("http://microsoft.com/win/98", "win98", "Microsoft Windows 98", "4.1", "win9x", "win"),
    _r("http://microsoft.com/win/xp", "winxp", "Microsoft Windows XP", "5.1", "winnt", "win"),
    _r("http://microsoft.com/win/2k3", "win2k3", "Microsoft Windows Server 2003", "5.2", "winnt", "win"),
    _r("http://microsoft.com/win/vista", "winvista", "Microsoft Windows Vista", "6.0", "winnt", "win"),
    _r("http://microsoft.com/win/2k8", "win2k8", "Microsoft Windows Server 2008", "6.0", "winnt", "win"),
    _r("http://microsoft.com/win/7", "win7", "Microsoft Windows 7", "6.1", "winnt", "win"),
    _r("http://microsoft.com/win/2k8r2", "win2k8r2", "Microsoft Windows Server 2008 R2", "6.1", "winnt", "win"),
    _r("http://microsoft.com/win/8", "win8", "Microsoft Windows 8", "6.2", "winnt", "win"),
    _r("http://microsoft.com/win/8.1", "win8.1", "Microsoft Windows 8.1", "6.3", "winnt", "win"),
    _r("http://microsoft.com/win/2k12", "win2k12", "Microsoft Windows Server 2012", "6.3", "winnt", "win"),
    _r("http://microsoft.com/win/2k12r2", "win2k12r2", "Microsoft Windows Server 2012 R2", "6.3", "winnt", "win"),
    _r("http://microsoft.com/win/10", "win10", "Microsoft Windows 10", "10.0", "winnt", "win"),
    _r("http://microsoft.com/win/2k16", "win2k16", "Microsoft Windows Server 2016", "10.0", "winnt", "win"),
    _r("http://microsoft.com/win/2k19", "win2k19", "Microsoft Windows Server 2019", "10.0", "winnt", "win"),
    _r("http://microsoft.com/win/2k22", "win2k22", "Microsoft Windows Server 2022", "10.0", "winnt", "win"),
    _r("http://microsoft.com/win/2k25", "win2k25", "Microsoft Windows Server 2025", "10.0", "winnt", "win"),
    _r("http://microsoft.com/win/11", "win11", "Microsoft Windows 11", "11.0", "winnt", "win"),
    _r("http://debian.org/debian/10", "debian10 debianbuster", "Debian 10", "10", "linux", "debian"),
    _r("http://debian.org/debian/11", "debian11 debianbullseye", "Debian 11", "11", "linux", "debian"),
    _r("http://debian.org/debian/12", "debian12 debianbookworm", "Debian 12", "12", "linux", "debian"),
    _r("http://debian.org/debian/13", "debian13 debiantrixie", "Debian 13", "13", "linux", "debian"),
    _r("http://redhat.com/rhel/7.9", "rhel7.9", "Red Hat Enterprise Linux 7.9", "7.9", "linux", "rhel"),
    _r("http://redhat.com/rhel/8.10", "rhel8.10", "Red Hat Enterprise Linux 8.10", "8.10", "linux", "rhel"),
    *(
        _r(f"http://redhat.com/rhel/9.{n}", f"rhel9.{n}", f"Red Hat Enterprise Linux 9.{n}", f"9.{n}", "linux", "rhel")
        for n in range(7)
    ),
    _r("http://redhat.com/rhel/10.0", "rhel10.0", "Red Hat Enterprise Linux 10.0", "10.0", "linux", "rhel"),
    *(
        _r(f"http://fedoraproject.org/fedora/{n}", f"fedora{n}", f"Fedora Linux {n}", str(n), "linux", "fedora")
        for n in range(36, 43)
    ),
    _r("http://ubuntu.com/ubuntu/22.04", "ubuntu22.04 ubuntujammy", "Ubuntu 22.04 LTS", "22.04", "linux", "ubuntu"),
    _r("http://ubuntu.com/ubuntu/24.04", "ubuntu24.04 ubuntunoble", "Ubuntu 24.04 LTS", "24.04", "linux", "ubuntu"),
    _r("http://apple.com/macosx/10.7", "macosx10.7", "MacOS X Lion", "10.7", "darwin", "osx"),
    _r("http://apple.com/macos/13", "macos13", "macOS 13 Ventura", "13", "darwin", "macos"),
    _r("http://apple.com/macos/14", "macos14", "macOS 14 Sonoma", "14", "darwin", "macos"),
    _r("http://apple.com/macos/15", "macos15", "macOS 15 Sequoia", "15", "darwin", "macos"),
    _r("http://freebsd.org/freebsd/13.2", "freebsd13.2", "FreeBSD 13.2", "13.2", "freebsd", "freebsd"),
    *(
        _r(f"http://freebsd.org/freebsd/14.{n}", f"freebsd14.{n}", f"FreeBSD 14.{n}", f"14.{n}", "freebsd", "freebsd")
        for n in range(3)
    ),
    # osinfo-db names a release line without a minor version only through its newest entry;
    # "freebsd14" is what people type (and what issue 13 names)
    _r("http://freebsd.org/freebsd/14", "freebsd14", "FreeBSD 14", "14", "freebsd", "freebsd"),
    _r("http://sun.com/solaris/10", "solaris10", "Solaris 10", "10", "solaris", "solaris"),
    _r("http://oracle.com/solaris/11", "solaris11", "Oracle Solaris 11", "11", "solaris", "solaris"),
)


def osinfo_dir(directory: str | None = None) -> str:
    """The osinfo-db folder to read (the one holding ``os/``)."""
    return directory or os.environ.get("GUESTCLOCK_OSINFO_DIR") or DEFAULT_DIR


def _cache_dir(cache_dir: str | None) -> str:
    if cache_dir is not None:
        return cache_dir
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "guestclock")


@dataclass(frozen=True)
class _Index:
    """Where each id and short id of one osinfo-db lives (paths relative to ``os/``)."""

    base: str
    version: str
    ids: dict[str, list[str]]
    short_ids: dict[str, list[str]]


def _files(os_dir: str) -> list[tuple[str, int, int]]:
    """Every ``*.xml`` below ``os_dir``: (relative path, size, mtime in ns), sorted."""
    found: list[tuple[str, int, int]] = []
    for root, dirs, names in os.walk(os_dir):
        dirs.sort()
        for name in names:
            if not name.endswith(".xml"):
                continue
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                info = os.stat(path)
                found.append((os.path.relpath(path, os_dir), info.st_size, info.st_mtime_ns))
    found.sort()
    return found


def _db_version(base: str) -> str:
    try:
        with open(os.path.join(base, "VERSION"), "rb") as handle:
            text = handle.read(64).decode("ascii", "replace").strip()
    except OSError:
        return "(no VERSION)"
    return text if text.isprintable() and text else "(unreadable VERSION)"


def _stamp(base: str, files: list[tuple[str, int, int]]) -> str:
    digest = hashlib.sha256()
    digest.update(os.path.realpath(base).encode("utf-8", "surrogateescape"))
    for rel, size, mtime in files:
        digest.update(f"\0{rel}\0{size}\0{mtime}".encode("utf-8", "surrogateescape"))
    with contextlib.suppress(OSError):
        info = os.stat(os.path.join(base, "VERSION"))
        digest.update(f"\0VERSION\0{info.st_size}\0{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def _index_path(base: str, cache_dir: str | None) -> str:
    key = hashlib.sha256(os.path.realpath(base).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return os.path.join(_cache_dir(cache_dir), f"osinfo-{key}.json")


def _load_index(path: str, stamp: str, base: str) -> _Index | None:
    """The cached index, when it is intact (its checksum line matches) and of these files."""
    import json

    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_INDEX + 1)
    except OSError:
        return None
    checksum, _newline, text = raw.partition(b"\n")
    if len(raw) > _MAX_INDEX or hashlib.sha256(text).hexdigest().encode("ascii") != checksum:
        return None
    try:
        body = json.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or body.get("format") != _INDEX_FORMAT or body.get("stamp") != stamp:
        return None
    ids, short_ids, version = body.get("ids"), body.get("short_ids"), body.get("version")
    if not (isinstance(ids, dict) and isinstance(short_ids, dict) and isinstance(version, str)):
        return None
    for table in (ids, short_ids):
        for key, value in table.items():
            if not isinstance(key, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return None
    return _Index(base, version, ids, short_ids)


def _scan(base: str, files: list[tuple[str, int, int]]) -> _Index:
    """Where each id and short id is named (a byte search: it only says where to look)."""
    os_dir = os.path.join(base, "os")
    ids: dict[str, list[str]] = {}
    short_ids: dict[str, list[str]] = {}
    for rel, size, _mtime in files:
        if size > MAX_OS_FILE:
            continue  # parse_os_document refuses it anyway; the lookup then says why
        try:
            with open(os.path.join(os_dir, rel), "rb") as handle:
                data = handle.read(MAX_OS_FILE + 1)
        except OSError:
            continue
        for match in _ID.finditer(data):
            ids.setdefault(match.group(2).decode("utf-8", "replace"), []).append(rel)
        for match in _SHORT.finditer(data):
            short_ids.setdefault(match.group(1).decode("utf-8", "replace"), []).append(rel)
    return _Index(base, _db_version(base), ids, short_ids)


def _index(base: str, cache_dir: str | None, use_cache: bool) -> _Index | None:
    """The index of the database at ``base``, from the cache when it still matches; None
    when there is no database there."""
    os_dir = os.path.join(base, "os")
    if not os.path.isdir(os_dir):
        return None
    files = _files(os_dir)
    if not files:
        return None
    stamp = _stamp(base, files)
    path = _index_path(base, cache_dir)
    if use_cache:
        cached = _load_index(path, stamp, base)
        if cached is not None:
            return cached
    index = _scan(base, files)
    if use_cache:
        import json

        from guestclock.host.files import atomic_write  # tempfile and shutil: only when writing

        body = {
            "format": _INDEX_FORMAT,
            "directory": os.path.realpath(base),
            "stamp": stamp,
            "version": index.version,
            "ids": index.ids,
            "short_ids": index.short_ids,
        }
        # a cache that cannot be written is no error: the next lookup scans again
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            text = json.dumps(body, sort_keys=True).encode("utf-8")
            # first line: the SHA-256 of the rest, so a torn or edited entry is never trusted
            atomic_write(path, hashlib.sha256(text).hexdigest().encode("ascii") + b"\n" + text, 0o600)
    return index


class _Reader:
    """Parses the files of one index on demand, once each, and remembers what failed."""

    def __init__(self, index: _Index) -> None:
        self.index = index
        self.parsed: dict[str, tuple[OSRecord, ...]] = {}
        self.broken: list[str] = []

    def records_in(self, rel: str) -> tuple[OSRecord, ...]:
        if rel in self.parsed:
            return self.parsed[rel]
        path = os.path.join(self.index.base, "os", rel)
        records: tuple[OSRecord, ...] = ()
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_OS_FILE + 1)
            records = parse_os_document(data, path)
        except OSError as exc:
            self.broken.append(f"osinfo-db file '{shown(path)}' cannot be read: {exc.strerror}")
        except OSInfoError as exc:
            self.broken.append(exc.message)
        self.parsed[rel] = records
        return records

    def by_id(self, os_id: str) -> OSRecord | None:
        found = [r for rel in self.index.ids.get(os_id, []) for r in self.records_in(rel) if r.id == os_id]
        return merge(found) if found else None

    def by_short_id(self, short_id: str) -> OSRecord | None:
        for rel in self.index.short_ids.get(short_id, []):
            for record in self.records_in(rel):
                if short_id in record.short_ids:
                    return self.by_id(record.id) or record
        return None


def _builtin(ref: str) -> OSRecord | None:
    for record in BUILTIN:
        if ref == record.id or ref in record.short_ids:
            return record
    return None


def _builtin_lookup(os_id: str) -> OSRecord | None:
    return next((record for record in BUILTIN if record.id == os_id), None)


def known_short_ids(directory: str | None = None, *, cache_dir: str | None = None) -> list[str]:
    """Every short id the installed database and the built-in table know, sorted."""
    index = _index(osinfo_dir(directory), cache_dir, True)
    names = set(index.short_ids) if index is not None else set()
    names.update(short for record in BUILTIN for short in record.short_ids)
    return sorted(names)


def lookup(
    ref: str,
    *,
    directory: str | None = None,
    cache_dir: str | None = None,
    use_cache: bool = True,
) -> OSIdentity:
    """The OS that ``ref`` (a short id such as ``win11`` or an id URL such as
    ``http://microsoft.com/win/11``) names, with its family and version.

    Raises OSInfoError for an id neither the installed database nor the built-in table
    knows; its message and ``suggestions`` name the nearest known ids.
    """
    ref = ref.strip()
    if not ref or len(ref) > 1024 or not ref.isprintable():
        raise OSInfoError(f"invalid OS id '{shown(ref)}': expected a libosinfo short id or id URL", subject=ref)
    base = osinfo_dir(directory)
    index = _index(base, cache_dir, use_cache)
    notes: list[str] = []
    if index is None:
        why = f"no osinfo-db at {base} (install osinfo-db, or point GUESTCLOCK_OSINFO_DIR at one)"
    else:
        reader = _Reader(index)
        record = reader.by_id(ref) if "://" in ref else reader.by_short_id(ref)
        if record is not None:

            def parent(os_id: str) -> OSRecord | None:
                return reader.by_id(os_id) or _builtin_lookup(os_id)

            identity = resolve(record, parent, source=f"osinfo-db {index.version}", wanted=ref)
            if reader.broken:
                identity = _with_notes(identity, reader.broken)
            return identity
        notes.extend(reader.broken)
        named = ref in index.ids or ref in index.short_ids
        why = (
            f"osinfo-db {index.version} at {base} names '{shown(ref)}' only in a file it cannot read"
            if named
            else f"'{shown(ref)}' is not in osinfo-db {index.version} at {base}"
        )
    record = _builtin(ref)
    if record is not None:
        notes.append(f"{why}; {_BUILTIN_SOURCE} serves it")
        return resolve(record, _builtin_lookup, source=_BUILTIN_SOURCE, wanted=ref, notes=tuple(notes))
    import difflib

    candidates: set[str] = {short for r in BUILTIN for short in r.short_ids}
    if index is not None:
        candidates.update(index.short_ids)
        if "://" in ref:
            candidates.update(index.ids)
    if "://" in ref:
        candidates.update(r.id for r in BUILTIN)
    nearest = tuple(difflib.get_close_matches(ref, sorted(candidates), n=5, cutoff=0.6))
    hint = f"; nearest known: {', '.join(nearest)}" if nearest else "; 'osinfo-query os' lists the known ids"
    where = (
        f"{why}, and {_BUILTIN_SOURCE} does not know it either"
        if index is None
        else f"not in osinfo-db {index.version} at {base} nor in {_BUILTIN_SOURCE}"
    )
    broken = f" ({'; '.join(notes)})" if notes else ""
    raise OSInfoError(f"unknown OS '{shown(ref)}': {where}{hint}{broken}", subject=ref, suggestions=nearest)


def _with_notes(identity: OSIdentity, notes: list[str]) -> OSIdentity:
    from dataclasses import replace

    return replace(identity, notes=(*identity.notes, *notes))
