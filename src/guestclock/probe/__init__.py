"""What a QEMU binary can do: the cached answer for this exact file, or a probe.

A cache hit costs one ``stat`` and one small file read; the QEMU machinery
(:mod:`guestclock.qemu.probe`: asyncio, qemu.qmp, subprocess) is imported only
after a miss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestclock.errors import ProbeError
from guestclock.host.binaries import DEFAULT_TIMEOUT, check_binary

if TYPE_CHECKING:
    from guestclock.core.model.caps import Capabilities

__all__ = ["DEFAULT_TIMEOUT", "probe_binary"]


def probe_binary(path: str, *, timeout: float = DEFAULT_TIMEOUT, use_cache: bool = True) -> Capabilities:
    """What QEMU binary ``path`` can do: the cached answer for this exact file, or a probe.

    ``use_cache=False`` always probes (and does not write the cache).
    """
    from guestclock.probe import cache

    check_binary(path)
    if use_cache:
        cached = cache.load(path)
        if cached is not None:
            return cached
    from guestclock.qemu.probe import probe_qmp

    if not use_cache:
        return probe_qmp(path, timeout)
    try:
        identity = cache.binary_identity(path)
    except OSError as exc:
        raise ProbeError(f"cannot read QEMU binary '{path}': {exc.strerror}", subject=path) from None
    caps = probe_qmp(path, timeout)
    cache.store(path, caps, identity)
    return caps
