"""Check a ``<clock offset='timezone'>`` zone against the IANA database (an edge: reads files).

QEMU applies the zone through ``TZ`` in its environment; glibc silently falls
back to UTC when the host has no such zone file, so a typo gives a guest the
wrong time without any error. guestclock refuses names that are not IANA zones
and warns when the zone exists but this host's zone database lacks it.
"""

from __future__ import annotations

import functools
import os
import zoneinfo

from guestclock.errors import XMLError

__all__ = ["check_timezone"]


def _host_has(name: str) -> bool:
    return any(os.path.isfile(os.path.join(root, name)) for root in zoneinfo.TZPATH)


@functools.cache
def _iana_names() -> frozenset[str]:
    """The IANA zone names: the tzdata package's list (one small file), else the host's.

    ``zoneinfo.available_timezones()`` walks the whole zone directory (~10 ms),
    which a fleet run would pay once per zone and worker.
    """
    try:
        import importlib.resources

        return frozenset(importlib.resources.files("tzdata").joinpath("zones").read_text().split())
    except (ImportError, OSError):
        return frozenset(zoneinfo.available_timezones())


def _is_zone(name: str) -> bool:
    if name in _iana_names():
        return True
    try:  # a zone newer than the tzdata package, present on this host
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def check_timezone(name: str, line: int | None = None) -> list[str]:
    """Warnings for ``name``; raises XMLError when it is not a zone at all."""
    if not _is_zone(name):
        raise XMLError(
            f"unknown time zone '{name}' in <clock offset='timezone'>: not in the IANA time zone database",
            line=line,
            element="clock",
            attribute="timezone",
            value=name,
        )
    if not _host_has(name):
        return [
            f"this host has no zone file for '{name}'; QEMU silently falls back to UTC "
            "when the zone is missing on the host that runs the guest"
        ]
    return []
