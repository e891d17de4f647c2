"""The library pipeline every command runs: read -> zone check -> resolve the QEMU -> translate.

``--arch``, ``--virt-type`` and ``--machine`` have one meaning everywhere: they fill in
what the document does not say (a bare ``<clock>`` says none of them); a ``<domain>``'s
own values win.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from guestclock.core.model.argv import Now, Translation
from guestclock.core.model.domain import Domain, Offset
from guestclock.core.read.domain import ReadResult, read_domain
from guestclock.core.read.safexml import MAX_BYTES
from guestclock.errors import MalformedXMLError, XMLError
from guestclock.workflows.qemu_source import QemuSource, ResolvedQemu, resolve_qemu

__all__ = [
    "NO_DEFAULTS",
    "DomainDefaults",
    "TranslateResult",
    "load_domain",
    "read_domain_file",
    "translate_domain",
    "translate_file",
    "zone_warnings",
]


@dataclass(frozen=True)
class DomainDefaults:
    """What a document that does not say it is taken to say (``--arch``, ``--virt-type``, ``--machine``)."""

    arch: str | None = None
    virt_type: str | None = None
    machine: str | None = None

    def apply(self, domain: Domain) -> Domain:
        """``domain`` with its missing arch, type and machine filled in."""
        if (
            (self.arch and not domain.arch)
            or (self.virt_type and not domain.virt_type)
            or (self.machine and not domain.machine)
        ):
            return replace(
                domain,
                arch=domain.arch or self.arch,
                virt_type=domain.virt_type or self.virt_type,
                machine=domain.machine or self.machine,
            )
        return domain


#: a document taken as it is
NO_DEFAULTS = DomainDefaults()


@dataclass(frozen=True)
class TranslateResult:
    """One domain translated for one QEMU, with every warning of the way there."""

    domain: Domain
    translation: Translation
    qemu: ResolvedQemu
    #: reading and zone warnings, then the translation's, each once
    warnings: tuple[str, ...]


def read_domain_file(path: str) -> ReadResult:
    """Read the domain or ``<clock>`` in file ``path`` (``-``: standard input)."""
    from guestclock.host.files import read_input

    data = read_input(path, MAX_BYTES)
    if len(data) > MAX_BYTES:
        raise MalformedXMLError(f"document is larger than {MAX_BYTES} bytes; guestclock reads at most that")
    return read_domain(data)


def load_domain(path: str, defaults: DomainDefaults = NO_DEFAULTS) -> ReadResult:
    """:func:`read_domain_file` with ``defaults`` filled in."""
    result = read_domain_file(path)
    domain = defaults.apply(result.domain)
    return result if domain is result.domain else ReadResult(domain, result.warnings)


@functools.lru_cache(maxsize=1024)
def _zone_check(name: str) -> tuple[tuple[str, ...], str | None]:
    """The zone check once per zone (it reads the zone database): warnings, or the refusal."""
    from guestclock.host.zones import check_timezone

    try:
        return tuple(check_timezone(name)), None
    except XMLError as exc:
        return (), exc.message


def zone_warnings(domain: Domain) -> tuple[str, ...]:
    """Warnings about ``<clock offset='timezone'>``'s zone; an XMLError when it is no zone at all."""
    clock = domain.clock
    if clock.offset is not Offset.TIMEZONE or clock.timezone is None:
        return ()
    warnings, refused = _zone_check(clock.timezone)
    if refused is not None:
        raise XMLError(refused, line=clock.line, element="clock", attribute="timezone", value=clock.timezone)
    return warnings


def translate_domain(read: ReadResult, source: QemuSource, now: Now | None) -> TranslateResult:
    """Check the zone, resolve the QEMU for the domain's arch, translate."""
    from guestclock.core.translate import translate

    domain = read.domain
    warnings = [*read.warnings, *zone_warnings(domain)]
    qemu = resolve_qemu(source, domain.arch)
    translation = translate(domain, qemu.caps, now)
    return TranslateResult(domain, translation, qemu, tuple(dict.fromkeys([*warnings, *translation.warnings])))


def translate_file(
    path: str, source: QemuSource, now: Now | None, defaults: DomainDefaults = NO_DEFAULTS
) -> TranslateResult:
    """The whole pipeline for the domain in file ``path``."""
    return translate_domain(load_domain(path, defaults), source, now)
