"""Whether this host's ``/dev/kvm`` can be used (an edge: opens a device)."""

from __future__ import annotations

import os

__all__ = ["kvm_usable"]


def kvm_usable() -> bool:
    """True when /dev/kvm can be opened for reading and writing."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True
