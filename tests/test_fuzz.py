"""Fuzzing the two parsers of untrusted text, bounded for CI (issue 4).

Hypothesis feeds raw bytes and grammar-built documents to the XML reader and raw and
line-built texts to the -help parser; the mutation fuzzer of ``fuzz/targets.py`` then
runs from the real seeds for a few seconds each. Only guestclock's own errors may
escape, and no input may take more than a second. ``fuzz/fuzz.py`` runs the same
targets for as long as you like.
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))

import targets  # the fuzz targets live beside fuzz/fuzz.py

from guestclock.errors import GuestclockError

#: seconds the mutation fuzzer runs per target in CI
MUTATION_SECONDS = 4.0


def _fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=1000,  # ms: a slow input is a bug too
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# -- the XML reader ------------------------------------------------------------------------------------------

ELEMENTS = ("clock", "timer", "catchup", "domain", "os", "type", "cpu", "model", "devices", "emulator", "name", "x")
ATTRIBUTES = (
    "offset",
    "timezone",
    "adjustment",
    "basis",
    "start",
    "name",
    "present",
    "tickpolicy",
    "track",
    "wallclock",
    "frequency",
    "mode",
    "threshold",
    "slew",
    "limit",
    "arch",
    "machine",
    "type",
)
VALUES = (
    "utc",
    "localtime",
    "timezone",
    "variable",
    "absolute",
    "reset",
    "Europe/Paris",
    "rtc",
    "pit",
    "hpet",
    "tsc",
    "kvmclock",
    "hypervclock",
    "armvtimer",
    "platform",
    "yes",
    "no",
    "delay",
    "catchup",
    "merge",
    "discard",
    "boot",
    "guest",
    "wall",
    "realtime",
    "host",
    "auto",
    "native",
    "emulate",
    "paravirt",
    "smpsafe",
    "x86_64",
    "aarch64",
    "s390x",
    "pc",
    "q35",
    "virt",
    "kvm",
    "qemu",
    "0",
    "-1",
    "1",
    "253402300799",
    "253402300800",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "0" * 30 + "1",
    "",
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")


@st.composite
def documents(draw: st.DrawFn, depth: int = 0) -> str:
    """A well-formed document made of libvirt's words: it reaches the rules, not just the parser."""
    tag = draw(st.sampled_from(ELEMENTS))
    attrs = draw(
        st.dictionaries(st.sampled_from(ATTRIBUTES), st.sampled_from(VALUES) | st.text(max_size=8), max_size=4)
    )
    text = "".join(f" {name}='{_escape(value)}'" for name, value in attrs.items())
    children = draw(st.lists(documents(depth + 1), max_size=3)) if depth < 2 else []
    body = draw(st.sampled_from(("", "qemu64", "pc,x=y", " "))) if not children else "".join(children)
    return f"<{tag}{text}>{body}</{tag}>"


def _only_own_errors(data: bytes) -> None:
    start = time.perf_counter()
    with contextlib.suppress(GuestclockError):  # the target catches these itself
        targets.xml_target(data)
    assert time.perf_counter() - start < 1.0


@_fuzz_settings(1500)
@given(st.binary(max_size=2048))
def test_xml_reader_raw_bytes(data: bytes) -> None:
    _only_own_errors(data)


@_fuzz_settings(1500)
@given(st.binary(max_size=512))
def test_xml_reader_bytes_inside_a_clock(data: bytes) -> None:
    _only_own_errors(b"<clock offset='utc'>" + data + b"</clock>")


@_fuzz_settings(500)
@given(documents())
def test_xml_reader_grammar(document: str) -> None:
    _only_own_errors(document.encode())
    _only_own_errors(document.encode("utf-16"))


# -- the -help parser ----------------------------------------------------------------------------------------

HELP_LINES = (
    "QEMU emulator version 0.12.1 (qemu-kvm-0.12.1.2), Copyright (c) 2003-2008 Fabrice Bellard",
    "QEMU PC emulator version 0.9.1 (kvm-83)",
    "QEMU emulator version 1.2.0",
    "-rtc [base=utc|localtime|date][,clock=host|rt|vm][,driftfix=none|slew]",
    "-rtc [base=utc|localtime|date][,clock=host|vm][,driftfix=none|slew]",
    "-rtc-td-hack     use it to fix time drift in Windows ACPI HAL",
    "-no-hpet        disable HPET",
    "-no-kvm-pit-reinjection disable KVM kernel mode PIT interrupt reinjection",
    "-tdf            inject timer interrupts that got lost",
    "-localtime      set the real time clock to local time [default=utc]",
    "-startdate      select initial date of the clock",
    "-no-kvm         disable KVM hardware virtualization",
    "-enable-kvm     enable KVM full virtualization support",
)


@_fuzz_settings(1500)
@given(st.text(max_size=2048))
def test_help_parser_raw_text(text: str) -> None:
    with contextlib.suppress(GuestclockError):  # the target catches these itself
        targets.help_target(text.encode("utf-8", "surrogatepass"))


@_fuzz_settings(1500)
@given(st.lists(st.sampled_from(HELP_LINES) | st.text(max_size=40), max_size=12), st.binary(max_size=64))
def test_help_parser_lines(lines: list[str], noise: bytes) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + noise
    start = time.perf_counter()
    targets.help_target(data)
    assert time.perf_counter() - start < 1.0


# -- the mutation fuzzer, from the real seeds ----------------------------------------------------------------


FUZZ_COUNTS: dict[str, dict[str, int]] = {}


@pytest.mark.parametrize("name", ["xml", "help"])
def test_mutation_fuzzer_finds_nothing(name: str) -> None:
    rng = random.Random(20261125)
    if name == "xml":
        target, mutate = targets.xml_target, targets.Mutator(targets.xml_seeds(), targets.XML_TOKENS, rng)
    else:
        target, mutate = targets.help_target, targets.Mutator(targets.help_seeds(), targets.HELP_TOKENS, rng)
    bugs: list[tuple[bytes, BaseException]] = []
    deadline = time.monotonic() + MUTATION_SECONDS

    def inputs() -> object:
        while time.monotonic() < deadline:
            yield mutate()

    counts = targets.run(target, inputs(), on_bug=lambda data, exc: bugs.append((data, exc)))  # type: ignore[arg-type]
    FUZZ_COUNTS[name] = counts
    assert sum(counts.values()) > 1000, counts
    assert not bugs, [(data[:200], repr(exc)) for data, exc in bugs[:3]]


def test_the_seeds_are_there() -> None:
    assert len(targets.xml_seeds()) >= 50 and len(targets.help_seeds()) >= 15
