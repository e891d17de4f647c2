"""What ``guestclock verify`` expects of a running QEMU, and how it compares (pure).

The edge (:mod:`guestclock.qemu.readback`) starts QEMU paused (``-S``) with the translation's arguments and environment
plus only what it needs to start (``-machine`` when the arguments carry none,
``-accel``, ``-nodefaults``, ``-display none``, ``-no-user-config``, a QMP socket);
the timer devices are then read back over QMP and compared with what the XML asked:

==========================  ==============================================================
XML                         read back
==========================  ==============================================================
``<clock offset=...>``      the RTC's ``date`` (``qom-get /machine/rtc_state date``)
rtc ``tickpolicy``          the RTC's ``lost_tick_policy`` (catchup: ``slew``, delay: ``discard``)
rtc ``track``               not readable: QEMU keeps ``-rtc clock=`` in a global (reported, not failed)
pit ``tickpolicy``          the PIT device's type and ``lost_tick_policy``: the global
                            ``kvm-pit.lost_tick_policy`` only reaches an in-kernel ``kvm-pit``;
                            under TCG, or ``kernel-irqchip=split``, the PIT is ``isa-pit`` and the
                            global is silently ignored, which is reported as NOT honoured
hpet ``present``            whether an ``hpet`` device exists under ``/machine/unattached``
kvmclock / hypervclock      the CPU's ``kvmclock`` / ``hv-time`` properties
tsc ``frequency``           the CPU's ``tsc-frequency``
==========================  ==============================================================

``--accel auto`` (the default) uses KVM when ``/dev/kvm`` can be opened and the domain is
``type='kvm'``; when QEMU refuses to start under KVM (hosts whose KVM lacks VT-x, such as
PVM, abort on Hyper-V enlightenments and on a TSC frequency they cannot scale), it is
started again under TCG and the report says so. Under TCG ``-cpu host`` is replaced by
``-cpu max`` (QEMU refuses ``host`` without KVM), also said in the report.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from guestclock.core.model.argv import Translation
from guestclock.core.model.caps import Capabilities
from guestclock.core.model.domain import Basis, Domain, Offset
from guestclock.core.rules.platform import DEFAULT_ARCH, default_machine
from guestclock.core.rules.timers import Expectation, expectations_of

__all__ = [
    "RTC_TOLERANCE",
    "Expectation",
    "Observed",
    "Row",
    "VerifyReport",
    "compare",
    "expectations",
    "verify_command",
]

#: seconds the RTC may differ from the expected time (QEMU start-up, a slow host)
RTC_TOLERANCE = 15


@dataclass(frozen=True)
class Observed:
    """What was read from the running QEMU."""

    devices: Mapping[str, str]  # device type -> QOM path
    rtc_date: _dt.datetime | None
    rtc_policy: str | None
    pit_policy: str | None
    cpu: Mapping[str, object]  # property -> value (absent: not readable)
    kvm_enabled: bool
    started: float  # epoch seconds when QEMU was asked


@dataclass(frozen=True)
class Row:
    """One line of the report: asked, got, and whether they agree (None: not checkable)."""

    what: str
    asked: str
    got: str
    ok: bool | None
    note: str = ""


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of one verification."""

    binary: str
    accel: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing checkable disagrees."""
        return all(row.ok is not False for row in self.rows)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready report."""
        return {
            "binary": self.binary,
            "accel": self.accel,
            "argv": list(self.argv),
            "env": dict(self.env),
            "ok": self.ok,
            "notes": list(self.notes),
            "checks": [
                {"what": row.what, "asked": row.asked, "got": row.got, "ok": row.ok, "note": row.note}
                for row in self.rows
            ],
        }


# -- what the XML asked (pure) ---------------------------------------------------


_EPOCH = _dt.datetime(1970, 1, 1)


def _expected_rtc_time(
    domain: Domain, now_epoch: int, host_offset: int, zone_offset: int | None
) -> tuple[_dt.datetime | None, str]:
    """The RTC's wall time QEMU must show at ``now_epoch`` (naive), and how it was derived.

    ``zone_offset`` is the UTC offset (seconds east) of ``<clock timezone=...>`` at
    ``now_epoch``, computed by the caller (reading the zone database is I/O).
    """
    clock = domain.clock
    utc = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=now_epoch)
    if clock.offset is Offset.UTC:
        return utc, "now, UTC"
    if clock.offset is Offset.LOCALTIME:
        return utc + _dt.timedelta(seconds=host_offset), "now, host local time"
    if clock.offset is Offset.TIMEZONE:
        if zone_offset is None:
            return None, f"now in '{clock.timezone}' (not an IANA zone guestclock can compute)"
        return utc + _dt.timedelta(seconds=zone_offset), f"now in {clock.timezone}"
    if clock.offset is Offset.ABSOLUTE:
        start = clock.start or 0
        return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=start), f"start={start} (+ seconds since start)"
    adjustment = 0 if clock.reset or clock.adjustment is None else clock.adjustment
    if clock.basis is Basis.LOCALTIME:
        adjustment += host_offset
    return utc + _dt.timedelta(seconds=adjustment), f"now {adjustment:+d} s"


def expectations(domain: Domain, translation: Translation) -> list[Expectation]:
    """What the XML asks of the timer devices, as values a running QEMU can show (the timer
    table's ``expect`` column)."""
    return expectations_of(domain, domain.arch or translation.caps.arch or DEFAULT_ARCH)


def _fmt_time(moment: _dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def compare(
    domain: Domain,
    wanted: Sequence[Expectation],
    observed: Observed,
    *,
    host_offset: int,
    zone_offset: int | None = None,
) -> list[Row]:
    """Each expectation beside what the running QEMU shows (pure)."""
    rows: list[Row] = []
    for expect in wanted:
        if expect.key == "rtc-date":
            target, how = _expected_rtc_time(domain, int(observed.started), host_offset, zone_offset)
            got = _fmt_time(observed.rtc_date) if observed.rtc_date else "not readable"
            if target is None or observed.rtc_date is None:
                rows.append(Row("RTC date", how, got, None, "cannot compare"))
                continue
            delta = (observed.rtc_date - target).total_seconds()
            ok = -RTC_TOLERANCE <= delta <= RTC_TOLERANCE
            note = "" if ok else f"off by {delta:+.0f} s"
            if not ok and abs((target - _EPOCH).total_seconds() - observed.started) > 2**31:
                # seen with QEMU 7.2: -rtc base=9999-12-31T23:59:59 reads back as 1969
                note += (
                    "; QEMU keeps the RTC's offset from the host clock in a 32-bit int, so a base "
                    "more than ~68 years from now wraps"
                )
            rows.append(Row(f"RTC date ({expect.asked})", f"{_fmt_time(target)} ({how})", got, ok, note))
        elif expect.key == "rtc-policy":
            got = observed.rtc_policy or "not readable"
            rows.append(Row(f"RTC lost_tick_policy ({expect.asked})", str(expect.value), got, got == expect.value))
        elif expect.key == "rtc-track":
            rows.append(
                Row(
                    f"RTC clock ({expect.asked})",
                    expect.asked,
                    "not readable",
                    None,
                    "QEMU keeps -rtc clock= in a global that QMP does not show",
                )
            )
        elif expect.key == "pit":
            asked = f"kvm-pit, lost_tick_policy={expect.value}"
            if "kvm-pit" in observed.devices:
                got = f"kvm-pit, lost_tick_policy={observed.pit_policy}"
                rows.append(Row(f"PIT ({expect.asked})", asked, got, observed.pit_policy == expect.value))
            else:
                kind = next((d for d in ("isa-pit", "i8254") if d in observed.devices), "no PIT")
                rows.append(
                    Row(
                        f"PIT ({expect.asked})",
                        asked,
                        kind,
                        False,
                        "NOT honoured: without an in-kernel PIT (TCG, or kernel-irqchip=split) QEMU "
                        "silently ignores -global kvm-pit.lost_tick_policy",
                    )
                )
        elif expect.key == "hpet":
            present = "hpet" in observed.devices
            rows.append(
                Row(
                    f"HPET ({expect.asked})",
                    "present" if expect.value else "absent",
                    "present" if present else "absent",
                    present == expect.value,
                )
            )
        elif expect.key.startswith("cpu:"):
            prop = expect.key[4:]
            value = observed.cpu.get(prop)
            if prop == "hv-time" and value is None:
                value = observed.cpu.get("hv_time")
            got = "not readable" if value is None else json.dumps(value)
            rows.append(Row(f"CPU {prop} ({expect.asked})", json.dumps(expect.value), got, value == expect.value))
    return rows


def verify_command(
    translation: Translation, domain: Domain, caps: Capabilities, accel: str
) -> tuple[list[str], list[str]]:
    """The arguments verify starts QEMU with (before the monitor), and notes on what it changed."""
    notes: list[str] = []
    argv = list(translation.argv)
    if accel == "tcg":
        for index, word in enumerate(argv[:-1]):
            if word == "-cpu" and (argv[index + 1] == "host" or argv[index + 1].startswith("host,")):
                argv[index + 1] = "max" + argv[index + 1][4:]
                notes.append("under TCG '-cpu host' is replaced by '-cpu max' (QEMU refuses 'host' without KVM)")
    extra: list[str] = []
    if "-machine" not in argv:
        machine = domain.machine or caps.default_machine or default_machine(domain.arch or caps.arch or DEFAULT_ARCH)
        extra += ["-machine", machine or "none"]
    extra += ["-accel", accel, "-nodefaults", "-display", "none", "-S", "-no-user-config"]
    return extra + argv, notes
