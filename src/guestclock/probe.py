"""Ask a QEMU binary what it can do (the edge that runs processes).

This module runs ``BINARY -help`` with a time limit and hands the text to the
pure :func:`guestclock.helpparse.parse_help`; QEMU that predates QMP (0.9-1.x)
can be asked no other way. For a QMP-era binary the ``-help`` text shows the
version and the old options only, so the CPU and device properties come from
the version's option history and the result says so.
"""

from __future__ import annotations

import os
import re
import subprocess

from .caps import Capabilities
from .errors import CapabilityError, ProbeError
from .helpparse import parse_help
from .versions import caps_for_version

__all__ = ["DEFAULT_TIMEOUT", "arch_of_binary", "probe_help", "run_help"]

DEFAULT_TIMEOUT = 10.0
_ARCH = re.compile(r"qemu-system-([a-z0-9_]+)$")


def arch_of_binary(path: str) -> str:
    """``qemu-system-aarch64`` -> ``aarch64``; plain ``qemu``/``kvm`` builds were x86."""
    match = _ARCH.search(os.path.basename(path))
    if match is None:
        return "x86_64"
    arch = match.group(1)
    return "i686" if arch == "i386" else arch


def run_help(path: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The ``-help`` output of ``path`` (bounded in time; no process is left behind)."""
    if not os.path.exists(path):
        raise ProbeError(f"QEMU binary '{path}' does not exist", subject=path)
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise ProbeError(f"QEMU binary '{path}' is not an executable file", subject=path)
    try:
        result = subprocess.run(
            [path, "-help"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ProbeError(f"QEMU binary '{path}' did not answer -help within {timeout:g} s", subject=path) from None
    except OSError as exc:
        raise ProbeError(f"cannot run QEMU binary '{path}': {exc.strerror}", subject=path) from None
    if result.returncode < 0:
        raise ProbeError(f"QEMU binary '{path}' was killed by signal {-result.returncode}", subject=path)
    return result.stdout.decode("utf-8", "replace")


def probe_help(path: str, timeout: float = DEFAULT_TIMEOUT) -> Capabilities:
    """Capabilities of ``path`` from its ``-help`` text."""
    text = run_help(path, timeout)
    arch = arch_of_binary(path)
    try:
        info = parse_help(text, arch=arch, source=f"help:{path}")
    except CapabilityError as exc:
        raise ProbeError(f"'{path}' is not QEMU: {exc.message}", subject=path) from None
    caps = info.capabilities
    if info.version >= (1, 2, 0):
        # QMP-era QEMU: -help does not show device or CPU properties
        history = caps_for_version(info.version, arch)
        caps = Capabilities(
            caps=caps.caps | history.caps,
            source=caps.source,
            version=info.version,
            arch=arch,
            estimated=True,
            default_machine=history.default_machine,
            notes=(
                f"'{path}' was read through -help only; device and CPU properties are "
                f"estimated from QEMU {'.'.join(map(str, info.version))}'s option history",
            ),
        )
    return caps
