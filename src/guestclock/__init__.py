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

_EXPORTS = {
    "Cap": "caps",
    "Capabilities": "caps",
    "read_domain": "xmlread",
    "clock_to_xml": "xmlwrite",
    "parse_help": "helpparse",
    "load_libvirt_caps": "capsdump",
    "caps_from_libvirt_flags": "capsdump",
    "caps_for_version": "versions",
    "translate": "translation",
    "Translation": "translation",
    "Now": "translation",
    "host_now": "hosttime",
    "GuestclockError": "errors",
    "XMLError": "errors",
    "UnsupportedConfigError": "errors",
    "CapabilityError": "errors",
    "ProbeError": "errors",
}

__all__ = [
    "Cap",
    "Capabilities",
    "CapabilityError",
    "GuestclockError",
    "Now",
    "ProbeError",
    "Translation",
    "UnsupportedConfigError",
    "XMLError",
    "caps_for_version",
    "caps_from_libvirt_flags",
    "clock_to_xml",
    "host_now",
    "load_libvirt_caps",
    "parse_help",
    "read_domain",
    "translate",
]

if TYPE_CHECKING:
    from .caps import Cap, Capabilities
    from .capsdump import caps_from_libvirt_flags, load_libvirt_caps
    from .errors import CapabilityError, GuestclockError, ProbeError, UnsupportedConfigError, XMLError
    from .helpparse import parse_help
    from .hosttime import host_now
    from .translation import Now, Translation, translate
    from .versions import caps_for_version
    from .xmlread import read_domain
    from .xmlwrite import clock_to_xml


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'guestclock' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
