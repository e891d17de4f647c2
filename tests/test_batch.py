"""``guestclock batch``: one JSON record per domain, refusals as records, a summary on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guestclock.cli import main
from guestclock.workflows import batch

QEMU = ["--qemu-version", "7.2.0", "--now", "@1700000000"]

LINUX = """<domain type='kvm'>
  <name>linux</name>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/>
    <timer name='hpet' present='no'/>
    <timer name='kvmclock' present='yes'/>
  </clock>
</domain>
"""
WINDOWS = """<domain type='kvm'>
  <name>windows</name>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <clock offset='localtime'>
    <timer name='hypervclock' present='yes'/>
  </clock>
</domain>
"""
PLATFORM = "<clock offset='utc'>\n  <timer name='platform'/>\n</clock>\n"
MALFORMED = "<domain><clock offset='utc'></domain>\n"
AARCH64 = """<domain type='kvm'>
  <os><type arch='aarch64' machine='virt'>hvm</type></os>
  <clock offset='utc'/>
</domain>
"""


def _write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    status = main(["batch", *args, *QEMU])
    out, err = capsys.readouterr()
    return status, [json.loads(line) for line in out.splitlines()], err


def test_translated_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"a-linux.xml": LINUX, "b-windows.xml": WINDOWS})
    status, records, err = _run(capsys, str(tmp_path))
    assert status == 0
    assert [r["file"] for r in records] == [str(tmp_path / "a-linux.xml"), str(tmp_path / "b-windows.xml")]
    linux, windows = records
    assert linux["status"] == "translated"
    assert linux["argv"] == [
        "-machine",
        "q35,hpet=off",
        "-cpu",
        "qemu64,kvmclock=on",
        "-rtc",
        "base=utc,driftfix=slew",
        "-global",
        "kvm-pit.lost_tick_policy=delay",
    ]
    assert linux["env"] == {}
    assert isinstance(linux["warnings"], list)
    assert windows["argv"] == ["-cpu", "qemu64,hv-time=on", "-rtc", "base=localtime"]
    assert "translated 2, refused 0" in err


def test_same_records_as_argv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"linux.xml": LINUX})
    assert main(["argv", str(tmp_path / "linux.xml"), "--format", "json", *QEMU]) == 0
    single = json.loads(capsys.readouterr().out)
    _, [record], _ = _run(capsys, str(tmp_path))
    assert record["argv"] == single["argv"]
    assert record["env"] == single["env"]
    assert record["warnings"] == single["warnings"]


def test_refusal_is_a_record_not_an_abort(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"a.xml": LINUX, "b-platform.xml": PLATFORM, "c.xml": WINDOWS})
    status, records, _ = _run(capsys, str(tmp_path))
    assert status == 1
    assert [r["status"] for r in records] == ["translated", "refused", "translated"]
    refused = records[1]
    assert refused["kind"] == "unsupported"
    assert refused["reason"] == "unsupported configuration: unsupported timer type (name) 'platform'"
    assert refused["line"] == 2
    assert refused["refusals"] == [refused["reason"]]
    assert "argv" not in refused


def test_summary_counts_refusals_by_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(
        tmp_path,
        {"a.xml": LINUX, "p1.xml": PLATFORM, "p2.xml": PLATFORM, "m.xml": MALFORMED, "w.xml": WINDOWS},
    )
    status, records, err = _run(capsys, str(tmp_path))
    assert status == 1
    assert len(records) == 5
    assert "5 domain(s)" in err
    assert "translated 2, refused 3" in err
    lines = err.splitlines()
    assert any(
        line.split() == ["2", "unsupported", "configuration:", "unsupported", "timer", "type", "(name)", "'platform'"]
        for line in lines
    )
    assert any(line.split() == ["1", "malformed", "XML"] for line in lines)


def test_malformed_and_unreadable_files_are_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"bad.xml": MALFORMED, "empty.xml": ""})
    missing = tmp_path / "missing.xml"
    status, records, err = _run(capsys, str(tmp_path / "bad.xml"), str(tmp_path / "empty.xml"), str(missing))
    assert status == 1
    bad, empty, gone = records
    assert bad["kind"] == "malformed"
    assert str(bad["reason"]).startswith("XML error: document is not well-formed XML: mismatched tag")
    assert bad["line"] == 1
    assert empty["kind"] == "malformed"
    assert empty["reason"] == "XML error: document is empty"
    assert gone == {
        "file": str(missing),
        "status": "refused",
        "kind": "unreadable",
        "reason": f"cannot read '{missing}': No such file or directory",
        "line": None,
        "warnings": [],
    }
    assert "refused 3" in err


def test_directory_walk_is_recursive_sorted_and_xml_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(
        tmp_path,
        {"b.xml": LINUX, "a/z.xml": WINDOWS, "a/notes.txt": "not a domain", "c/D.XML": LINUX, "a.xml": WINDOWS},
    )
    assert batch.collect_files([str(tmp_path)]) == [
        str(tmp_path / "a.xml"),
        str(tmp_path / "a" / "z.xml"),
        str(tmp_path / "b.xml"),
        str(tmp_path / "c" / "D.XML"),
    ]
    status, records, _ = _run(capsys, str(tmp_path))
    assert status == 0
    assert len(records) == 4


def test_glob_patterns_are_expanded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"one.xml": LINUX, "two.xml": WINDOWS, "three.txt": LINUX})
    status, records, _ = _run(capsys, str(tmp_path / "*.xml"))
    assert status == 0
    assert [Path(str(r["file"])).name for r in records] == ["one.xml", "two.xml"]


@pytest.mark.parametrize("pattern", ["*.xml", "nothing-*.xml"])
def test_empty_glob_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(tmp_path / pattern), *QEMU])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"no files match '{tmp_path / pattern}'" in err


def test_directory_without_xml_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"readme.txt": "hello"})
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(tmp_path), *QEMU])
    assert exit_info.value.code == 2
    assert f"no *.xml files under '{tmp_path}'" in capsys.readouterr().err


def test_stdin_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", "-", *QEMU])
    assert exit_info.value.code == 2
    assert "batch reads files, not standard input" in capsys.readouterr().err


def test_pool_gives_the_same_lines_in_the_same_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"d{i:03d}.xml": (LINUX, WINDOWS, PLATFORM, MALFORMED, AARCH64)[i % 5] for i in range(40)}
    _write(tmp_path, files)
    status_one = main(["batch", str(tmp_path), "--jobs", "1", *QEMU])
    one = capsys.readouterr()
    monkeypatch.setattr(batch, "IN_PROCESS_BELOW", 0)
    status_pool = main(["batch", str(tmp_path), "--jobs", "2", *QEMU])
    pool = capsys.readouterr()
    assert status_one == status_pool == 1
    assert pool.out == one.out
    assert len(pool.out.splitlines()) == 40
    assert pool.err.splitlines()[-4:] == one.err.splitlines()[-4:]


def test_other_architecture_gets_its_own_qemu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"a.xml": AARCH64, "b.xml": LINUX})
    status, records, _ = _run(capsys, str(tmp_path))
    assert status == 0
    assert records[0]["argv"] == ["-rtc", "base=utc"]
    assert records[1]["status"] == "translated"


def test_bare_clock_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"clock.xml": "<clock offset='utc'><timer name='hpet' present='no'/></clock>"})
    status, [record], _ = _run(capsys, str(tmp_path), "--machine", "q35")
    assert status == 0
    assert record["argv"] == ["-machine", "q35,hpet=off", "-rtc", "base=utc"]


def test_unknown_time_zone_is_refused_once_per_domain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zone = "<clock offset='timezone' timezone='Mars/Olympus'/>"
    _write(tmp_path, {"a.xml": zone, "b.xml": zone})
    status, records, _ = _run(capsys, str(tmp_path))
    assert status == 1
    assert [r["kind"] for r in records] == ["invalid", "invalid"]
    assert "unknown time zone 'Mars/Olympus'" in str(records[0]["reason"])
    assert records[0]["line"] == 1


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "in", {"a.xml": LINUX})
    target = tmp_path / "out.jsonl"
    assert main(["batch", str(tmp_path / "in"), "--output", str(target), *QEMU]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    [record] = [json.loads(line) for line in target.read_text().splitlines()]
    assert record["status"] == "translated"
    assert "translated 1" in err


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"a.xml": LINUX})
    _run(capsys, str(tmp_path))
    # capsys is not a terminal: the summary only, no carriage returns
    _, _, err = _run(capsys, str(tmp_path))
    assert "\r" not in err
