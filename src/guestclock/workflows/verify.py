"""``verify``: translate, start QEMU paused with the arguments, read its timers back, compare.

``accel='auto'`` (the default) uses KVM when ``/dev/kvm`` can be opened and the domain is
``type='kvm'``; when QEMU refuses to start under KVM (hosts whose KVM lacks VT-x, such as
PVM, abort on Hyper-V enlightenments and on a TSC frequency they cannot scale), it is
started again under TCG and the report says so.
"""

from __future__ import annotations

import os
import time

from guestclock.core.model.argv import Translation
from guestclock.core.model.caps import Cap
from guestclock.core.model.domain import Domain, Offset
from guestclock.core.verify import VerifyReport, compare, expectations, verify_command
from guestclock.errors import VerifyError

__all__ = ["verify"]


def _zone_offset(domain: Domain, epoch: float) -> int | None:
    """The UTC offset of the domain's ``timezone`` at ``epoch`` (None: not a zone this host knows)."""
    clock = domain.clock
    if clock.offset is not Offset.TIMEZONE or clock.timezone is None:
        return None
    import datetime as _dt
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(clock.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    offset = _dt.datetime.fromtimestamp(int(epoch), _dt.UTC).astimezone(zone).utcoffset()
    return None if offset is None else int(offset.total_seconds())


def verify(
    domain: Domain,
    translation: Translation,
    binary: str,
    *,
    accel: str = "auto",
    timeout: float = 10.0,
    host_offset: int | None = None,
) -> VerifyReport:
    """Start ``binary`` paused with ``translation``'s arguments and compare its timers with ``domain``."""
    from guestclock.host.kvm import kvm_usable
    from guestclock.qemu.readback import start_and_read

    caps = translation.caps
    if host_offset is None:
        host_offset = time.localtime().tm_gmtoff
    notes: list[str] = []
    chosen = accel
    if accel == "auto":
        if (domain.virt_type or "kvm") != "kvm":
            chosen = "tcg"
            notes.append(f"type='{domain.virt_type}' domain: verified under TCG")
        elif kvm_usable() and caps.has(Cap.KVM):
            chosen = "kvm"
        else:
            chosen = "tcg"
            notes.append("/dev/kvm is not usable here: verified under TCG")
    env = dict(os.environ)
    env.update(translation.environ)
    wanted = expectations(domain, translation)
    argv, changes = verify_command(translation, domain, caps, chosen)
    try:
        observed = start_and_read(binary, argv, env, timeout)
    except VerifyError as failure:
        if not (accel == "auto" and chosen == "kvm"):
            raise
        # KVM without VT-x (PVM) aborts on Hyper-V enlightenments and unscalable TSC frequencies
        notes.append(f"QEMU refused to start under KVM ({failure.message}); verified under TCG instead")
        chosen = "tcg"
        argv, changes = verify_command(translation, domain, caps, chosen)
        observed = start_and_read(binary, argv, env, timeout)
    notes.extend(changes)
    rows = compare(
        domain, wanted, observed, host_offset=host_offset, zone_offset=_zone_offset(domain, observed.started)
    )
    return VerifyReport(
        binary=binary,
        accel=chosen,
        argv=tuple(argv),
        env=dict(translation.environ),
        rows=tuple(rows),
        notes=tuple(notes),
    )
