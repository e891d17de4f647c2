"""``guestclock verify FILE --qemu BINARY``: prove the arguments in a running QEMU.

QEMU is started paused (``-S``) with the translation's arguments and environment
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

import argparse
import datetime as _dt
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from qemu.qmp import QMPClient

from .caps import Cap, Capabilities
from .errors import VerifyError
from .model import X86_ARCHES, Basis, Domain, Offset, TickPolicy, TimerName
from .translation import Translation

__all__ = [
    "Expectation",
    "Observed",
    "Row",
    "VerifyReport",
    "compare",
    "expectations",
    "qemu_command",
    "register",
    "verify",
]

#: seconds the RTC may differ from the expected time (QEMU start-up, a slow host)
RTC_TOLERANCE = 15
_TIMER_DEVICES = ("hpet", "kvm-pit", "isa-pit", "i8254", "mc146818rtc")
_RTC_PATH = "/machine/rtc_state"


@dataclass(frozen=True)
class Expectation:
    """One thing the XML asked that can be looked for in a running QEMU."""

    #: ``hpet``, ``rtc-date``, ``rtc-policy``, ``rtc-track``, ``pit``, ``cpu:<property>``
    key: str
    #: what the XML asked, for people
    asked: str
    #: the value the running QEMU must show (None: cannot be read back)
    value: object
    origin: str


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


def _expected_rtc_time(domain: Domain, now_epoch: int, host_offset: int) -> tuple[_dt.datetime | None, str]:
    """The RTC's wall time QEMU must show at ``now_epoch`` (naive), and how it was derived."""
    clock = domain.clock
    utc = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=now_epoch)
    if clock.offset is Offset.UTC:
        return utc, "now, UTC"
    if clock.offset is Offset.LOCALTIME:
        return utc + _dt.timedelta(seconds=host_offset), "now, host local time"
    if clock.offset is Offset.TIMEZONE:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            zone = ZoneInfo(clock.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return None, f"now in '{clock.timezone}' (not an IANA zone guestclock can compute)"
        local = _dt.datetime.fromtimestamp(now_epoch, _dt.UTC).astimezone(zone)
        return local.replace(tzinfo=None), f"now in {clock.timezone}"
    if clock.offset is Offset.ABSOLUTE:
        start = clock.start or 0
        return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=start), f"start={start} (+ seconds since start)"
    adjustment = 0 if clock.reset or clock.adjustment is None else clock.adjustment
    if clock.basis is Basis.LOCALTIME:
        adjustment += host_offset
    return utc + _dt.timedelta(seconds=adjustment), f"now {adjustment:+d} s"


def expectations(domain: Domain, translation: Translation) -> list[Expectation]:
    """What the XML asks of the timer devices, as values a running QEMU can show."""
    clock = domain.clock
    found: list[Expectation] = []
    found.append(Expectation("rtc-date", f"offset='{clock.offset.value}'", None, "<clock>"))
    x86 = (domain.arch or translation.caps.arch or "x86_64") in X86_ARCHES
    for timer in clock.timers:
        origin = f"<timer name='{timer.name.value}'>"
        if timer.name is TimerName.RTC:
            if timer.tickpolicy is not None:
                policy = "slew" if timer.tickpolicy is TickPolicy.CATCHUP else "discard"
                found.append(Expectation("rtc-policy", f"tickpolicy='{timer.tickpolicy.value}'", policy, origin))
            if timer.track is not None:
                found.append(Expectation("rtc-track", f"track='{timer.track.value}'", None, origin))
        elif timer.name is TimerName.PIT and x86 and (timer.tickpolicy is not None or timer.present is not None):
            policy = "discard" if timer.tickpolicy is TickPolicy.DISCARD else "delay"
            asked = f"tickpolicy='{timer.tickpolicy.value}'" if timer.tickpolicy else "default policy"
            found.append(Expectation("pit", asked, policy, origin))
        elif timer.name is TimerName.HPET and timer.present is not None and x86:
            found.append(Expectation("hpet", f"present='{'yes' if timer.present else 'no'}'", timer.present, origin))
        elif timer.name is TimerName.KVMCLOCK and timer.present is not None and x86:
            found.append(
                Expectation("cpu:kvmclock", f"present='{'yes' if timer.present else 'no'}'", timer.present, origin)
            )
        elif timer.name is TimerName.HYPERVCLOCK and timer.present is True and x86:
            found.append(Expectation("cpu:hv-time", "present='yes'", True, origin))
        elif timer.name is TimerName.TSC and timer.frequency is not None and x86:
            found.append(Expectation("cpu:tsc-frequency", f"frequency='{timer.frequency}'", timer.frequency, origin))
    return found


def _fmt_time(moment: _dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def compare(
    domain: Domain,
    wanted: Sequence[Expectation],
    observed: Observed,
    *,
    host_offset: int,
) -> list[Row]:
    """Each expectation beside what the running QEMU shows (pure)."""
    rows: list[Row] = []
    for expect in wanted:
        if expect.key == "rtc-date":
            target, how = _expected_rtc_time(domain, int(observed.started), host_offset)
            got = _fmt_time(observed.rtc_date) if observed.rtc_date else "not readable"
            if target is None or observed.rtc_date is None:
                rows.append(Row("RTC date", how, got, None, "cannot compare"))
                continue
            delta = (observed.rtc_date - target).total_seconds()
            ok = -RTC_TOLERANCE <= delta <= RTC_TOLERANCE
            note = "" if ok else f"off by {delta:+.0f} s"
            if not ok and abs((target - _dt.datetime.now()).total_seconds()) > 2**31:
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


# -- running QEMU (edge) ---------------------------------------------------------


def kvm_usable() -> bool:
    """True when /dev/kvm can be opened for reading and writing."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def qemu_command(
    translation: Translation, domain: Domain, caps: Capabilities, accel: str
) -> tuple[list[str], list[str]]:
    """The arguments verify starts QEMU with, and notes on what it changed."""
    notes: list[str] = []
    argv = list(translation.argv)
    if accel == "tcg":
        for index, word in enumerate(argv[:-1]):
            if word == "-cpu" and (argv[index + 1] == "host" or argv[index + 1].startswith("host,")):
                argv[index + 1] = "max" + argv[index + 1][4:]
                notes.append("under TCG '-cpu host' is replaced by '-cpu max' (QEMU refuses 'host' without KVM)")
    extra: list[str] = []
    if "-machine" not in argv:
        machine = domain.machine or caps.default_machine or "pc"
        extra += ["-machine", machine]
    extra += ["-accel", accel, "-nodefaults", "-display", "none", "-S", "-no-user-config"]
    return extra + argv, notes


async def _read_back(client: QMPClient) -> Observed:
    from .qmprun import execute_all

    started = time.time()
    first = await execute_all(
        client,
        [
            ("qom-list", {"path": "/machine/unattached"}),
            ("query-cpus-fast", None),
            ("query-kvm", None),
            ("qom-get", {"path": _RTC_PATH, "property": "date"}),
            ("qom-get", {"path": _RTC_PATH, "property": "lost_tick_policy"}),
        ],
    )
    answers = [response.get("return") for _request, response in first]
    listing, cpus, kvm, date, rtc_policy = answers
    devices: dict[str, str] = {}
    if isinstance(listing, list):
        for entry in listing:
            if not isinstance(entry, dict):
                continue
            kind = str(entry.get("type", ""))
            if kind.startswith("child<") and kind[6:-1] in _TIMER_DEVICES:
                devices.setdefault(kind[6:-1], f"/machine/unattached/{entry.get('name')}")
    cpu_path = "/machine/unattached/device[0]"
    if isinstance(cpus, list) and cpus and isinstance(cpus[0], dict) and "qom-path" in cpus[0]:
        cpu_path = str(cpus[0]["qom-path"])
    props = ("kvmclock", "hv-time", "hv_time", "tsc-frequency")
    second_requests: list[tuple[str, dict[str, object] | None]] = [
        ("qom-get", {"path": cpu_path, "property": prop}) for prop in props
    ]
    if "kvm-pit" in devices:
        second_requests.append(("qom-get", {"path": devices["kvm-pit"], "property": "lost_tick_policy"}))
    second = await execute_all(client, second_requests)
    cpu: dict[str, object] = {}
    for prop, (_request, response) in zip(props, second, strict=False):
        if "return" in response:
            cpu[prop] = response["return"]
    pit_policy = None
    pit_response = second[-1][1]
    if "kvm-pit" in devices and "return" in pit_response:
        pit_policy = str(pit_response["return"])
    return Observed(
        devices=devices,
        rtc_date=_parse_tm(date),
        rtc_policy=str(rtc_policy) if isinstance(rtc_policy, str) else None,
        pit_policy=pit_policy,
        cpu=cpu,
        kvm_enabled=isinstance(kvm, dict) and kvm.get("enabled") is True,
        started=started,
    )


def _parse_tm(value: object) -> _dt.datetime | None:
    """QEMU's ``struct tm`` (years since 1900, months from 0) as a naive datetime."""
    if not isinstance(value, dict):
        return None
    try:
        return _dt.datetime(
            int(value["tm_year"]) + 1900,
            int(value["tm_mon"]) + 1,
            int(value["tm_mday"]),
            int(value["tm_hour"]),
            int(value["tm_min"]),
            int(value["tm_sec"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _start_and_read(binary: str, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Observed:
    from .qmprun import QEMUExited, QMPBroken, run_qmp

    try:
        return run_qmp(binary, argv, _read_back, timeout=timeout, env=env)
    except TimeoutError:
        raise VerifyError(
            f"QEMU '{binary}' did not start and answer within {timeout:g} s; it was stopped", subject=binary
        ) from None
    except QEMUExited as exc:
        raise VerifyError(f"QEMU '{binary}' did not start: it {exc.describe()}", subject=binary) from exc
    except QMPBroken as exc:
        raise VerifyError(f"QEMU '{binary}' did not answer QMP: {exc}", subject=binary) from None


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
    argv, changes = qemu_command(translation, domain, caps, chosen)
    try:
        observed = _start_and_read(binary, argv, env, timeout)
    except VerifyError as failure:
        if not (accel == "auto" and chosen == "kvm"):
            raise
        # KVM without VT-x (PVM) aborts on Hyper-V enlightenments and unscalable TSC frequencies
        notes.append(f"QEMU refused to start under KVM ({failure.message}); verified under TCG instead")
        chosen = "tcg"
        argv, changes = qemu_command(translation, domain, caps, chosen)
        observed = _start_and_read(binary, argv, env, timeout)
    notes.extend(changes)
    rows = compare(domain, wanted, observed, host_offset=host_offset)
    return VerifyReport(
        binary=binary,
        accel=chosen,
        argv=tuple(argv),
        env=dict(translation.environ),
        rows=tuple(rows),
        notes=tuple(notes),
    )


# -- command ---------------------------------------------------------------------


def render_table(report: VerifyReport) -> str:
    """asked / got, one row per check, and the verdict."""
    headers = ("check", "asked", "got", "result")
    table = [
        (row.what, row.asked, row.got, {True: "ok", False: "MISMATCH", None: "not checked"}[row.ok])
        for row in report.rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *table, strict=False)]
    lines = [f"QEMU {report.binary} under {report.accel.upper()}, paused"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for cells, row in zip(table, report.rows, strict=True):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if row.note:
            lines.append(f"    {row.note}")
    for note in report.notes:
        lines.append(f"note: {note}")
    bad = sum(1 for row in report.rows if row.ok is False)
    lines.append("verified: every checkable timer is as asked" if report.ok else f"MISMATCH: {bad} check(s) failed")
    return "\n".join(lines) + "\n"


def _handler(args: argparse.Namespace) -> int:
    from .cli import _default_binary, _now, _read_domain, _warn
    from .model import Offset
    from .probe import probe_binary
    from .translation import translate
    from .zones import check_timezone

    result = _read_domain(args)
    domain = result.domain
    warnings = list(result.warnings)
    if domain.clock.offset is Offset.TIMEZONE and domain.clock.timezone is not None:
        warnings.extend(check_timezone(domain.clock.timezone, domain.clock.line))
    binary = args.qemu or _default_binary(domain.arch or "x86_64")
    if binary is None:
        raise VerifyError(f"no qemu-system-{domain.arch or 'x86_64'} on PATH; name one with --qemu")
    caps = probe_binary(binary, timeout=args.timeout, use_cache=not args.no_cache)
    translation = translate(domain, caps, _now(args))
    report = verify(domain, translation, binary, accel=args.accel, timeout=args.timeout)
    if args.format == "json":
        document = report.to_json()
        document["warnings"] = list(dict.fromkeys(warnings + list(translation.warnings)))
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        for warning in dict.fromkeys(warnings + list(translation.warnings)):
            _warn(warning)
        sys.stdout.write(render_table(report))
    return 0 if report.ok else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``verify`` command."""
    from .cli import _add_domain_options

    parser = subparsers.add_parser(
        "verify",
        help="start QEMU paused with the clock's arguments and check its timers",
        description=(
            "Start QEMU paused with the emitted arguments, read the timer devices back over QMP "
            "and compare them with the XML. Exit 0 when everything checkable is as asked, 1 otherwise."
        ),
    )
    _add_domain_options(parser)
    parser.add_argument("--qemu", metavar="BINARY", help="the QEMU to start (default: qemu-system-ARCH on PATH)")
    parser.add_argument(
        "--accel",
        choices=("auto", "kvm", "tcg"),
        default="auto",
        help="accelerator (default auto: KVM when /dev/kvm is usable, TCG when QEMU refuses KVM)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="limit per QEMU start")
    parser.add_argument("--no-cache", action="store_true", help="probe the binary even if a cached answer exists")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=_handler)
