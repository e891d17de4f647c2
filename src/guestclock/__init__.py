"""guestclock: a libvirt ``<clock>`` in, the exact QEMU arguments out, for every QEMU era.

The public surface is imported lazily so that ``guestclock --help`` starts fast::

    from guestclock import read_domain, caps_for_version, translate, host_now
    result = read_domain(open("domain.xml", "rb").read())
    t = translate(result.domain, caps_for_version("7.2.0"), host_now())
    t.argv, t.environ, t.warnings
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: name -> the module that defines it, in the order of ``__all__``: the pipeline first,
#: then the values, the capability loaders, the edges, and the errors (most generic first)
_EXPORTS: dict[str, str] = {
    "read_domain": "guestclock.core.read.domain",
    "translate": "guestclock.core.translate",
    "Translation": "guestclock.core.model.argv",
    "Now": "guestclock.core.model.argv",
    "host_now": "guestclock.host.clock",
    "Domain": "guestclock.core.model.domain",
    "Clock": "guestclock.core.model.domain",
    "Timer": "guestclock.core.model.domain",
    "clock_to_xml": "guestclock.core.render.xml",
    "Capabilities": "guestclock.core.model.caps",
    "Cap": "guestclock.core.model.caps",
    "caps_for_version": "guestclock.core.rules.history",
    "load_libvirt_caps": "guestclock.core.read.capsdump",
    "caps_from_libvirt_flags": "guestclock.core.read.capsdump",
    "parse_help": "guestclock.core.read.helptext",
    "probe_binary": "guestclock.probe",
    "verify": "guestclock.workflows.verify",
    "GuestclockError": "guestclock.errors",
    "XMLError": "guestclock.errors",
    "UnsupportedConfigError": "guestclock.errors",
    "CapabilityError": "guestclock.errors",
    "ProbeError": "guestclock.errors",
    "VerifyError": "guestclock.errors",
}

__all__ = [
    "read_domain",
    "translate",
    "Translation",
    "Now",
    "host_now",
    "Domain",
    "Clock",
    "Timer",
    "clock_to_xml",
    "Capabilities",
    "Cap",
    "caps_for_version",
    "load_libvirt_caps",
    "caps_from_libvirt_flags",
    "parse_help",
    "probe_binary",
    "verify",
    "GuestclockError",
    "XMLError",
    "UnsupportedConfigError",
    "CapabilityError",
    "ProbeError",
    "VerifyError",
]

if TYPE_CHECKING:
    from guestclock.core.model.argv import Now, Translation
    from guestclock.core.model.caps import Cap, Capabilities
    from guestclock.core.model.domain import Clock, Domain, Timer
    from guestclock.core.read.capsdump import caps_from_libvirt_flags, load_libvirt_caps
    from guestclock.core.read.domain import read_domain
    from guestclock.core.read.helptext import parse_help
    from guestclock.core.render.xml import clock_to_xml
    from guestclock.core.rules.history import caps_for_version
    from guestclock.core.translate import translate
    from guestclock.errors import (
        CapabilityError,
        GuestclockError,
        ProbeError,
        UnsupportedConfigError,
        VerifyError,
        XMLError,
    )
    from guestclock.host.clock import host_now
    from guestclock.probe import probe_binary
    from guestclock.workflows.verify import verify


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'guestclock' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
