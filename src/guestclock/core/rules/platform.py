"""Platform facts: architectures, their QEMU binaries, default machine types and CPU models,
the grammar of names that go into QEMU options, and the range of dates libvirt accepts.

One place for what was restated across the package: libvirt calls the 32-bit PC
``i686`` where QEMU's target (and binary) is ``i386``; the PC timers exist on the two
x86 arches only; a domain that names no arch is ``x86_64``.
"""

from __future__ import annotations

import re

__all__ = [
    "DEFAULT_ARCH",
    "INT64_MAX",
    "MAX_EPOCH",
    "MIN_EPOCH",
    "NAME",
    "X86_ARCHES",
    "arch_from_target",
    "arch_of_binary_name",
    "binary_names",
    "default_cpu_model",
    "default_machine",
    "emulates",
    "is_name",
    "target_of_arch",
]

#: the arch of a domain (or a bare ``<clock>``) that names none, as libvirt assumes
DEFAULT_ARCH = "x86_64"

#: architectures on which the PC timers (pit, hpet, tsc, kvmclock, hypervclock) exist
X86_ARCHES = frozenset({"i686", "x86_64"})

#: libvirt's arch name -> QEMU's target name, where they differ
_TARGETS = {"i686": "i386"}
_ARCHES = {target: arch for arch, target in _TARGETS.items()}

#: a machine type, CPU model or arch as a word of ``-machine``/``-cpu`` or a binary name:
#: QEMU's option parser splits on ',' and reads 'a=b' as a property, and a '/' would change
#: which binary is looked up, so nothing else may appear
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")

#: libvirt's limit for ``<clock offset='absolute' start=...>``: 9999-12-31T23:59:59Z
MAX_EPOCH = 253402300799
#: 0001-01-01T00:00:00Z
MIN_EPOCH = -62135596800
#: QEMU's integer properties (``tsc-frequency``) are int64
INT64_MAX = 2**63 - 1

_BINARY = re.compile(r"qemu-system-([a-z0-9_]+)$")


def is_name(value: str) -> bool:
    """True when ``value`` can stand as a machine type, CPU model or arch in a QEMU option."""
    return NAME.fullmatch(value) is not None


def target_of_arch(arch: str) -> str:
    """libvirt's arch -> QEMU's target (``i686`` -> ``i386``)."""
    return _TARGETS.get(arch, arch)


def arch_from_target(target: str) -> str:
    """QEMU's target -> libvirt's arch (``i386`` -> ``i686``)."""
    return _ARCHES.get(target, target)


def binary_names(arch: str) -> tuple[str, ...]:
    """The QEMU binaries that run guests of ``arch``, preferred first: an i686 guest also
    runs on ``qemu-system-x86_64``."""
    own = f"qemu-system-{target_of_arch(arch)}"
    return (own, "qemu-system-x86_64") if arch == "i686" else (own,)


def arch_of_binary_name(path: str) -> str:
    """``.../qemu-system-aarch64`` -> ``aarch64``; plain ``qemu``, ``qemu-kvm`` and ``kvm``
    builds were x86."""
    match = _BINARY.search(path.rsplit("/", 1)[-1])
    return arch_from_target(match.group(1)) if match else DEFAULT_ARCH


def emulates(qemu_arch: str, guest_arch: str) -> bool:
    """True when a QEMU of ``qemu_arch`` runs a guest of ``guest_arch`` (x86_64 runs i686)."""
    return qemu_arch == guest_arch or (guest_arch == "i686" and qemu_arch == "x86_64")


def default_machine(arch: str) -> str | None:
    """The machine type QEMU picks without ``-machine`` when the capability source does not say
    (``pc`` on x86; aarch64 has no default and libvirt picks ``virt``)."""
    if arch in X86_ARCHES:
        return "pc"
    if arch == "aarch64":
        return "virt"
    return None


def default_cpu_model(arch: str, virt_type: str) -> str:
    """The ``-cpu`` model libvirt uses when the domain names none and the clock needs ``-cpu``."""
    if arch == "i686":
        return "qemu32"
    if arch == "x86_64":
        return "qemu64"
    return "host" if virt_type == "kvm" else "max"
