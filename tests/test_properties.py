"""Properties of generated clocks (issue 4): round trip, determinism, a closed error world, and QEMU's word.

* XML -> model -> XML -> model is the identity for every clock the reader accepts.
* translate() is a function: the same domain, capabilities and instant give the same answer.
* Every generated domain, for every capability set guestclock can load (the version table over
  QEMU 0.9-10.1 and four arches, every -help text and every libvirt dump in the corpus), either
  translates into words QEMU cannot misparse or raises one of guestclock's own errors.
* A small sample of translations for x86_64 is started in the real QEMU 7.2 (paused, TCG) and
  must be accepted; a refusal in that sample must be one QEMU confirms by rejecting the spelling
  a translator without the rule would have emitted.

The example counts are fixed (no deadline, derandomized) so CI time stays flat; raise them with
``GUESTCLOCK_PROPERTY_EXAMPLES=N``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guestclock.core.model.caps import Capabilities
from guestclock.core.model.domain import (
    CPU,
    Basis,
    Catchup,
    Clock,
    Domain,
    Offset,
    TickPolicy,
    Timer,
    TimerMode,
    TimerName,
    Track,
)
from guestclock.core.read.capsdump import load_libvirt_caps
from guestclock.core.read.domain import read_domain
from guestclock.core.read.helptext import parse_help
from guestclock.core.render.argv import to_shell
from guestclock.core.render.xml import clock_to_xml
from guestclock.core.rules.history import caps_for_version
from guestclock.core.translate import Now, Option, Origin, Part, Translation, translate
from guestclock.errors import GuestclockError, UnsupportedConfigError

CORPUS = Path("/work/shared/corpus")
SCALE = int(os.environ.get("GUESTCLOCK_PROPERTY_EXAMPLES", "0") or 0)
LLONG_MIN, LLONG_MAX = -(2**63), 2**63 - 1
ULLONG_MAX = 2**64 - 1
ZONES = ("Europe/Paris", "America/New_York", "Etc/GMT+5", "UTC", "Asia/Kolkata", "Pacific/Chatham")


def _examples(default: int) -> settings:
    return settings(
        max_examples=SCALE or default,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- strategies -------------------------------------------------------------------------------------------


@st.composite
def timers_for(draw: st.DrawFn, name: TimerName) -> Timer:
    """A timer the reader accepts: attributes only where libvirt's post-parse rules allow them."""
    tickpolicy = None
    if name not in (TimerName.KVMCLOCK, TimerName.HYPERVCLOCK):
        tickpolicy = draw(st.none() | st.sampled_from(TickPolicy))
    catchup = None
    if tickpolicy is TickPolicy.CATCHUP and draw(st.booleans()):
        value = st.none() | st.integers(1, ULLONG_MAX)
        catchup = Catchup(threshold=draw(value), slew=draw(value), limit=draw(value))
    tsc = name is TimerName.TSC
    return Timer(
        name=name,
        present=draw(st.none() | st.booleans()),
        tickpolicy=tickpolicy,
        catchup=catchup,
        track=draw(st.none() | st.sampled_from(Track)) if name in (TimerName.RTC, TimerName.PLATFORM) else None,
        frequency=draw(st.none() | st.integers(1, ULLONG_MAX)) if tsc else None,
        mode=draw(st.none() | st.sampled_from(TimerMode)) if tsc else None,
    )


@st.composite
def clocks(draw: st.DrawFn, names: tuple[TimerName, ...] = tuple(TimerName)) -> Clock:
    offset = draw(st.sampled_from(Offset))
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    timers = tuple(draw(timers_for(name)) for name in chosen)
    if offset in (Offset.UTC, Offset.LOCALTIME):
        return Clock(offset=offset, reset=draw(st.booleans()), timers=timers)
    if offset is Offset.TIMEZONE:
        return Clock(offset=offset, timezone=draw(st.sampled_from(ZONES)), timers=timers)
    if offset is Offset.VARIABLE:
        adjustment = draw(
            st.none()
            | st.integers(-86400 * 365 * 20, 86400 * 365 * 20)
            | st.integers(LLONG_MIN, LLONG_MAX)  # mostly outside the years 1-9999: refused, never an overflow
        )
        return Clock(
            offset=offset,
            adjustment=adjustment,
            reset=adjustment is None and draw(st.booleans()),
            basis=draw(st.sampled_from(Basis)),
            timers=timers,
        )
    return Clock(offset=offset, start=draw(st.integers(0, 253402300799) | st.integers(0, ULLONG_MAX)), timers=timers)


ARCHES = ("x86_64", "i686", "aarch64", "s390x")
MACHINES = ("pc", "q35", "pc-i440fx-7.2", "pc-q35-8.0", "virt", "virt-7.2", "s390-ccw-virtio", "none", "isapc")
CPUS = (
    None,
    CPU(mode="host-passthrough"),
    CPU(mode="host-model"),
    CPU(mode="maximum"),
    CPU(mode="custom", model="qemu64"),
    CPU(mode="custom", model="Skylake-Client-v4"),
)


@st.composite
def domains(draw: st.DrawFn) -> Domain:
    return Domain(
        clock=draw(clocks()),
        virt_type=draw(st.sampled_from((None, "kvm", "qemu"))),
        arch=draw(st.none() | st.sampled_from(ARCHES)),
        machine=draw(st.none() | st.sampled_from(MACHINES)),
        cpu=draw(st.sampled_from(CPUS)),
    )


nows = st.builds(Now, epoch=st.integers(0, 4102444800), utc_offset=st.integers(-14 * 3600, 14 * 3600))


def _capability_sets() -> list[Capabilities]:
    sets: list[Capabilities] = []
    versions = [(0, 9, 1), (0, 10, 0), (0, 12, 0), (1, 0, 0), (1, 1, 0), (1, 2, 0), (1, 3, 0), (2, 0, 0)]
    versions += [(2, 1, 0), (2, 4, 0), (2, 12, 0), (3, 0, 0), (3, 1, 0), (4, 1, 0), (5, 0, 0), (5, 2, 0)]
    versions += [(7, 2, 0), (8, 0, 0), (9, 0, 0), (10, 1, 0)]
    sets += [caps_for_version(version, arch) for version in versions for arch in ARCHES]
    for path in sorted((CORPUS / "help").iterdir()):
        text = path.read_text(errors="replace")
        if "emulator version" in text:  # the -device help dumps have no version line
            sets.append(parse_help(text, source=f"help:{path.name}").capabilities)
    sets += [load_libvirt_caps(path.read_bytes(), source=path.name) for path in sorted(CORPUS.glob("caps/*.xml"))]
    return sets


CAPABILITY_SETS = _capability_sets()


def test_the_capability_sets_cover_every_loader() -> None:
    sources = {caps.source.split(":")[0] for caps in CAPABILITY_SETS}
    assert len(CAPABILITY_SETS) >= 100 and {"version", "help"} <= sources
    assert sum(caps.source.startswith("caps_") for caps in CAPABILITY_SETS) >= 15


# -- properties -------------------------------------------------------------------------------------------


@_examples(400)
@given(clocks())
def test_xml_round_trip(clock: Clock) -> None:
    xml = clock_to_xml(clock)
    again = read_domain(xml).domain.clock
    assert again == clock
    assert clock_to_xml(again) == xml
    inside = read_domain(f"<domain type='kvm'><name>g</name>\n{clock_to_xml(clock, '  ')}</domain>")
    assert inside.domain.clock == clock


def _check_words(translation: Translation) -> None:
    """What QEMU will read: one word per argument, no separator hidden in a value."""
    for option in translation.options:
        assert option.name.startswith("-") and option.name[1:].replace("-", "").isalnum()
        for part in option.parts:
            assert part.text and part.text.isprintable() and "," not in part.text and " " not in part.text
    for name, value in translation.environ.items():
        assert name == "TZ" and value.isprintable() and " " not in value


@_examples(600)
@given(domains(), st.sampled_from(CAPABILITY_SETS), nows)
def test_translate_is_deterministic_and_closed(domain: Domain, caps: Capabilities, now: Now) -> None:
    """Either words QEMU cannot misparse, or guestclock's own error; the same inputs, the same answer."""
    try:
        first = translate(domain, caps, now)
    except UnsupportedConfigError as refusal:
        assert refusal.refusals and refusal.refusals[0] is refusal
        assert all(str(each).startswith("unsupported configuration: ") for each in refusal.refusals)
        with pytest.raises(UnsupportedConfigError) as again:
            translate(domain, caps, now)
        assert [str(each) for each in again.value.refusals] == [str(each) for each in refusal.refusals]
        return
    except GuestclockError:  # pragma: no cover - translate raises only refusals today
        return
    second = translate(domain, caps, now)
    assert (first.argv, first.environ, first.warnings) == (second.argv, second.environ, second.warnings)
    _check_words(first)


@_examples(60)
@given(
    st.lists(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12), max_size=6),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12),
)
def test_shell_line_evaluates_to_the_same_words(
    tmp_path_factory: pytest.TempPathFactory, words: list[str], tz: str
) -> None:
    """Whatever a word holds (quotes, $, newlines, non-ASCII), sh hands QEMU exactly that word."""
    base = translate(Domain(clock=Clock()), caps_for_version("7.2.0"), Now(0))
    options = tuple(Option("-x", (Part(word, Origin("test")),)) for word in words)
    translation = Translation(options=options, env=(("TZ", tz, Origin("test")),), warnings=(), caps=base.caps)
    printer = tmp_path_factory.getbasetemp() / "printargs"
    if not printer.exists():
        printer.write_text('#!/bin/sh\nprintf \'%s\\0\' "$TZ" "$@"\n')
        printer.chmod(0o755)
    ran = subprocess.run(["sh", "-c", to_shell(translation, str(printer))], capture_output=True, check=True, env={})
    assert ran.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == [tz, *translation.argv]


# -- the real QEMU 7.2 -------------------------------------------------------------------------------------

QEMU = shutil.which("qemu-system-x86_64") or (
    "/usr/bin/qemu-system-x86_64" if os.path.exists("/usr/bin/qemu-system-x86_64") else None
)
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")


@dataclass(frozen=True)
class Started:
    accepted: bool
    stderr: str


def _start_paused(argv: list[str], env: dict[str, str], tmp: Path) -> Started:
    """Start QEMU paused with ``argv``; accepted once its QMP monitor greets and reports 'prelaunch'.

    QEMU opens the monitor's main loop only after parsing every option and building the
    machine, so a greeting means the arguments were accepted; an exit means they were not.
    """
    assert QEMU is not None
    sock = tmp / "qmp.sock"
    command = [QEMU, *argv, "-S", "-nodefaults", "-display", "none", "-accel", "tcg"]
    command += ["-qmp", f"unix:{sock},server=on,wait=off", "-no-user-config"]
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    ) as proc:
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    return Started(False, proc.stderr.read().decode(errors="replace") if proc.stderr else "")
                if sock.exists():
                    try:
                        status = _qmp_status(sock)
                    except OSError:
                        time.sleep(0.01)
                        continue
                    return Started(status == "prelaunch", "")
                time.sleep(0.01)
            return Started(False, "QEMU neither exited nor answered QMP within 10 s")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            sock.unlink(missing_ok=True)


def _qmp_status(sock: Path) -> str:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(str(sock))
        reader = conn.makefile("rb")
        assert "QMP" in json.loads(reader.readline())
        for command in ("qmp_capabilities", "query-status"):
            conn.sendall(json.dumps({"execute": command}).encode() + b"\n")
            while "return" not in (reply := json.loads(reader.readline())):
                assert "error" not in reply, reply
        return str(reply["return"]["status"])


#: for each refusal QEMU can confirm: the spelling a translator without the rule would emit, and
#: what QEMU 7.2 says to it
NAIVE_SPELLING = {
    "unsupported rtc timer tickpolicy 'merge'": (["-rtc", "driftfix=merge"], "invalid option value 'merge'"),
    "unsupported rtc timer tickpolicy 'discard'": (["-rtc", "driftfix=discard"], "invalid option value 'discard'"),
    "unsupported rtc timer track 'boot'": (["-rtc", "clock=boot"], "invalid option value 'boot'"),
}
_TSC_TOO_FAST = re.compile(r"tsc frequency '([0-9]+)' is beyond QEMU's largest tsc-frequency")


def _naive(refusal: UnsupportedConfigError) -> tuple[list[str], str] | None:
    """What QEMU would have been given without guestclock's rule, and its error; None for libvirt's
    policies that QEMU itself does not enforce (a start past 9999, rtc discard under -rtc-td-hack)."""
    tsc = _TSC_TOO_FAST.match(refusal.message)
    if tsc is not None:
        return ["-cpu", f"qemu64,tsc-frequency={tsc.group(1)}"], "Parameter 'tsc-frequency' expects int64"
    return NAIVE_SPELLING.get(refusal.message)


SAMPLE_TIMERS = (TimerName.RTC, TimerName.PIT, TimerName.HPET, TimerName.KVMCLOCK, TimerName.TSC, TimerName.HYPERVCLOCK)


@st.composite
def tcg_domains(draw: st.DrawFn) -> Domain:
    return Domain(
        clock=draw(clocks(SAMPLE_TIMERS)),
        virt_type="qemu",
        arch="x86_64",
        machine=draw(st.sampled_from((None, "pc", "q35", "pc-i440fx-7.2", "pc-q35-7.2"))),
        cpu=draw(st.sampled_from((None, CPU(mode="custom", model="qemu64"), CPU(mode="maximum")))),
    )


QEMU_RESULTS: dict[str, int] = {"accepted": 0, "confirmed refusals": 0}


@needs_qemu
@settings(max_examples=SCALE or 15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(tcg_domains())
def test_a_sample_starts_in_qemu_7_2(tmp_path_factory: pytest.TempPathFactory, domain: Domain) -> None:
    tmp = tmp_path_factory.mktemp("qemu")
    caps = caps_for_version("7.2.0")
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    try:
        translation = translate(domain, caps, Now(1234567890))
    except UnsupportedConfigError as refusal:
        for each in refusal.refusals:
            naive = _naive(each)
            if naive is None:
                continue  # libvirt's policy (e.g. a start past 9999): QEMU has nothing to say
            started = _start_paused(["-machine", "pc", *naive[0]], env, tmp)
            assert not started.accepted, f"QEMU accepts {naive[0]}, which guestclock refused: {each}"
            assert naive[1] in started.stderr
            QEMU_RESULTS["confirmed refusals"] += 1
        return
    argv = translation.argv
    if "-machine" not in argv:
        argv = ["-machine", "pc", *argv]
    started = _start_paused(argv, {**env, **translation.environ}, tmp)
    assert started.accepted, f"QEMU 7.2 rejected {argv}: {started.stderr}"
    QEMU_RESULTS["accepted"] += 1


@needs_qemu
@pytest.mark.parametrize(
    "message", [*NAIVE_SPELLING, f"tsc frequency '{2**63}' is beyond QEMU's largest tsc-frequency, {2**63 - 1}"]
)
def test_qemu_confirms_each_refusal(tmp_path: Path, message: str) -> None:
    naive = _naive(UnsupportedConfigError(message))
    assert naive is not None
    started = _start_paused(["-machine", "pc", *naive[0]], {"PATH": "/usr/bin:/bin"}, tmp_path)
    assert not started.accepted and naive[1] in started.stderr


@needs_qemu
def test_the_qemu_check_itself_accepts_and_rejects(tmp_path: Path) -> None:
    """The harness is not vacuous: plain arguments start, a bad one does not."""
    assert _start_paused(["-machine", "pc", "-rtc", "base=utc"], {"PATH": "/usr/bin:/bin"}, tmp_path).accepted
    assert not _start_paused(["-machine", "pc", "-rtc", "base=never"], {"PATH": "/usr/bin:/bin"}, tmp_path).accepted
