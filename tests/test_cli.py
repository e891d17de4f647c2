"""The command line: formats, commands, exit codes; the shell format reproduces argv exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guestclock.cli import main

WINDOWS = Path(__file__).parents[1] / "examples" / "windows-guest.xml"
LINUX = Path(__file__).parents[1] / "examples" / "linux-guest.xml"


@pytest.fixture(autouse=True)
def _no_host_qemu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "argv", str(WINDOWS), "--qemu-version", "7.2.0", "--format", "json")
    assert status == 0
    data = json.loads(out)
    assert set(data) == {"argv", "env", "warnings", "qemu"}
    assert "-machine" in data["argv"] and data["qemu"]["version"] == "7.2.0"


def test_lines_format_notes_environment(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    xml = tmp_path / "tz.xml"
    xml.write_text("<clock offset='timezone' timezone='America/New_York'/>")
    status, out, err = _run(capsys, "argv", str(xml), "--qemu-version", "7.2.0", "--format", "lines")
    assert status == 0
    assert out == "-rtc\nbase=localtime\n"
    assert "TZ=America/New_York" in err


def test_shell_format_reproduces_argv_and_env(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = tmp_path / "qemu-system-x86_64"
    fake.write_text('#!/bin/sh\nprintf "TZ=%s\\n" "$TZ"\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    xml = tmp_path / "tz.xml"
    xml.write_text("<clock offset='timezone' timezone='Europe/Paris'><timer name='rtc' tickpolicy='catchup'/></clock>")
    _run(capsys, "argv", str(xml), "--qemu-version", "7.2.0", "--format", "json")
    status, line, _ = _run(capsys, "argv", str(xml), "--qemu-version", "7.2.0")
    assert status == 0
    _, data_out, _ = _run(capsys, "argv", str(xml), "--qemu-version", "7.2.0", "--format", "json")
    data = json.loads(data_out)
    shell_line = line.strip().replace("qemu-system-x86_64", str(fake), 1)
    ran = subprocess.run(["sh", "-c", shell_line], capture_output=True, text=True, check=True, env={})
    assert ran.stdout.splitlines() == [f"TZ={data['env']['TZ']}", *data["argv"]]


def test_stdin_and_output_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"<clock offset='localtime'/>")))
    out_file = tmp_path / "args.txt"
    status, out, _ = _run(
        capsys, "argv", "-", "--qemu-version", "7.2.0", "--format", "lines", "--output", str(out_file)
    )
    assert status == 0 and out == ""
    assert out_file.read_text() == "-rtc\nbase=localtime\n"
    assert [p.name for p in tmp_path.iterdir()] == ["args.txt"]


def test_check_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "check", str(WINDOWS))
    assert status == 0 and "valid <clock> with 4 timer(s)" in out
    status, out, _ = _run(capsys, "explain", str(WINDOWS), "--qemu-version", "9.2.0")
    assert status == 0
    assert "hpet=off" in out and "<timer name='hpet' present='no'>" in out and "[needs machine-hpet]" in out


def test_explain_lists_every_refusal_with_missing_capability(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "explain", str(WINDOWS), "--help-text", _help("qemu-kvm-0.12.1.2-rhel61"))
    assert status == 1
    assert "refused: unsupported configuration: Configuring the 'hypervclock' timer is not supported" in out
    assert "lacks capability 'cpu.hv-time'" in out


def _help(name: str) -> str:
    from corpus import CORPUS

    return str(CORPUS / "help" / name)


def test_caps_command(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "caps", "--qemu-version", "9.0.0", "--format", "json")
    assert status == 0
    data = json.loads(out)
    assert "machine-hpet" in data["capabilities"] and "no-hpet" not in data["capabilities"]


def test_default_qemu_is_the_newest_known_when_none_on_path(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "argv", str(LINUX))
    assert status == 0
    assert "no qemu-system-x86_64 on PATH; using the built-in capabilities of QEMU" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["argv", "/nonexistent.xml", "--qemu-version", "7.2"], "cannot read '/nonexistent.xml'"),
        (["argv", "EXAMPLE", "--qemu-version", "seven"], "invalid QEMU version 'seven'"),
        (["argv", "EXAMPLE", "--caps", "/nonexistent"], "cannot read '/nonexistent'"),
        (["argv", "EXAMPLE", "--qemu-version", "7.2", "--now", "yesterday"], "invalid --now 'yesterday'"),
        (["argv", "EXAMPLE", "--qemu", "/nonexistent/qemu"], "'/nonexistent/qemu' does not exist"),
    ],
)
def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    argv = [str(WINDOWS) if word == "EXAMPLE" else word for word in argv]
    status, out, err = _run(capsys, *argv)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("guestclock: error: ")
    assert message in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["argv", str(WINDOWS), "--qemu-version", "7.2", "--caps", "x"])
    assert exc.value.code == 2


def test_module_entry_point_and_lazy_imports() -> None:
    env = {**os.environ, "PATH": os.environ.get("PATH", "")}
    code = "import sys, guestclock.cli; sys.exit(0 if 'guestclock.core.translate' not in sys.modules else 1)"
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
    ran = subprocess.run(
        [sys.executable, "-m", "guestclock", "--help"], capture_output=True, text=True, env=env, check=False
    )
    assert ran.returncode == 0 and "argv" in ran.stdout


def test_public_names_are_the_functions_not_modules() -> None:
    import guestclock
    import guestclock.cli  # imports the submodules the way a program would

    assert callable(guestclock.translate) and callable(guestclock.read_domain)
    assert guestclock.translate.__module__ == "guestclock.core.translate"
