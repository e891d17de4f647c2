"""``guestclock recommend`` and ``check --os`` from the command line: exit codes, formats, the
recommendation passing its own lint, and bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guestclock.cli import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = main(args)
    except SystemExit as exc:
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("os_id", ["win11", "win7", "win2k22", "debian12", "rhel9.4", "macos13", "freebsd14"])
def test_a_recommendation_passes_its_own_lint(os_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(["recommend", "--os", os_id, "--qemu-version", "7.2"], capsys)
    assert status == 0, err
    assert out.startswith("<!-- guestclock recommend:") and "<clock" in out
    document = tmp_path / "rec.xml"
    document.write_text(out)
    status, out, err = _run(["check", str(document), "--os", "auto", "--strict"], capsys)
    assert status == 0, out + err
    assert "warning:" not in out


def test_json_names_every_profile_with_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["recommend", "--os", "win11", "--qemu-version", "7.2", "--format", "json"], capsys)
    assert status == 0
    document = json.loads(out)
    assert document["argv"][:2] == ["-machine", "pc,hpet=off"]
    profiles = {"guestclock", "libvirt", "virt-manager", "nova", "proxmox", "kubevirt"}
    for element in document["elements"]:
        assert set(element["profiles"]) == profiles, element["element"]
    assert set(document["sources"]) >= profiles - {"guestclock"}


def test_argv_format_is_the_translation(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["recommend", "--os", "win11", "--qemu-version", "7.2", "--format", "argv"], capsys)
    assert status == 0
    assert "hv-time=on" in out and "hv-stimer=on" in out and "hpet=off" in out


def test_profile_changes_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    _, ours, _ = _run(["recommend", "--os", "win11", "--qemu-version", "7.2", "--format", "argv"], capsys)
    _, proxmox, _ = _run(
        ["recommend", "--os", "win11", "--qemu-version", "7.2", "--format", "argv", "--profile", "proxmox"], capsys
    )
    assert "kvm-pit.lost_tick_policy=delay" in ours
    assert "kvm-pit.lost_tick_policy=discard" in proxmox


def test_unknown_os_names_the_nearest(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(["recommend", "--os", "win111", "--qemu-version", "7.2"], capsys)
    assert status == 1 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("guestclock: error: unknown OS 'win111'") and "win11" in line


def test_utc_registry_for_linux_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(["recommend", "--os", "debian12", "--utc-registry", "--qemu-version", "7.2"], capsys)
    assert status == 2
    assert "not Windows" in err


def test_check_os_warns_and_strict_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    domain = tmp_path / "win.xml"
    domain.write_text(
        "<domain type='kvm'><os><type arch='x86_64' machine='q35'>hvm</type></os>"
        "<clock offset='utc'><timer name='hpet' present='no'/></clock></domain>"
    )
    status, out, _ = _run(["check", str(domain), "--os", "win10"], capsys)
    assert status == 0 and "warning:" in out
    status, out, _ = _run(["check", str(domain), "--os", "win10", "--strict"], capsys)
    assert status == 1


def test_check_os_auto_without_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    domain = tmp_path / "plain.xml"
    domain.write_text("<clock offset='utc'/>")
    status, _, err = _run(["check", str(domain), "--os", "auto"], capsys)
    assert status == 1 and "--os auto" in err
