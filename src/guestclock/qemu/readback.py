"""Start QEMU paused and read its timer devices back over QMP (the edge of ``verify``).

What is read: the devices under ``/machine/unattached`` (hpet, kvm-pit, isa-pit, i8254,
mc146818rtc), the RTC's ``date`` and ``lost_tick_policy``, the in-kernel PIT's
``lost_tick_policy``, the first CPU's ``kvmclock``, ``hv-time``/``hv_time`` and
``tsc-frequency``, and whether KVM is enabled.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Mapping, Sequence

from qemu.qmp import QMPClient

from guestclock.core.verify import Observed
from guestclock.errors import VerifyError
from guestclock.qemu.process import QEMUExited, QMPBroken, execute_all, run_qmp

__all__ = ["start_and_read"]

_TIMER_DEVICES = ("hpet", "kvm-pit", "isa-pit", "i8254", "mc146818rtc")
_RTC_PATH = "/machine/rtc_state"


async def _read_back(client: QMPClient) -> Observed:
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


def start_and_read(binary: str, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Observed:
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
