"""The probe's answers, kept on disk per QEMU binary (an edge: reads and writes files).

An entry belongs to one binary file: its real path, size, modification time (ns),
inode and device. A rebuilt, upgraded or replaced binary changes at least one of
them and is probed again. Entries live in ``$XDG_CACHE_HOME/guestclock`` (default
``~/.cache/guestclock``), are written atomically, and carry a SHA-256 of their
content: a truncated, edited or otherwise corrupt entry is ignored (and then
overwritten), never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import replace

from guestclock.core.model.caps import Capabilities
from guestclock.host.files import atomic_write

__all__ = ["binary_identity", "cache_dir", "entry_path", "load", "store"]

#: bump when the probe learns to ask something new: older entries are then ignored
CACHE_FORMAT = 3  # 2: capability records carry the machine list; 3: Hyper-V and invtsc properties
_MAX_ENTRY = 1024 * 1024


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/guestclock``, or ``~/.cache/guestclock``."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "guestclock")


def binary_identity(path: str) -> dict[str, object]:
    """What makes a binary the same binary: real path, size, mtime, inode, device."""
    real = os.path.realpath(path)
    info = os.stat(real)
    return {
        "path": real,
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "inode": info.st_ino,
        "device": info.st_dev,
    }


def _version() -> str:
    from guestclock import __version__

    return __version__


def entry_path(identity: dict[str, object]) -> str:
    """The cache file for a binary identity."""
    key = json.dumps({"binary": identity, "format": CACHE_FORMAT, "guestclock": _version()}, sort_keys=True)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return os.path.join(cache_dir(), f"{digest}.json")


def _checksum(body: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def load(path: str) -> Capabilities | None:
    """The cached capabilities of binary ``path``, or None (no entry, stale or corrupt)."""
    try:
        identity = binary_identity(path)
        with open(entry_path(identity), "rb") as handle:
            raw = handle.read(_MAX_ENTRY + 1)
    except OSError:
        return None
    if len(raw) > _MAX_ENTRY:
        return None
    try:
        record = json.loads(raw.decode("utf-8"))
        if not isinstance(record, dict):
            return None
        body = record.get("body")
        if not isinstance(body, dict) or record.get("checksum") != _checksum(body):
            return None
        if body.get("binary") != identity or body.get("format") != CACHE_FORMAT:
            return None
        data = body.get("capabilities")
        notes = body.get("notes")
        if not isinstance(data, dict) or not isinstance(notes, list):
            return None
        caps = Capabilities.from_json(data)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    return replace(caps, notes=tuple(str(note) for note in notes))


def store(path: str, caps: Capabilities, identity: dict[str, object] | None = None) -> None:
    """Remember ``caps`` for binary ``path`` (``identity`` as it was when probing began).

    A cache that cannot be written is not an error: the next call probes again.
    """
    with contextlib.suppress(OSError):
        if identity is None:
            identity = binary_identity(path)
        body: dict[str, object] = {
            "format": CACHE_FORMAT,
            "binary": identity,
            "capabilities": caps.to_json(),
            "notes": list(caps.notes),
        }
        record = {"body": body, "checksum": _checksum(body)}
        target = entry_path(identity)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        atomic_write(target, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8"), 0o600)
