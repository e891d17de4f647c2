"""Fuzz targets for guestclock's two parsers of untrusted text, and a small mutation engine.

A target takes bytes and may raise only guestclock's own errors (``GuestclockError``);
anything else (ValueError, RecursionError, an AssertionError, a hang) is a bug.

* :func:`xml_target`: ``read_domain`` (the expat reader and libvirt's rules), then for every
  accepted document the XML round trip and ``translate`` on a few capability sets; the same
  bytes also go to ``load_libvirt_caps``, which shares the reader.
* :func:`help_target`: ``parse_help`` on the bytes decoded as QEMU's output would be.

The mutation engine (:class:`Mutator`) starts from real seeds (the corpus, the golden files)
and applies byte- and token-level edits with a dictionary of the things that matter here
(DTDs, entities, huge numbers, non-UTF-8 bytes, option names). It needs nothing but the
standard library, so ``fuzz/fuzz_xml.py`` and ``fuzz/fuzz_help.py`` can run for hours.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from guestclock.core.model.caps import Capabilities
from guestclock.core.read.capsdump import load_libvirt_caps
from guestclock.core.read.domain import read_domain
from guestclock.core.read.helptext import parse_help
from guestclock.core.render.xml import clock_to_xml
from guestclock.core.rules.history import caps_for_version
from guestclock.core.translate import Now, translate
from guestclock.errors import GuestclockError

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path("/work/shared/corpus")

_CAPS: tuple[Capabilities, ...] = (
    caps_for_version("7.2.0"),
    caps_for_version("1.0.0"),
    caps_for_version("0.12.0", "i686"),
    caps_for_version("8.0.0", "aarch64"),
    caps_for_version("10.1.0", "s390x"),
)
_NOW = Now(1234567890, 3600)


def xml_target(data: bytes) -> str:
    """Read, round-trip and translate ``data``; the outcome's name. Only GuestclockError may escape."""
    with contextlib.suppress(GuestclockError):
        load_libvirt_caps(data)
    try:
        result = read_domain(data)
    except GuestclockError as exc:
        return type(exc).__name__
    clock = result.domain.clock
    again = read_domain(clock_to_xml(clock)).domain.clock
    assert again == clock, f"round trip changed the clock: {clock!r} -> {again!r}"
    outcome = "accepted"
    for caps in _CAPS:
        try:
            translation = translate(result.domain, caps, _NOW)
        except GuestclockError:
            continue
        for word in translation.argv:
            assert word.isprintable() and "\n" not in word, f"unprintable argv word {word!r}"
        outcome = "translated"
    return outcome


def help_target(data: bytes) -> str:
    """``parse_help`` on ``data`` as QEMU's output would be decoded. Only GuestclockError may escape."""
    try:
        info = parse_help(data.decode("utf-8", "replace"))
    except GuestclockError as exc:
        return type(exc).__name__
    assert all(part >= 0 for part in info.version)
    return "parsed"


def _read_all(paths: Iterable[Path]) -> list[bytes]:
    return [path.read_bytes() for path in paths if path.is_file() and path.stat().st_size < 2_000_000]


def xml_seeds() -> list[bytes]:
    """Domain and clock documents: the golden files, the examples and libvirt's test cases."""
    paths = [*ROOT.glob("tests/golden/*/*.xml"), *ROOT.glob("examples/*.xml")]
    paths += [*CORPUS.glob("libvirt-9.0/cases/*.xml"), *CORPUS.glob("caps/*.xml")]
    seeds = _read_all(sorted(paths))
    seeds.append(
        b"<clock offset='variable' adjustment='123456' basis='localtime'><timer name='tsc' frequency='1'/></clock>"
    )
    return seeds


def help_seeds() -> list[bytes]:
    """Every recorded -help text."""
    return _read_all(sorted(CORPUS.glob("help/*")))


XML_TOKENS = [
    b"<!DOCTYPE clock [<!ENTITY a 'b'>]>",
    b"&a;",
    b"&#0;",
    b"&#10;",
    b"&amp;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?xml version='1.0' encoding='latin-1'?>",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xc0\xaf",
    b"\x00",
    b"\xe9",
    b"<timer name='tsc' frequency='18446744073709551616'/>",
    b"<timer name='rtc' tickpolicy='catchup'>",
    b"<catchup threshold='1' slew='0' limit='99999999999999999999'/>",
    b"</timer>",
    b"<clock offset='absolute' start='",
    b"<clock offset='timezone' timezone='",
    b"Europe/Paris",
    b"$(id)",
    b",",
    b"=",
    b"'",
    b'"',
    b"<",
    b">",
    b"/>",
    b"-9223372036854775809",
    b"9223372036854775807",
    b"253402300800",
    b"0",
    b"-1",
    b"9" * 30,
    b"0" * 5000,
    b"<os><type arch='aarch64' machine='virt'>hvm</type></os>",
    b"<cpu mode='host-model'/>",
    b"<domain type='kvm'>",
    b"</domain>",
    b"<clock>",
    b"</clock>",
    b"xmlns:a='x' a:b='c'",
    b"name='armvtimer'",
    b"present='no'",
    b"track='boot'",
]
HELP_TOKENS = [
    b"QEMU emulator version ",
    b"QEMU PC emulator version 0.12.1 (qemu-kvm-0.12.1.2)",
    b"(kvm-",
    b"1.2.3",
    b"9" * 40,
    b"9" * 5000,
    b"clock=" * 20000,
    b"\n-rtc [base=utc|localtime|date][,clock=host|rt|vm][,driftfix=none|slew]\n",
    b"clock=",
    b"rt",
    b"\n-no-hpet\n",
    b"\n-rtc-td-hack\n",
    b"\n-no-kvm-pit-reinjection\n",
    b"\n-tdf\n",
    b"\n-localtime\n",
    b"\n-startdate\n",
    b"\x00",
    b"\n-no-kvm\n",
    b"\n-enable-kvm\n",
    b"[",
    b"]",
    b"(",
    b")",
    b"\n",
    b" ",
    b"\t",
]


class Mutator:
    """Byte and token edits of seeds: flips, inserts, deletions, duplications, splices."""

    def __init__(self, seeds: list[bytes], tokens: list[bytes], rng: random.Random) -> None:
        assert seeds, "a fuzzer needs at least one seed"
        self.seeds = seeds
        self.tokens = tokens
        self.rng = rng

    def __call__(self) -> bytes:
        rng = self.rng
        data = bytearray(rng.choice(self.seeds))
        for _ in range(rng.choice((1, 1, 2, 3, 5, 8))):
            pos = rng.randrange(len(data) + 1)
            op = rng.randrange(7)
            if op == 0 and data:  # flip a byte
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            elif op in (1, 2):  # insert a token
                data[pos:pos] = rng.choice(self.tokens)
            elif op == 3:  # delete a range
                del data[pos : pos + rng.randrange(1, 64)]
            elif op == 4:  # duplicate a range (many times, sometimes)
                chunk = data[pos : pos + rng.randrange(1, 64)]
                data[pos:pos] = chunk * rng.choice((1, 2, 16, 1000))
            elif op == 5:  # splice another seed
                other = rng.choice(self.seeds)
                cut = rng.randrange(len(other) + 1)
                data[pos:] = other[cut:]
            else:  # truncate
                del data[pos:]
        return bytes(data)


class SlowInput(Exception):
    """An input that took longer than the fuzzer's limit (a hang in the making)."""


def run(
    target: Callable[[bytes], str],
    inputs: Iterable[bytes],
    *,
    on_bug: Callable[[bytes, BaseException], None],
    slow: float = 1.0,
) -> dict[str, int]:
    """Feed ``inputs`` to ``target``; outcome counts. ``on_bug`` gets each input that raised
    something else or took more than ``slow`` seconds."""
    counts: dict[str, int] = {}
    for data in inputs:
        start = time.perf_counter()
        try:
            outcome = target(data)
        except GuestclockError:  # pragma: no cover - targets catch their own errors
            outcome = "GuestclockError"
        except Exception as exc:  # the bug this exists to find
            on_bug(data, exc)
            outcome = "BUG"
        elapsed = time.perf_counter() - start
        if elapsed > slow:
            on_bug(data, SlowInput(f"{len(data)} bytes took {elapsed:.2f} s"))
            outcome = "SLOW"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
