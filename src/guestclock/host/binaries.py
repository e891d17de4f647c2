"""QEMU binaries as files on this host: is this one runnable, which one runs a guest arch."""

from __future__ import annotations

import os
import shutil

from guestclock.core.rules.platform import binary_names
from guestclock.errors import ProbeError

__all__ = ["DEFAULT_TIMEOUT", "check_binary", "default_binary"]

#: seconds a QEMU binary gets to answer a probe (``--timeout``)
DEFAULT_TIMEOUT = 10.0


def check_binary(path: str) -> None:
    """A ProbeError unless ``path`` is an existing executable file."""
    if not os.path.exists(path):
        raise ProbeError(f"QEMU binary '{path}' does not exist", subject=path)
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise ProbeError(f"QEMU binary '{path}' is not an executable file", subject=path)


def default_binary(arch: str) -> str | None:
    """The ``qemu-system-ARCH`` on PATH that runs guests of ``arch`` (an i686 guest also
    runs on ``qemu-system-x86_64``), or None."""
    for name in binary_names(arch):
        found = shutil.which(name)
        if found:
            return found
    return None
