"""The edge that reads the host's clock and time zone for the pure translation."""

from __future__ import annotations

import datetime as _dt
import time

from guestclock.core.model.argv import Now
from guestclock.errors import GuestclockError

__all__ = ["host_now", "parse_now"]


def host_now(epoch: int | None = None) -> Now:
    """``Now`` for ``epoch`` (default: the current second) with the process's UTC offset.

    The offset comes from the C library's view of ``TZ``, as libvirt's does, so
    POSIX strings such as ``TZ=VIR00:30`` (libvirt's test zone) work.
    """
    if epoch is None:
        epoch = int(time.time())
    return Now(epoch=epoch, utc_offset=time.localtime(epoch).tm_gmtoff)


def parse_now(text: str) -> Now:
    """``--now``: ISO 8601 (a time without a zone is UTC) or ``@EPOCH``."""
    try:
        if text.startswith("@"):
            epoch = int(text[1:])
        else:
            moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_dt.UTC)
            epoch = int(moment.timestamp())
        if not -62135596800 <= epoch <= 253402300799:
            raise ValueError
        return host_now(epoch)
    except (ValueError, OverflowError, OSError):
        raise GuestclockError(
            f"invalid --now '{text}': expected ISO 8601 (2009-02-13T23:31:30Z) or @EPOCH",
            subject="--now",
        ) from None
