"""``matrix``: read a folder of capability sets and translate one clock for each.

``DIR`` holds libvirt's recorded dumps (``caps_*.xml``, e.g. libvirt's
``tests/qemucapabilitiesdata``) and saved ``qemu -help`` texts (``*.help`` or
``*.help.txt``).
"""

from __future__ import annotations

import os
import re

from guestclock.core.model.caps import Capabilities
from guestclock.core.rules.platform import DEFAULT_ARCH
from guestclock.errors import CapabilityError

__all__ = ["load_caps_dir"]

_MAX_FILE = 16 * 1024 * 1024
_HELP_SUFFIXES = (".help", ".help.txt")


def _version_sort_key(item: tuple[str, Capabilities]) -> tuple[tuple[int, int, int], str, str]:
    name, caps = item
    return (caps.version or (0, 0, 0), caps.arch or "", name)


def load_caps_dir(directory: str) -> list[tuple[str, Capabilities]]:
    """Every capability set in ``directory``, oldest QEMU first (file name, capabilities)."""
    from guestclock.core.read.capsdump import load_libvirt_caps
    from guestclock.core.read.helptext import parse_help

    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise CapabilityError(f"cannot read --caps-dir '{directory}': {exc.strerror}", subject=directory) from None
    found: list[tuple[str, Capabilities]] = []
    for name in names:
        path = os.path.join(directory, name)
        is_dump = name.endswith(".xml")
        is_help = name.endswith(_HELP_SUFFIXES)
        if not (is_dump or is_help) or not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_FILE)
        except OSError as exc:
            raise CapabilityError(f"cannot read '{path}': {exc.strerror}", subject=path) from None
        if is_dump:
            if b"<qemuCaps" not in data[:4096]:
                continue  # some other XML (a domain, a README in XML): not a capability set
            found.append((name, load_libvirt_caps(data, source=f"libvirt-caps:{name}")))
        else:
            arch_match = re.search(r"\.(x86_64|i686|aarch64|s390x|ppc64le?)\.", name)
            arch = arch_match.group(1) if arch_match else DEFAULT_ARCH
            text = data.decode("utf-8", "replace")
            found.append((name, parse_help(text, arch=arch, source=f"help:{name}").capabilities))
    found.sort(key=_version_sort_key)
    return found
