"""``guestclock matrix``: one clock against libvirt's recorded QEMU releases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guestclock.cli import main
from guestclock.core.matrix import matrix_rows
from guestclock.core.read.domain import read_domain
from guestclock.workflows.matrix import load_caps_dir

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CAPS_DIR = SHARED / "caps"
CASES = SHARED / "libvirt-9.0" / "cases"


def test_corpus_is_there() -> None:
    assert sorted(CAPS_DIR.glob("caps_*.xml")), f"no caps_*.xml in {CAPS_DIR}"


def test_every_dump_is_loaded_oldest_first() -> None:
    sets = load_caps_dir(str(CAPS_DIR))
    assert len(sets) == len(list(CAPS_DIR.glob("caps_*.xml")))
    versions = [caps.version for _name, caps in sets]
    assert versions == sorted(versions, key=lambda v: v or (0, 0, 0))


def test_hpet_off_changes_spelling_across_releases() -> None:
    domain = read_domain((CASES / "clock-hpet-off.xml").read_bytes()).domain
    rows = {row.name: row for row in matrix_rows(domain, load_caps_dir(str(CAPS_DIR)), None)}
    assert rows["caps_5.1.0.x86_64.xml"].argv is not None and "-no-hpet" in rows["caps_5.1.0.x86_64.xml"].argv
    assert rows["caps_5.2.0.x86_64.xml"].argv is not None and "pc,hpet=off" in rows["caps_5.2.0.x86_64.xml"].argv
    refused = rows["caps_6.0.0.s390x.xml"]
    assert not refused.runs
    assert refused.refusals[0] == (
        "unsupported configuration: this QEMU emulates arch s390x, not the domain's arch i686"
    )


def test_table_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["matrix", str(CASES / "clock-utc.xml"), "--caps-dir", str(CAPS_DIR)])
    out = capsys.readouterr().out
    assert status == 1  # the s390x and aarch64 dumps refuse an i686 domain
    assert "REFUSED" in out and "runs" in out
    assert out.rstrip().endswith(f"runs on 14 of {len(list(CAPS_DIR.glob('caps_*.xml')))} QEMU capability sets")


def test_all_run_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "caps"
    folder.mkdir()
    for name in ("caps_7.2.0.x86_64.xml", "caps_8.0.0.x86_64.xml"):
        (folder / name).write_bytes((CAPS_DIR / name).read_bytes())
    (folder / "qemu-0.12.1.help").write_bytes((SHARED / "help" / "qemu-0.12.1").read_bytes())
    (folder / "README.xml").write_text("<notes/>")  # not a capability set: skipped
    status = main(["matrix", str(CASES / "clock-france.xml"), "--caps-dir", str(folder), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 0 and data["all_run"] is True
    assert [row["name"] for row in data["qemus"]] == [
        "qemu-0.12.1.help",
        "caps_7.2.0.x86_64.xml",
        "caps_8.0.0.x86_64.xml",
    ]
    for row in data["qemus"]:
        assert row["env"] == {"TZ": "Europe/Paris"}
        assert row["argv"] == ["-rtc", "base=localtime"]


def test_refusal_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = tmp_path / "clock.xml"
    clock.write_text("<clock offset='utc'><timer name='rtc' track='realtime'/></clock>")
    folder = tmp_path / "caps"
    folder.mkdir()
    (folder / "qemu-0.10.5.help").write_bytes((SHARED / "help" / "qemu-0.10.5").read_bytes())
    status = main(["matrix", str(clock), "--caps-dir", str(folder), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 1
    (row,) = data["qemus"]
    assert row["runs"] is False and row["argv"] is None
    assert row["refusals"] == ["unsupported configuration: unsupported rtc timer track 'realtime'"]


def test_empty_or_missing_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = tmp_path / "clock.xml"
    clock.write_text("<clock offset='utc'/>")
    assert main(["matrix", str(clock), "--caps-dir", str(tmp_path)]) == 1
    assert "holds no capability set" in capsys.readouterr().err
    assert main(["matrix", str(clock), "--caps-dir", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "cannot read --caps-dir" in err and "No such file or directory" in err
