"""``guestclock verify``: the emitted arguments, proven in a paused QEMU 7.2.

KVM is used where /dev/kvm is usable, TCG always. On hosts whose KVM lacks VT-x (PVM),
QEMU aborts on hv-time under KVM: verify then starts it under TCG and says so.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from guestclock import probe
from guestclock.cli import main
from guestclock.core.model.caps import Capabilities
from guestclock.core.model.domain import Domain
from guestclock.core.read.domain import read_domain
from guestclock.core.translate import translate
from guestclock.core.verify import Observed, compare, expectations
from guestclock.errors import UnsupportedConfigError, VerifyError
from guestclock.host.clock import host_now
from guestclock.host.kvm import kvm_usable
from guestclock.workflows.verify import verify

QEMU = "/usr/bin/qemu-system-x86_64"
CASES = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "libvirt-9.0" / "cases"
CASE_FILES = sorted(CASES.glob("*.xml"))
KVM = kvm_usable()
needs_qemu = pytest.mark.skipif(not os.access(QEMU, os.X_OK), reason=f"QEMU is not installed ({QEMU} is absent)")
needs_kvm = pytest.mark.skipif(not KVM, reason="/dev/kvm cannot be opened on this host")

#: QEMU 7.2 keeps the RTC's offset from the host clock in a 32-bit int: year 9999 wraps to 1969
RTC_WRAPS = {"clock-absolute"}


@pytest.fixture(scope="module")
def caps() -> Capabilities:
    if not os.access(QEMU, os.X_OK):
        pytest.skip(f"QEMU is not installed ({QEMU} is absent)")
    return probe.probe_binary(QEMU, use_cache=False)


def test_corpus_is_there() -> None:
    assert CASE_FILES, f"no cases in {CASES}"


def _accepted(path: Path) -> bool:
    return any(path.parent.glob(f"{path.stem}*.args"))


@needs_qemu
@pytest.mark.parametrize("case", CASE_FILES, ids=lambda p: p.stem)
def test_corpus_case_is_verified(case: Path, caps: Capabilities, tmp_path: Path) -> None:
    domain = read_domain(case.read_bytes()).domain
    if not _accepted(case):
        with pytest.raises(UnsupportedConfigError):
            translate(domain, caps, host_now())
        return
    if KVM:
        # the arguments are proven under KVM where it works; verify falls back to TCG when
        # QEMU refuses KVM (hv-time on PVM) and says so
        domain = replace(domain, virt_type="kvm")
    translation = translate(domain, caps, host_now())
    if any("hv-vpindex" in word for word in translation.argv):
        # TCG refuses hv-vpindex ("kernel doesn't allow setting HyperV VP_INDEX"), and so does a
        # KVM without VT-x (PVM): where neither can start it, verify must say exactly that
        try:
            report = verify(domain, translation, QEMU, timeout=20)
        except VerifyError as exc:
            assert "HyperV VP_INDEX" in exc.message, exc.message
            return
    else:
        report = verify(domain, translation, QEMU, timeout=20)
    asked = expectations(domain, translation)
    assert len(report.rows) == len(asked)
    if case.stem in RTC_WRAPS:
        bad = [row for row in report.rows if row.ok is False]
        assert [row.what for row in bad] == ["RTC date (offset='absolute')"]
        assert bad[0].got.startswith("1969-") and "32-bit int" in bad[0].note
        return
    assert report.ok, "\n".join(f"{r.what}: asked {r.asked}, got {r.got} {r.note}" for r in report.rows)
    if any(row.what.startswith("CPU hv-time") for row in report.rows) and report.accel == "tcg" and KVM:
        assert any("verified under TCG instead" in note for note in report.notes)


@needs_qemu
def test_kvm_pit_global_under_tcg_is_not_honoured(caps: Capabilities) -> None:
    domain = read_domain((CASES / "kvm-pit-discard.xml").read_bytes()).domain
    translation = translate(domain, caps, host_now())
    assert "kvm-pit.lost_tick_policy=discard" in translation.argv
    report = verify(domain, translation, QEMU, accel="tcg")
    (pit,) = [row for row in report.rows if row.what.startswith("PIT")]
    assert pit.ok is False
    assert pit.got == "isa-pit"
    assert pit.note.startswith("NOT honoured")
    assert not report.ok


@needs_qemu
@needs_kvm
def test_kvm_pit_global_with_split_irqchip_is_not_honoured(caps: Capabilities) -> None:
    from guestclock.qemu.readback import start_and_read as _start_and_read

    domain = read_domain((CASES / "kvm-pit-delay.xml").read_bytes()).domain
    domain = replace(domain, virt_type="kvm")
    translation = translate(domain, caps, host_now())
    argv = ["-machine", "q35,kernel-irqchip=split", "-accel", "kvm", "-nodefaults", "-display", "none", "-S"]
    observed = _start_and_read(QEMU, [*argv, *translation.argv], dict(os.environ), 20)
    assert "isa-pit" in observed.devices and "kvm-pit" not in observed.devices
    rows = compare(domain, expectations(domain, translation), observed, host_offset=0)
    (pit,) = [row for row in rows if row.what.startswith("PIT")]
    assert pit.ok is False and pit.got == "isa-pit"


@needs_qemu
@needs_kvm
def test_explicit_kvm_does_not_fall_back(caps: Capabilities) -> None:
    """hv-time aborts QEMU under PVM's KVM; --accel kvm reports that instead of switching."""
    domain = replace(read_domain((CASES / "clock-timer-hyperv-rtc.xml").read_bytes()).domain, virt_type="kvm")
    translation = translate(domain, caps, host_now())
    try:
        report = verify(domain, translation, QEMU, accel="kvm", timeout=20)
    except VerifyError as exc:
        assert exc.message.startswith(f"QEMU '{QEMU}' did not start: it ")
    else:  # a host whose KVM has VT-x runs Hyper-V enlightenments
        assert report.accel == "kvm" and report.ok


@needs_qemu
def test_verify_command_table_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status = main(["verify", str(CASES / "clock-hpet-off.xml"), "--qemu", QEMU, "--accel", "tcg"])
    out = capsys.readouterr().out
    assert status == 1  # type='qemu' with a pit tickpolicy: isa-pit under TCG
    assert "HPET (present='no')" in out and "MISMATCH" in out and "NOT honoured" in out
    status = main(["verify", str(CASES / "clock-france.xml"), "--qemu", QEMU, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 0 and data["ok"] is True
    assert data["env"] == {"TZ": "Europe/Paris"}
    assert data["accel"] == "tcg"  # a type='qemu' domain
    assert [check["ok"] for check in data["checks"]] == [True]


@needs_qemu
def test_verify_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["verify", str(CASES / "clock-utc.xml"), "--qemu", QEMU, "--accel", "tcg"]) == 0
    assert list(tmp_path.iterdir()) == []


@needs_qemu
def test_qemu_that_refuses_the_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    domain = tmp_path / "domain.xml"
    domain.write_text(
        "<domain type='qemu'><os><type arch='x86_64' machine='no-such-machine'>hvm</type></os>"
        "<clock offset='utc'><timer name='hpet' present='no'/></clock></domain>"
    )
    assert main(["verify", str(domain), "--qemu", QEMU]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"guestclock: error: QEMU '{QEMU}' did not start: it exited with status 1: ")
    assert err.count("\n") == 1


# -- the comparison alone (no QEMU) --------------------------------------------------------


def _observed(**changes: object) -> Observed:
    base = Observed(
        devices={"mc146818rtc": "/x", "kvm-pit": "/y", "hpet": "/z"},
        rtc_date=_dt.datetime(2009, 2, 13, 23, 31, 30),
        rtc_policy="slew",
        pit_policy="delay",
        cpu={"kvmclock": False, "hv-time": True, "tsc-frequency": 2_000_000_000},
        kvm_enabled=True,
        started=1234567890.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _domain(xml: str) -> Domain:
    return read_domain(xml.encode()).domain


def test_compare_pure() -> None:
    from guestclock.core.rules.history import caps_for_version

    domain = _domain(
        "<clock offset='utc'><timer name='rtc' tickpolicy='catchup'/><timer name='pit' tickpolicy='delay'/>"
        "<timer name='hpet' present='no'/><timer name='kvmclock' present='no'/>"
        "<timer name='tsc' frequency='2000000000'/></clock>"
    )
    translation = translate(domain, caps_for_version("7.2.0"), None)
    rows = compare(domain, expectations(domain, translation), _observed(), host_offset=0)
    verdict = {row.what.split(" (")[0]: row.ok for row in rows}
    assert verdict == {
        "RTC date": True,
        "RTC lost_tick_policy": True,
        "PIT": True,
        "HPET": False,  # present, asked absent
        "CPU kvmclock": True,
        "CPU tsc-frequency": True,
    }
    late = _observed(rtc_date=_dt.datetime(2009, 2, 13, 23, 32, 30))
    (date_row,) = [r for r in compare(domain, expectations(domain, translation), late, host_offset=0)][:1]
    assert date_row.ok is False and date_row.note == "off by +60 s"
