"""Check a ``<clock offset='timezone'>`` zone against the IANA database (an edge: reads files).

QEMU applies the zone through ``TZ`` in its environment; glibc silently falls
back to UTC when the host has no such zone file, so a typo gives a guest the
wrong time without any error. guestclock refuses names that are not IANA zones
and warns when the zone exists but this host's zone database lacks it.
"""

from __future__ import annotations

import os
import zoneinfo

from .errors import XMLError

__all__ = ["check_timezone"]


def _host_has(name: str) -> bool:
    return any(os.path.isfile(os.path.join(root, name)) for root in zoneinfo.TZPATH)


def check_timezone(name: str, line: int | None = None) -> list[str]:
    """Warnings for ``name``; raises XMLError when it is not a zone at all."""
    known = zoneinfo.available_timezones()
    if not known:  # no system database: fall back to the tzdata package's list
        try:
            import importlib.resources

            text = importlib.resources.files("tzdata").joinpath("zones").read_text()
            known = set(text.split())
        except (ImportError, OSError):
            known = set()
    if name not in known:
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
