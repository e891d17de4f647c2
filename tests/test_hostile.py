"""Hostile input and faults: nothing gets through, nothing breaks, nothing is lost (issue 4).

Every hostile case is one row of ``CASES``: a name, the bytes of the input file
(or None when the hostility is in an argument), the arguments, the exact
stderr line expected, and the exit status. Each row runs in-process through
``cli.main``; the rows marked ``process`` also run through the real command
(``python -m guestclock``) in a fresh process whose wall time and peak RSS are
measured against the limits (1 s, 300 MB).

Run this file as a script to print the time and memory of every case.
"""

from __future__ import annotations

import errno
import io
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from guestclock.cli import main
from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.model.domain import CPU, Clock, Domain, Offset, Timer, TimerName
from guestclock.core.render.argv import to_shell
from guestclock.core.rules.history import caps_for_version
from guestclock.core.translate import Now, translate
from guestclock.errors import GuestclockError, UnsupportedConfigError
from guestclock.host import files, zones

TIME_LIMIT = 1.0  # seconds, wall time of the whole process
MEMORY_LIMIT = 300 * 1024  # kB of peak RSS
#: --now is fixed so that variable offsets are reproducible
ARGV = ("argv", "{file}", "--qemu-version", "7.2.0", "--now", "@1234567890")
DTD = "guestclock: error: {file}:{line}: XML error: DTDs are not accepted (no entity expansion, no external entities)"


@dataclass(frozen=True)
class Case:
    """One hostile input and the one line guestclock must answer with."""

    name: str
    #: the input file's bytes; None when the file is a harmless clock and the
    #: hostility is in the arguments
    document: Callable[[], bytes] | None
    #: the whole stderr line ({file} is the input's path); for a usage error, its last line
    expected: str
    argv: tuple[str, ...] = ARGV
    status: int = 1
    #: also run through the real command in a fresh process, measuring time and memory
    process: bool = False
    #: feed the document on stdin instead of as a file
    stdin: bool = False
    #: a -help text written beside the document ({help} in argv)
    help_text: Callable[[], bytes] | None = None


def _clock(attrs: str = "offset='utc'", body: str = "") -> Callable[[], bytes]:
    return f"<clock {attrs}>{body}</clock>".encode  # bound method: built when the case runs


def _timer(attrs: str) -> Callable[[], bytes]:
    return _clock(body=f"<timer {attrs}/>")


def _domain(inner: str) -> Callable[[], bytes]:
    return f"<domain type='kvm'><name>g</name>{inner}<clock offset='utc'/></domain>".encode


def _bomb() -> bytes:
    # the "billion laughs": ten levels of ten references, 10^9 'lol's if expanded
    levels = ['<!ENTITY lol0 "lol">']
    levels += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f'<?xml version="1.0"?>\n<!DOCTYPE clock [{"".join(levels)}]>\n<clock offset="&lol9;"/>'.encode()


def _garbage() -> bytes:
    return random.Random(4).randbytes(64 * 1024)


def _fifty_mb() -> bytes:
    # well-formed and valid if it were read whole: only the size is wrong
    return b"<clock offset='utc'>" + b" " * (50 * 1024 * 1024) + b"</clock>"


WIDE = 3_000_000  # bytes of <x/> elements: 750,000 elements inside a <domain>
HARMLESS = _clock()
UTC_ZONE = "Etc/UTC"

CASES: tuple[Case, ...] = (
    # -- XML that must not be expanded, fetched or believed ----------------------
    Case("entity-bomb", _bomb, DTD.replace("{line}", "2"), process=True),
    Case(
        "external-entity-etc-passwd",
        lambda: b'<!DOCTYPE clock [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<clock offset="utc">&x;</clock>',
        DTD.replace("{line}", "1"),
        process=True,
    ),
    Case(
        "external-dtd",
        lambda: b'<!DOCTYPE clock SYSTEM "file:///etc/passwd">\n<clock offset="utc"/>',
        DTD.replace("{line}", "1"),
    ),
    Case(
        "parameter-entity",
        lambda: b'<!DOCTYPE clock [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><clock/>',
        DTD.replace("{line}", "1"),
    ),
    Case("bare-doctype", lambda: b"<!DOCTYPE clock>\n<clock/>", DTD.replace("{line}", "1")),
    Case(
        "undeclared-entity",
        _clock(body="&passwd;"),
        "guestclock: error: {file}:1: XML error: document is not well-formed XML: undefined entity (column 20)",
    ),
    # -- XML that is not XML ---------------------------------------------------------
    Case(
        "truncated",
        lambda: b"<clock offset='utc'>\n  <timer name='rtc' tickpolicy='cat",
        "guestclock: error: {file}:2: XML error: document is not well-formed XML: unclosed token (column 2)",
        process=True,
    ),
    Case(
        "truncated-after-root-start",
        lambda: b"<domain type='kvm'>\n<clock offset='utc'>",
        "guestclock: error: {file}:2: XML error: document is not well-formed XML: no element found (column 20)",
    ),
    Case(
        "binary-garbage",
        _garbage,
        "guestclock: error: {file}:1: XML error: document is not well-formed XML: not well-formed (invalid token) "
        "(column 2)",
        process=True,
    ),
    Case("empty", lambda: b"", "guestclock: error: XML error: document is empty"),
    Case("only-blanks", lambda: b" \n\t\n", "guestclock: error: XML error: document is empty"),
    Case(
        "not-a-clock",
        lambda: b"<html><body/></html>",
        "guestclock: error: {file}:1: XML error: expected a <domain> or <clock> document, found <html>",
    ),
    Case(
        "two-roots",
        lambda: b"<clock/><clock/>",
        "guestclock: error: {file}:1: XML error: document is not well-formed XML: junk after document element "
        "(column 8)",
    ),
    # -- too big, too deep, too wide, too long -------------------------------------------
    Case(
        "fifty-megabytes",
        _fifty_mb,
        "guestclock: error: XML error: document is larger than 10485760 bytes; guestclock reads at most that",
        process=True,
    ),
    Case(
        "fifty-megabytes-on-stdin",
        _fifty_mb,
        "guestclock: error: XML error: document is larger than 10485760 bytes; guestclock reads at most that",
        argv=("argv", "-", "--qemu-version", "7.2.0"),
        stdin=True,
        process=True,
    ),
    Case(
        "nesting-100000-deep",
        lambda: b"<domain>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</domain>",
        "guestclock: error: {file}:1: XML error: elements are nested more than 256 deep",
        process=True,
    ),
    Case(
        "one-megabyte-attribute",
        _clock(f"offset='{'u' * 1024 * 1024}'"),
        "guestclock: error: {file}:1: XML error: attribute 'offset' of element 'clock' is 1048576 characters long; "
        "the limit is 65536",
        process=True,
    ),
    Case(
        "one-megabyte-attribute-on-an-ignored-element",
        _domain(f"<description text='{'d' * 1024 * 1024}'/>"),
        "guestclock: error: {file}:1: XML error: attribute 'text' of element 'description' is 1048576 characters "
        "long; the limit is 65536",
    ),
    Case(
        "750000-elements",
        lambda: b"<domain>" + b"<x/>" * (WIDE // 4) + b"<clock/></domain>",
        "guestclock: error: {file}:1: XML error: document has more than 50000 elements",
        process=True,
    ),
    Case(
        "300-attributes",
        _clock(" ".join(f"a{i}=''" for i in range(300))),
        "guestclock: error: {file}:1: XML error: element 'clock' has 300 attributes; the limit is 256",
    ),
    Case(
        "nine-megabyte-tag",
        _clock(" ".join(f"a{i}=''" for i in range(900_000))),
        "guestclock: error: {file}:1: XML error: a single tag, comment or text run is longer than 2097152 bytes",
        process=True,
    ),
    Case(
        "one-megabyte-element-name",
        lambda: b"<clock><" + b"t" * 1024 * 1024 + b"/></clock>",
        "guestclock: error: {file}:1: XML error: unexpected element '" + "t" * 200 + "...' in element 'clock'",
    ),
    # -- bytes that are not UTF-8 ----------------------------------------------------------
    Case(
        "latin-1-bytes",
        lambda: "<clock offset='utc'><timer name='rtc' track='wäll'/></clock>".encode("latin-1"),
        "guestclock: error: {file}:1: XML error: document is not valid UTF-8: byte 0xe4 at offset 46",
        process=True,
    ),
    Case(
        "lone-continuation-byte",
        lambda: b"<clock offset='utc\x80'/>",
        "guestclock: error: {file}:1: XML error: document is not valid UTF-8: byte 0x80 at offset 18",
    ),
    Case(
        "overlong-utf8-slash",
        lambda: b"<clock offset='timezone' timezone='Europe\xc0\xafParis'/>",
        "guestclock: error: {file}:1: XML error: document is not valid UTF-8: byte 0xc0 at offset 41",
    ),
    Case(
        "nul-byte",
        lambda: b"<clock offset='utc\x00'/>",
        "guestclock: error: {file}:1: XML error: document is not well-formed XML: not well-formed (invalid token) "
        "(column 18)",
    ),
    Case(
        "nul-character-reference",
        _clock("offset='timezone' timezone='Europe/Paris&#0;x'"),
        "guestclock: error: {file}:1: XML error: document is not well-formed XML: reference to invalid character "
        "number (column 47)",
    ),
    # -- numbers out of range --------------------------------------------------------------
    Case(
        "adjustment-past-year-9999",
        _clock("offset='variable' adjustment='9223372036854775807'"),
        "guestclock: error: {file}:1: unsupported configuration: clock adjustment '9223372036854775807' puts the "
        "guest's clock outside the years 1 to 9999",
        process=True,
    ),
    Case(
        "adjustment-before-year-1",
        _clock("offset='utc' adjustment='-100000000000'"),
        "guestclock: error: {file}:1: unsupported configuration: clock adjustment '-100000000000' puts the guest's "
        "clock outside the years 1 to 9999",
    ),
    Case(
        "adjustment-beyond-64-bits",
        _clock("offset='variable' adjustment='9223372036854775808'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'adjustment' in element 'clock': "
        "'9223372036854775808'.",
    ),
    Case(
        "adjustment-not-a-number",
        _clock("offset='variable' adjustment='1e9'"),
        "guestclock: error: {file}:1: XML error: unknown clock adjustment '1e9'",
    ),
    Case(
        "start-negative",
        _clock("offset='absolute' start='-1'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'start' in element 'clock': '-1'.",
    ),
    Case(
        "start-past-year-9999",
        _clock("offset='absolute' start='253402300800'"),
        "guestclock: error: {file}:1: unsupported configuration: The maximum 'start' value for "
        "<clock offset='absolute'> is 253402300799",
    ),
    Case(
        "start-beyond-64-bits",
        _clock("offset='absolute' start='18446744073709551616'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'start' in element 'clock': "
        "'18446744073709551616'.",
    ),
    Case(
        "start-thousand-digits",
        _clock(f"offset='absolute' start='{'9' * 1000}'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'start' in element 'clock': "
        f"'{'9' * 200}...'.",
        process=True,
    ),
    Case(
        "start-five-thousand-digits",
        _clock(f"offset='absolute' start='{'9' * 5000}'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'start' in element 'clock': "
        f"'{'9' * 200}...'.",
        process=True,
    ),
    Case(
        "adjustment-five-thousand-digits",
        _clock(f"offset='variable' adjustment='-{'9' * 5000}'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'adjustment' in element 'clock': "
        f"'-{'9' * 199}...'.",
    ),
    Case(
        "frequency-five-thousand-leading-zeros",
        _timer(f"name='tsc' frequency='{'0' * 5000}1000000000' present='maybe'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'present' in element 'timer': 'maybe'.",
    ),
    Case(
        "frequency-zero",
        _timer("name='tsc' frequency='0'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'frequency' in element 'timer': '0'.",
    ),
    Case(
        "frequency-negative",
        _timer("name='tsc' frequency='-1000'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'frequency' in element 'timer': '-1000'.",
    ),
    Case(
        "frequency-beyond-64-bits",
        _timer("name='tsc' frequency='18446744073709551616'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'frequency' in element 'timer': "
        "'18446744073709551616'.",
        process=True,
    ),
    Case(
        "frequency-beyond-qemu-int64",
        _timer("name='tsc' frequency='9223372036854775808'"),
        "guestclock: error: {file}:1: unsupported configuration: tsc frequency '9223372036854775808' is beyond "
        "QEMU's largest tsc-frequency, 9223372036854775807",
    ),
    Case(
        "frequency-hex",
        _timer("name='tsc' frequency='0x10'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'frequency' in element 'timer': '0x10'.",
    ),
    Case(
        "catchup-limit-beyond-64-bits",
        _clock(body="<timer name='rtc' tickpolicy='catchup'><catchup limit='18446744073709551616'/></timer>"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'limit' in element 'catchup': "
        "'18446744073709551616'.",
    ),
    # -- names and attributes libvirt does not define ---------------------------------------
    Case(
        "unknown-timer-name",
        _timer("name='hpet2'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'name' in element 'timer': 'hpet2'.",
        process=True,
    ),
    Case(
        "unknown-timer-attribute",
        _timer("name='rtc' tickpolicy='catchup' lost_tick_policy='merge'"),
        "guestclock: error: {file}:1: XML error: unknown attribute 'lost_tick_policy' in element 'timer'",
    ),
    Case(
        "unknown-clock-attribute",
        _clock("offset='utc' tz='Europe/Paris'"),
        "guestclock: error: {file}:1: XML error: unknown attribute 'tz' in element 'clock'",
    ),
    Case(
        "namespaced-attribute",
        _clock("xmlns:q='urn:x' q:base='localtime'"),
        "guestclock: error: {file}:1: XML error: unknown attribute 'xmlns:q' in element 'clock'",
    ),
    Case(
        "unknown-element-in-timer",
        _clock(body="<timer name='rtc'><policy/></timer>"),
        "guestclock: error: {file}:1: XML error: unexpected element 'policy' in element 'timer'",
    ),
    # -- injection through values that reach QEMU's argv or environment --------------------
    Case(
        "timezone-shell-metacharacters",
        _clock("offset='timezone' timezone='$(touch${IFS}/tmp/pwned)'"),
        "guestclock: error: {file}:1: XML error: unknown time zone '$(touch${IFS}/tmp/pwned)' in "
        "<clock offset='timezone'>: not in the IANA time zone database",
        process=True,
    ),
    Case(
        "timezone-with-blank",
        _clock("offset='timezone' timezone='Europe/Paris; rm -rf ~'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'timezone' in element 'clock': "
        "'Europe/Paris; rm -rf ~'.",
    ),
    Case(
        "timezone-option-separator",
        _clock("offset='timezone' timezone='Europe/Paris,clock=vm'"),
        "guestclock: error: {file}:1: XML error: unknown time zone 'Europe/Paris,clock=vm' in "
        "<clock offset='timezone'>: not in the IANA time zone database",
    ),
    Case(
        "timezone-posix-rule",
        _clock("offset='timezone' timezone='CET-1CEST,M3.5.0,M10.5.0/3'"),
        "guestclock: error: {file}:1: XML error: unknown time zone 'CET-1CEST,M3.5.0,M10.5.0/3' in "
        "<clock offset='timezone'>: not in the IANA time zone database",
    ),
    Case(
        "timezone-glibc-file-syntax",
        _clock("offset='timezone' timezone=':/etc/passwd'"),
        "guestclock: error: {file}:1: XML error: unknown time zone ':/etc/passwd' in "
        "<clock offset='timezone'>: not in the IANA time zone database",
    ),
    Case(
        "timezone-path-traversal",
        _clock("offset='timezone' timezone='../../../../etc/passwd'"),
        "guestclock: error: {file}:1: XML error: unknown time zone '../../../../etc/passwd' in "
        "<clock offset='timezone'>: not in the IANA time zone database",
    ),
    Case(
        "timezone-newline",
        _clock("offset='timezone' timezone='Europe/Paris&#10;LD_PRELOAD=/tmp/x.so'"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'timezone' in element 'clock': "
        "'Europe/Paris\\nLD_PRELOAD=/tmp/x.so'.",
    ),
    Case(
        "timezone-equals",
        _clock("offset='timezone' timezone='TZ=UTC'"),
        "guestclock: error: {file}:1: XML error: unknown time zone 'TZ=UTC' in "
        "<clock offset='timezone'>: not in the IANA time zone database",
    ),
    Case(
        "timezone-empty",
        _clock("offset='timezone' timezone=''"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'timezone' in element 'clock': ''.",
    ),
    Case(
        "machine-type-with-comma",
        _domain("<os><type arch='x86_64' machine='pc,accel=tcg'>hvm</type></os>"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'machine' in element 'type': "
        "'pc,accel=tcg'.",
        process=True,
    ),
    Case(
        "machine-type-with-equals",
        _domain("<os><type arch='x86_64' machine='type=q35'>hvm</type></os>"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'machine' in element 'type': 'type=q35'.",
    ),
    Case(
        "cpu-model-with-comma",
        _domain("<cpu mode='custom'><model>qemu64,kvmclock=on</model></cpu>"),
        "guestclock: error: {file}:1: XML error: Invalid CPU model 'qemu64,kvmclock=on'",
    ),
    Case(
        "cpu-model-with-newline",
        _domain("<cpu mode='custom'><model>qemu64&#10;-device&#10;x</model></cpu>"),
        "guestclock: error: {file}:1: XML error: Invalid CPU model 'qemu64\\n-device\\nx'",
    ),
    Case(
        "arch-with-slash",
        _domain("<os><type arch='../../bin/sh'>hvm</type></os>"),
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'arch' in element 'type': '../../bin/sh'.",
    ),
    Case(
        "domain-type-with-comma",
        lambda: b"<domain type='kvm,x'><clock/></domain>",
        "guestclock: error: {file}:1: XML error: Invalid value for attribute 'type' in element 'domain': 'kvm,x'.",
    ),
    Case(
        "help-text-with-a-5000-digit-version",
        HARMLESS,
        "guestclock: error: cannot find 'QEMU emulator version X.Y.Z' in the -help text; this is not QEMU",
        argv=("argv", "{file}", "--help-text", "{help}"),
        help_text=f"QEMU emulator version {'9' * 5000}.0\n-rtc base=utc\n".encode,
    ),
    Case(
        "help-text-that-is-a-binary",
        HARMLESS,
        "guestclock: error: the -help text contains NUL bytes; this is not QEMU",
        argv=("argv", "{file}", "--help-text", "{help}"),
        help_text=lambda: b"QEMU emulator version 1.0\n\x00\x7fELF" + random.Random(5).randbytes(4096),
        process=True,
    ),
    Case(
        "machine-option-with-comma",
        HARMLESS,
        "guestclock argv: error: argument --machine: invalid name 'pc-i440fx-7.2,accel=kvm': expected letters, "
        "digits and '._+-' only",
        argv=(*ARGV, "--machine", "pc-i440fx-7.2,accel=kvm"),
        status=2,
    ),
    Case(
        "arch-option-with-slash",
        HARMLESS,
        "guestclock argv: error: argument --arch: invalid name '../../tmp/x': expected letters, digits and '._+-' only",
        argv=(*ARGV, "--arch", "../../tmp/x"),
        status=2,
    ),
    Case(
        "qemu-version-with-newline",
        HARMLESS,
        "guestclock: error: invalid QEMU version '7.2\\nguestclock: error: forged': expected MAJOR.MINOR or "
        "MAJOR.MINOR.MICRO",
        argv=("argv", "{file}", "--qemu-version", "7.2\nguestclock: error: forged"),
    ),
    Case(
        "now-with-control-characters",
        HARMLESS,
        "guestclock: error: invalid --now '\\x1b[2J@0': expected ISO 8601 (2009-02-13T23:31:30Z) or @EPOCH",
        argv=("argv", "{file}", "--qemu-version", "7.2.0", "--now", "\x1b[2J@0"),
    ),
)


def _argv(case: Case, path: Path) -> list[str]:
    return [word.replace("{file}", str(path)).replace("{help}", str(path.with_suffix(".help"))) for word in case.argv]


def _write(case: Case, tmp_path: Path) -> Path:
    path = tmp_path / f"{case.name}.xml"
    assert case.document is not None
    path.write_bytes(case.document())
    if case.help_text is not None:
        path.with_suffix(".help").write_bytes(case.help_text())
    return path


@pytest.fixture(autouse=True)
def _no_host_qemu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")


def test_every_case_has_a_unique_name_and_an_expected_line() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)) and len(names) >= 60
    assert all(case.expected.startswith("guestclock") for case in CASES)
    assert sum(case.process for case in CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_refused_in_process(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(case, tmp_path)
    if case.stdin:
        assert case.document is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(case.document())))
    try:
        status = main(_argv(case, path))
    except SystemExit as exit_:  # argparse's usage errors
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert status == case.status
    assert out == ""
    lines = err.splitlines()
    assert lines[-1] == case.expected.replace("{file}", str(path))
    if case.status == 1:
        assert len(lines) == 1, err  # one clear line, no warnings, no traceback
    assert "root:" not in err and not os.path.exists("/tmp/pwned")


#: measures one command from a small, fresh process: Linux counts the RSS a process
#: had before exec in its peak (and a vfork child shares its parent's pages), so
#: measuring straight from pytest would report pytest's size, not guestclock's
_LAUNCHER = """
import json, resource, subprocess, sys, time
report, limit, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
start = time.perf_counter()
proc = subprocess.Popen(argv)
try:
    status = proc.wait(timeout=limit)
except subprocess.TimeoutExpired:  # a hang fails the test instead of the suite
    proc.kill()
    status = proc.wait()
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(report, "w") as handle:
    json.dump({"status": status, "elapsed": elapsed, "peak_kb": peak}, handle)
"""


def _run_measured(argv: list[str], stdin: Path | None, tmp_path: Path) -> tuple[int, str, str, float, int]:
    """Run ``python -m guestclock ARGV``; its exit status, stdout, stderr, wall time and peak RSS (kB)."""
    out_path, err_path, report = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "report.json"
    env = {"PATH": "/nonexistent", "PYTHONPATH": os.pathsep.join(sys.path), "LC_ALL": "C.UTF-8"}
    with (
        open(out_path, "wb") as out,
        open(err_path, "wb") as err,
        open(stdin or os.devnull, "rb") as in_,
    ):
        command = [sys.executable, "-m", "guestclock", *argv]
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(report), "20", *command],
            stdin=in_,
            stdout=out,
            stderr=err,
            env=env,
            check=True,
        )
    import json

    data = json.loads(report.read_text())
    return data["status"], out_path.read_text(), err_path.read_text(), data["elapsed"], data["peak_kb"]


PROCESS_CASES = [case for case in CASES if case.process]


@pytest.mark.parametrize("case", PROCESS_CASES, ids=[case.name for case in PROCESS_CASES])
def test_refused_by_the_real_command_within_limits(case: Case, tmp_path: Path) -> None:
    path = _write(case, tmp_path)
    status, out, err, elapsed, rss = _run_measured(_argv(case, path), path if case.stdin else None, tmp_path)
    assert (status, out) == (case.status, "")
    assert err.splitlines() == [case.expected.replace("{file}", str(path))]
    assert elapsed < TIME_LIMIT, f"{case.name}: {elapsed:.2f} s"
    assert rss < MEMORY_LIMIT, f"{case.name}: {rss} kB"


def test_hostile_help_text_is_read_in_bounded_time(tmp_path: Path) -> None:
    """3.6 MB of 'clock=' on the -rtc line: parse_help used to backtrack quadratically (hours)."""
    help_text = tmp_path / "qemu.help"
    help_text.write_text("QEMU emulator version 1.1.0\n-rtc [base=utc][,clock=" + "clock=" * 600_000 + "rt]\n")
    clock = tmp_path / "clock.xml"
    clock.write_text("<clock offset='utc'><timer name='rtc' track='realtime'/></clock>")
    status, out, _err, elapsed, rss = _run_measured(
        ["argv", str(clock), "--help-text", str(help_text), "--format", "lines"], None, tmp_path
    )
    assert (status, out) == (0, "-rtc\nbase=utc,clock=rt\n")
    assert elapsed < TIME_LIMIT and rss < MEMORY_LIMIT, (elapsed, rss)


# -- injection: what reaches argv and the environment keeps its meaning -----------------------------------------


def _harmless_args(tmp_path: Path, clock: str, *extra: str) -> list[str]:
    path = tmp_path / "clock.xml"
    path.write_text(clock)
    return ["argv", str(path), "--qemu-version", "7.2.0", "--now", "@1234567890", *extra]


@pytest.mark.parametrize(
    ("machine", "message"),
    [
        ("pc-i440fx-7.2,accel=kvm", "machine type 'pc-i440fx-7.2,accel=kvm' cannot be passed to QEMU"),
        ("pc-q35-8.0=on", "machine type 'pc-q35-8.0=on' cannot be passed to QEMU"),
        ("pc-q35-8.0\n", "machine type 'pc-q35-8.0\\n' cannot be passed to QEMU"),
    ],
)
def test_capability_dump_default_machine_cannot_inject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], machine: str, message: str
) -> None:
    """A capability dump is input too: its default machine lands in -machine when the domain names none."""
    dump = tmp_path / "caps.xml"
    escaped = machine.replace("\n", "&#10;")
    dump.write_text(
        f"<qemuCaps><version>8000000</version><arch>x86_64</arch><flag name='machine-hpet'/>"
        f"<machine name='{escaped}' default='yes'/></qemuCaps>"
    )
    args = _harmless_args(tmp_path, "<clock><timer name='hpet' present='no'/></clock>")
    args[2:4] = ["--caps", str(dump)]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"unsupported configuration: {message}" in err


@pytest.mark.parametrize(
    "domain",
    [
        Domain(clock=Clock(timers=(Timer(TimerName.HPET, present=False),)), machine="pc-q35-7.2,hpet=on"),
        Domain(clock=Clock(timers=(Timer(TimerName.KVMCLOCK, present=True),)), cpu=CPU(model="qemu64,-kvmclock")),
        Domain(clock=Clock(timers=(Timer(TimerName.KVMCLOCK, present=True),)), cpu=CPU(model="")),
        Domain(clock=Clock(offset=Offset.TIMEZONE, timezone="Europe/Paris\nLD_PRELOAD=/x")),
        Domain(clock=Clock(offset=Offset.TIMEZONE, timezone="Europe/Paris\x00")),
    ],
    ids=["machine", "cpu-model", "empty-cpu-model", "tz-newline", "tz-nul"],
)
def test_library_callers_cannot_inject_either(domain: Domain) -> None:
    """translate() re-checks names that did not come through xmlread (a Domain built in code)."""
    with pytest.raises(UnsupportedConfigError, match="cannot be passed to QEMU"):
        translate(domain, caps_for_version("7.2.0"), Now(0))


def test_values_outside_argv_do_not_change_it() -> None:
    """<name>, <emulator> and <description> never reach QEMU's argv, whatever they hold."""
    plain = translate(Domain(clock=Clock()), caps_for_version("7.2.0"), Now(0))
    hostile = "<domain type='kvm'><name>$(reboot);`id`,x=y</name><devices><emulator>/bin/sh -c 'x'</emulator>"
    hostile += "</devices><clock offset='utc'/></domain>"
    from guestclock.core.read.domain import read_domain

    assert translate(read_domain(hostile).domain, caps_for_version("7.2.0"), Now(0)).argv == plain.argv


TRICKY_ZONES = ("Etc/GMT+5", "Etc/GMT-14", "America/Port-au-Prince", "America/Argentina/ComodRivadavia", "EST5EDT")


def _fake_qemu(tmp_path: Path) -> Path:
    """A 'qemu-system-x86_64' that prints TZ and then each argument, NUL-terminated."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "qemu-system-x86_64"
    fake.write_text('#!/bin/sh\nprintf \'%s\\0\' "${TZ-unset}" "$@"\n')
    fake.chmod(0o755)
    return bindir


@pytest.mark.parametrize("zone", TRICKY_ZONES)
def test_shell_line_reproduces_argv_and_tz(tmp_path: Path, capsys: pytest.CaptureFixture[str], zone: str) -> None:
    """The --format shell line, evaluated by sh, hands QEMU exactly the JSON's argv and TZ."""
    clock = (
        f"<clock offset='timezone' timezone='{zone}'><timer name='rtc' tickpolicy='catchup' track='wall'/>"
        "<timer name='tsc' frequency='2500000000'/><timer name='hpet' present='no'/>"
        "<timer name='pit' tickpolicy='discard'/><timer name='kvmclock' present='no'/></clock>"
    )
    args = _harmless_args(tmp_path, clock)
    assert main([*args, "--format", "json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and line.startswith(f"TZ={shlex.quote(zone)} qemu-system-x86_64 ")
    env = {"PATH": f"{_fake_qemu(tmp_path)}:/usr/bin:/bin"}
    ran = subprocess.run(["sh", "-c", line], capture_output=True, env=env, check=True)
    words = ran.stdout.decode().split("\0")[:-1]
    assert words == [data["env"]["TZ"], *data["argv"]]


def test_shell_quoting_of_hostile_words(tmp_path: Path) -> None:
    """to_shell quotes anything a future rule might emit: the shell gives back the same bytes."""
    nasty = ["a b", "$(id)", "`id`", "x;y", "'", '"', "\\", "a\nb", "*", "~", "#c", "", "-rtc", "é", "a,b=c", "!"]
    base = translate(Domain(clock=Clock()), caps_for_version("7.2.0"), Now(0))
    from guestclock.core.translate import Option, Origin, Part

    options = tuple(Option("-x", (Part(word, Origin("test")),)) for word in nasty)
    trans = replace(base, options=options, env=(("TZ", "a b'$(id)", Origin("test")),))
    line = to_shell(trans, "qemu-system-x86_64")
    env = {"PATH": f"{_fake_qemu(tmp_path)}:/usr/bin:/bin"}
    ran = subprocess.run(["sh", "-c", line], capture_output=True, env=env, check=True)
    assert ran.stdout.decode().split("\0")[:-1] == ["a b'$(id)", *trans.argv]


def test_unknown_zone_is_refused_with_tzdata_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a system zone database the tzdata package's list decides."""
    monkeypatch.setattr(zoneinfo, "available_timezones", set)
    assert zones.check_timezone("Europe/Paris") == []
    with pytest.raises(GuestclockError, match="unknown time zone 'Mars/Olympus_Mons'"):
        zones.check_timezone("Mars/Olympus_Mons")


def test_zone_missing_on_this_host_warns_about_utc_fallback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zoneinfo, "TZPATH", (str(tmp_path / "empty"),))
    args = _harmless_args(tmp_path, "<clock offset='timezone' timezone='Pacific/Chatham'/>")
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert out.startswith("TZ=Pacific/Chatham qemu-system-x86_64 -rtc base=localtime")
    assert (
        "guestclock: warning: this host has no zone file for 'Pacific/Chatham'; QEMU silently falls back to UTC "
        "when the zone is missing on the host that runs the guest"
    ) in err.splitlines()


# -- files: written whole or not at all ------------------------------------------------------------------


OLD = b"the previous, complete output\n"


def _output_args(tmp_path: Path) -> tuple[list[str], Path]:
    target = tmp_path / "out" / "qemu.args"
    target.parent.mkdir()
    target.write_bytes(OLD)
    # JSON carries the warnings inside, so stderr holds nothing but the error
    args = [*_harmless_args(tmp_path, "<clock offset='utc'/>"), "--format", "json", "--output", str(target)]
    return args, target


def _no_temp_files(directory: Path) -> bool:
    return sorted(p.name for p in directory.iterdir()) == ["qemu.args"]


def _fail(error: int) -> Callable[..., None]:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise OSError(error, os.strerror(error))

    return fail


@pytest.mark.parametrize(
    "fault",
    [
        ("fsync", errno.ENOSPC, "No space left on device"),
        ("replace", errno.EXDEV, "Invalid cross-device link"),
        ("fchmod", errno.EPERM, "Operation not permitted"),
        ("mkstemp", errno.EDQUOT, "Disk quota exceeded"),
    ],
    ids=lambda fault: fault[0] if isinstance(fault, tuple) else str(fault),
)
def test_failed_write_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fault: tuple[str, int, str]
) -> None:
    where, error, reason = fault
    args, target = _output_args(tmp_path)
    module = files.tempfile if where == "mkstemp" else files.os
    monkeypatch.setattr(module, where, _fail(error))
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"guestclock: error: cannot write '{target}': {reason}\n"
    assert target.read_bytes() == OLD and _no_temp_files(target.parent)


def test_short_write_on_a_full_disk_keeps_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills after part of the data: the first write() puts some bytes in the temporary
    file, the next raises ENOSPC."""
    args, target = _output_args(tmp_path)
    real_write = os.write
    calls: list[int] = []

    def write(fd: int, data: object) -> int:
        calls.append(fd)
        if len(calls) == 1:
            return real_write(fd, b"half")  # some bytes reach the temporary file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "write", write)
    assert main(args) == 1
    assert capsys.readouterr().err == f"guestclock: error: cannot write '{target}': No space left on device\n"
    assert target.read_bytes() == OLD and _no_temp_files(target.parent)


def test_interrupt_during_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C between writing and renaming: the temporary file goes, the old file stays."""
    target = tmp_path / "out" / "qemu.args"
    target.parent.mkdir()
    target.write_bytes(OLD)

    def interrupt(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(str(target), b"new")
    assert target.read_bytes() == OLD and _no_temp_files(target.parent)


_KILLED_WRITER = """
import os, sys, time
from guestclock.host import files
real_fsync = os.fsync
def stall(fd):
    real_fsync(fd)
    sys.stdout.write("written\\n"); sys.stdout.flush()
    time.sleep(60)  # killed here: the data is in the temporary file, not yet renamed
os.fsync = stall
files.atomic_write(sys.argv[1], b"x" * (8 * 1024 * 1024))
"""


def test_kill_mid_write_never_leaves_a_half_written_file(tmp_path: Path) -> None:
    target = tmp_path / "qemu.args"
    target.write_bytes(OLD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"written\n"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert target.read_bytes() == OLD
    # SIGKILL cannot be cleaned up after: the only trace is a hidden temporary file, never the target
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "qemu.args"]
    assert all(name.startswith(".guestclock-") for name in leftovers)


def _small_tmpfs(path: Path) -> bool:
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    path.mkdir()
    mount = shutil.which("mount", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if mount is None:
        return False
    ran = subprocess.run([mount, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], capture_output=True, check=False)
    return ran.returncode == 0


def test_really_full_disk(tmp_path: Path) -> None:
    """A 64 kB tmpfs filled to the last block: ENOSPC from the kernel, not from a monkeypatch."""
    mount = tmp_path / "tiny"
    if not _small_tmpfs(mount):
        pytest.skip("mounting a tmpfs needs root on Linux")
    try:
        target = mount / "qemu.args"
        target.write_bytes(OLD)
        filler = mount / "filler"
        with open(filler, "wb", buffering=0) as handle, pytest.raises(OSError):
            while True:
                handle.write(b"\0" * 4096)
        with pytest.raises(OSError) as raised:
            files.atomic_write(str(target), b"y" * (256 * 1024))
        assert raised.value.errno == errno.ENOSPC
        assert target.read_bytes() == OLD
        assert sorted(p.name for p in mount.iterdir()) == ["filler", "qemu.args"]
    finally:
        subprocess.run([shutil.which("umount", path="/usr/bin:/bin") or "umount", str(mount)], check=False)


def test_output_into_a_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "f"
    args = [*_harmless_args(tmp_path, "<clock/>"), "--format", "json", "--output", str(missing)]
    assert main(args) == 1
    assert re.fullmatch(r"guestclock: error: cannot write '.*': No such file or directory\n", capsys.readouterr().err)


@pytest.fixture
def cache_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache directory and an executable that stands in for a QEMU binary."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    binary = tmp_path / "qemu-system-x86_64"
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    return binary


def _corruptions(raw: bytes) -> dict[str, bytes]:
    """Ways a cache entry goes bad: a crash of a writer without atomic_write, a disk, a person."""
    text = raw.decode()
    return {
        "truncated": raw[: len(raw) // 2],
        "empty": b"",
        "garbage": random.Random(3).randbytes(len(raw)),
        "capability-added": text.replace('"rtc"', '"rtc", "no-hpet"', 1).encode(),
        "checksum-edited": re.sub(r'"checksum": "[0-9a-f]{8}', '"checksum": "00000000', text).encode(),
        "not-an-object": b"[1, 2, 3]",
        "huge": b" " * (2 * 1024 * 1024),
    }


def test_probe_cache_distrusts_every_corrupt_entry(cache_binary: Path) -> None:
    from guestclock.probe import cache as probecache

    caps = caps_for_version("7.2.0")
    probecache.store(str(cache_binary), caps)
    entry = Path(probecache.entry_path(probecache.binary_identity(str(cache_binary))))
    good = entry.read_bytes()
    assert probecache.load(str(cache_binary)) == caps
    for name, bad in _corruptions(good).items():
        entry.write_bytes(bad)
        assert probecache.load(str(cache_binary)) is None, name


def test_corrupt_cache_entry_is_probed_again_and_rewritten(cache_binary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from guestclock import probe
    from guestclock.probe import cache as probecache
    from guestclock.qemu import probe as qemu_probe

    fresh = caps_for_version("8.0.0")
    probes: list[str] = []

    def fake_probe(path: str, timeout: float) -> Capabilities:
        probes.append(path)
        return fresh

    monkeypatch.setattr(qemu_probe, "probe_qmp", fake_probe)
    probecache.store(str(cache_binary), caps_for_version("7.2.0"))
    entry = Path(probecache.entry_path(probecache.binary_identity(str(cache_binary))))
    entry.write_bytes(entry.read_bytes()[:100])  # a half-written entry, as a non-atomic writer would leave
    assert probe.probe_binary(str(cache_binary)) == fresh and len(probes) == 1
    assert probecache.load(str(cache_binary)) == fresh  # rewritten whole
    assert probe.probe_binary(str(cache_binary)) == fresh and len(probes) == 1  # and trusted again


def test_probe_cache_write_failure_keeps_the_old_entry(cache_binary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from guestclock.probe import cache as probecache

    old = caps_for_version("7.2.0")
    probecache.store(str(cache_binary), old)
    entry = Path(probecache.entry_path(probecache.binary_identity(str(cache_binary))))
    before = entry.read_bytes()
    monkeypatch.setattr(files.os, "fsync", _fail(errno.ENOSPC))
    probecache.store(str(cache_binary), caps_for_version("8.0.0"))  # a full disk is not an error here
    assert entry.read_bytes() == before and probecache.load(str(cache_binary)) == old
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]


# -- the capability set in the injection tests above really has what they need -----------------------------


def test_fixture_caps() -> None:
    caps: Capabilities = caps_for_version("7.2.0")
    assert caps.has(Cap.MACHINE_HPET) and caps.has(Cap.RTC)


if __name__ == "__main__":  # pragma: no cover - a measuring aid for people
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            path = _write(case, Path(tmp))
            status, _out, err, elapsed, rss = _run_measured(_argv(case, path), path if case.stdin else None, Path(tmp))
            print(f"{case.name:45} exit {status}  {elapsed * 1000:6.0f} ms  {rss / 1024:6.1f} MB")
