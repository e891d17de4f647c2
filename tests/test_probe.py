"""Probing a QEMU binary: the real QEMU 7.2 over QMP, the cache, and every fault.

Tests that start QEMU skip only when /usr/bin/qemu-system-x86_64 is absent (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guestclock import probe
from guestclock.cli import main
from guestclock.core.model.caps import Cap, Capabilities
from guestclock.errors import ProbeError
from guestclock.probe import cache as probecache
from guestclock.qemu import probe as qemu_probe

QEMU = "/usr/bin/qemu-system-x86_64"
needs_qemu = pytest.mark.skipif(not os.access(QEMU, os.X_OK), reason=f"QEMU is not installed ({QEMU} is absent)")


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private cache folder and temporary folder per test, so leftovers can be seen."""
    cache = tmp_path / "cache"
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    yield temp
    assert list(temp.iterdir()) == [], "the probe left files in the temporary folder"


def _script(tmp_path: Path, name: str, body: str, mode: int = 0o755) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)
    return str(path)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _assert_all_gone(pid_file: Path) -> None:
    pids = [int(line) for line in pid_file.read_text().split()] if pid_file.exists() else []
    deadline = time.monotonic() + 2
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [pid for pid in pids if _alive(pid)], "a process of the probed binary survived"


# -- the real QEMU -------------------------------------------------------------------


@needs_qemu
def test_probe_real_qemu() -> None:
    caps = probe.probe_binary(QEMU, use_cache=False)
    assert caps.source == f"qmp:{QEMU}"
    assert caps.version is not None and caps.version[:2] == (7, 2)
    assert caps.arch == "x86_64"
    expected = {
        Cap.RTC,
        Cap.MACHINE_HPET,
        Cap.NO_HPET,  # Debian's 7.2 still takes -no-hpet (QMP cannot show it: from the version)
        Cap.KVM_PIT_TICK_POLICY,
        Cap.CPU_FEATURE_PROPS,
        Cap.CPU_KVMCLOCK,
        Cap.CPU_HV_TIME,
        Cap.CPU_TSC_FREQUENCY,
        Cap.KVM,
        Cap.TCG,
    }
    assert expected <= caps.caps
    assert not caps.has(Cap.LOCALTIME) and not caps.has(Cap.CPU_HV_TIME_LEGACY)
    assert caps.machine_has_hpet("pc") and caps.machine_has_hpet("pc-q35-7.2")
    assert not caps.machine_has_hpet("microvm")
    assert caps.notes == ()  # everything was read from the binary


@needs_qemu
def test_cache_answers_without_starting_qemu(monkeypatch: pytest.MonkeyPatch) -> None:
    first = probe.probe_binary(QEMU)
    entries = list(Path(probecache.cache_dir()).glob("*.json"))
    assert len(entries) == 1
    assert stat.S_IMODE(entries[0].stat().st_mode) == 0o600

    def no_qemu(path: str, timeout: float = 10.0) -> Capabilities:
        raise AssertionError("QEMU was started although the cache holds the answer")

    monkeypatch.setattr(qemu_probe, "probe_qmp", no_qemu)
    started = time.perf_counter()
    second = probe.probe_binary(QEMU)
    elapsed = time.perf_counter() - started
    assert second == first and second.notes == first.notes
    assert elapsed < 0.05  # a few ms in practice; generous for a loaded CI host


def _counting_probe(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def fake(path: str, timeout: float = 10.0) -> Capabilities:
        calls.append(path)
        return Capabilities(caps=frozenset({Cap.TCG}), source=f"qmp:{path}", version=(7, 2, 0), arch="x86_64")

    monkeypatch.setattr(qemu_probe, "probe_qmp", fake)
    return calls


def test_changed_binary_is_probed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_probe(monkeypatch)
    binary = _script(tmp_path, "qemu-system-x86_64", "exit 0\n")
    probe.probe_binary(binary)
    probe.probe_binary(binary)
    assert len(calls) == 1
    Path(binary).write_text("#!/bin/sh\n# rebuilt\nexit 0\n")
    probe.probe_binary(binary)
    assert len(calls) == 2
    probe.probe_binary(binary, use_cache=False)
    assert len(calls) == 3


def test_corrupt_cache_entry_is_probed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_probe(monkeypatch)
    binary = _script(tmp_path, "qemu-system-x86_64", "exit 0\n")
    probe.probe_binary(binary)
    entry = probecache.entry_path(probecache.binary_identity(binary))
    record = json.loads(Path(entry).read_text())
    record["body"]["capabilities"]["capabilities"].append("kvm")  # edited, checksum now wrong
    Path(entry).write_text(json.dumps(record))
    assert probecache.load(binary) is None
    probe.probe_binary(binary)
    assert len(calls) == 2
    Path(entry).write_text('{"body": ')  # truncated
    assert probecache.load(binary) is None
    assert probe.probe_binary(binary).caps == frozenset({Cap.TCG})
    assert len(calls) == 3


def test_unwritable_cache_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_probe(monkeypatch)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    binary = _script(tmp_path, "qemu-system-x86_64", "exit 0\n")
    probe.probe_binary(binary)
    probe.probe_binary(binary)
    assert len(calls) == 2


# -- faults ---------------------------------------------------------------------------


def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match=r"QEMU binary '.*/nope' does not exist"):
        probe.probe_binary(str(tmp_path / "nope"))


def test_not_executable(tmp_path: Path) -> None:
    path = _script(tmp_path, "qemu", "exit 0\n", mode=0o644)
    with pytest.raises(ProbeError, match=r"QEMU binary '.*/qemu' is not an executable file"):
        probe.probe_binary(path)
    with pytest.raises(ProbeError, match="is not an executable file"):
        probe.probe_binary(str(tmp_path))


def test_not_qemu_true() -> None:
    true = shutil.which("true") or "/bin/true"
    with pytest.raises(ProbeError) as info:
        probe.probe_binary(true, use_cache=False)
    assert str(info.value) == (
        f"'{true}' is not QEMU: it exited with status 0 before answering QMP, and its -help output "
        "has no 'QEMU emulator version X.Y.Z' line"
    )


def test_not_qemu_garbage(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    path = _script(tmp_path, "garbage", f"echo $$ >> {pids}\nprintf 'garbage \\001\\377 here\\n'\nexit 3\n")
    with pytest.raises(ProbeError) as info:
        probe.probe_binary(path, use_cache=False)
    message = str(info.value)
    assert message.startswith(f"'{path}' is not ")
    assert "exited with status 3: garbage ?" in message
    assert "\n" not in message and "\x01" not in message
    _assert_all_gone(pids)


def test_crash(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    path = _script(tmp_path, "crash", f"echo $$ >> {pids}\nkill -SEGV $$\n")
    with pytest.raises(ProbeError) as info:
        probe.probe_binary(path, use_cache=False)
    assert str(info.value) == (
        f"'{path}' is not a working QEMU: it was killed by signal 11 (SIGSEGV) before answering QMP, "
        "and '-help' printed nothing"
    )
    _assert_all_gone(pids)


def test_hang_is_stopped_within_the_limit(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # the script starts a child too: the whole process group must go
    path = _script(tmp_path, "hang", f"echo $$ >> {pids}\nsleep 60 &\necho $! >> {pids}\nwait\n")
    started = time.monotonic()
    with pytest.raises(ProbeError) as info:
        probe.probe_binary(path, timeout=1.0, use_cache=False)
    assert time.monotonic() - started < 3.0
    assert str(info.value) == (
        f"QEMU binary '{path}' did not answer within 1 s (QMP and -help); it was stopped. "
        "Is it QEMU? (--timeout sets the limit)"
    )
    _assert_all_gone(pids)
    assert not list(Path(probecache.cache_dir()).glob("*.json")) if os.path.isdir(probecache.cache_dir()) else True


def test_old_qemu_without_qmp_falls_back_to_help(tmp_path: Path) -> None:
    """A QEMU 0.12 refuses the monitor options and exits; its -help text is the answer."""
    help_text = (Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "help").glob("*0.12*")
    sample = next(iter(sorted(help_text)), None)
    if sample is None:
        pytest.skip("no QEMU 0.12 -help text in the shared corpus")
    path = _script(
        tmp_path,
        "qemu-system-x86_64",
        f'if [ "$1" = "-help" ]; then cat "{sample}"; exit 0; fi\n'
        "echo \"qemu: invalid option -- '-no-user-config'\" >&2\nexit 1\n",
    )
    caps = probe.probe_binary(path, use_cache=False)
    assert caps.source == f"help:{path}"
    assert caps.version is not None and caps.version[:2] == (0, 12)
    assert caps.has(Cap.RTC)


# -- the command ------------------------------------------------------------------------


@needs_qemu
def test_caps_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["caps", "--qemu", QEMU, "--format", "json", "--no-cache"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["binary"] == QEMU
    assert data["source"] == f"qmp:{QEMU}"
    assert "kvm-pit-lost-tick-policy" in data["capabilities"]
    assert "machine-hpet" in data["capabilities"]


def test_caps_command_fault_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _script(tmp_path, "crash", "kill -SEGV $$\n")
    assert main(["caps", "--qemu", path, "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("guestclock: error: ")
    assert "Traceback" not in err
