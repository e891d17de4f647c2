"""Which QEMU a command is about: one of the capability sources, resolved to :class:`Capabilities`.

The sources, at most one of which a command names:

==============  ===============================================================
``binary``      probe that QEMU binary (cached per binary file)
``version``     estimate from QEMU's option history (the result says it is an estimate)
``help``        a saved ``qemu -help`` text (QEMU 0.9-1.x)
``caps``        a libvirt ``<qemuCaps>`` dump
``default``     the domain's ``qemu-system-ARCH`` on PATH, else the newest QEMU guestclock knows
==============  ===============================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from guestclock.core.model.caps import Capabilities
from guestclock.core.rules.platform import DEFAULT_ARCH
from guestclock.host.binaries import DEFAULT_TIMEOUT, default_binary

__all__ = ["QemuSource", "ResolvedQemu", "SourceKind", "resolve_qemu"]

#: the largest -help text or capability dump read (parse_help refuses more than 4 MiB)
_MAX_SOURCE = 16 * 1024 * 1024


class SourceKind(enum.Enum):
    """What a :class:`QemuSource` names."""

    BINARY = "binary"
    VERSION = "version"
    HELP = "help"
    CAPS = "caps"
    DEFAULT = "default"


@dataclass(frozen=True)
class QemuSource:
    """A capability source as a command line names it (``--qemu``, ``--qemu-version``, ...)."""

    kind: SourceKind = SourceKind.DEFAULT
    value: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    use_cache: bool = True

    @property
    def names_any_arch(self) -> bool:
        """True when the source is one QEMU whatever the guest's arch (a binary, a dump)."""
        return self.kind in (SourceKind.BINARY, SourceKind.CAPS)


@dataclass(frozen=True)
class ResolvedQemu:
    """The capabilities of the QEMU a source names, the binary (when one was probed) and notes
    for the user (which binary was picked, or that none was found)."""

    caps: Capabilities
    binary: str | None = None
    notes: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        """The JSON description of this QEMU (capabilities plus the binary)."""
        described = dict(self.caps.to_json())
        described["binary"] = self.binary
        return described


def _read(path: str) -> bytes:
    from guestclock.host.files import read_input

    return read_input(path, _MAX_SOURCE)


def resolve_qemu(source: QemuSource, arch: str | None) -> ResolvedQemu:
    """The capabilities ``source`` names, for a guest of ``arch`` (None: the default arch)."""
    from guestclock.core.rules.history import NEWEST_KNOWN, caps_for_version

    guest_arch = arch or DEFAULT_ARCH
    if source.kind is SourceKind.VERSION:
        assert source.value is not None
        return ResolvedQemu(caps_for_version(source.value, guest_arch))
    if source.kind is SourceKind.HELP:
        from guestclock.core.read.helptext import parse_help

        assert source.value is not None
        text = _read(source.value)[: 8 * 1024 * 1024].decode("utf-8", "replace")
        return ResolvedQemu(parse_help(text, arch=guest_arch, source=f"help:{source.value}").capabilities)
    if source.kind is SourceKind.CAPS:
        from guestclock.core.read.capsdump import load_libvirt_caps

        assert source.value is not None
        return ResolvedQemu(load_libvirt_caps(_read(source.value), source=f"libvirt-caps:{source.value}"))
    from guestclock.probe import probe_binary

    if source.kind is SourceKind.BINARY:
        assert source.value is not None
        caps = probe_binary(source.value, timeout=source.timeout, use_cache=source.use_cache)
        return ResolvedQemu(caps, source.value)
    binary = default_binary(guest_arch)
    if binary is None:
        caps = caps_for_version(NEWEST_KNOWN, guest_arch)
        note = f"no qemu-system-{guest_arch} on PATH; using the built-in capabilities of QEMU {caps.version_string}"
        return ResolvedQemu(caps, None, (note,))
    caps = probe_binary(binary, timeout=source.timeout, use_cache=source.use_cache)
    return ResolvedQemu(caps, binary, (f"using {binary} (QEMU {caps.version_string})",))
