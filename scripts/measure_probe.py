#!/usr/bin/env python3
"""Measure the QMP probe against one plain QEMU start-to-exit, and the cached answer.

Not a test: timings depend on the host. Usage: python3 scripts/measure_probe.py [BINARY] [RUNS]

* plain start-to-exit: ``BINARY -machine none -nodefaults -display none -S -no-user-config
  -qmp stdio`` fed ``qmp_capabilities`` and ``quit``, wall time until it has exited;
  the least any QMP probe must pay.
* cold probe: :func:`guestclock.probe.probe_binary` with ``use_cache=False`` (the QMP conversation,
  parsing included; ``-help`` only for a binary without QMP).
* cached probe: :func:`guestclock.probe.probe_binary` after one cold call (stat, read,
  checksum, parse).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from guestclock import probe
from guestclock.qemu import probe as qemu_probe


def _plain(binary: str) -> None:
    subprocess.run(
        [binary, *qemu_probe.PROBE_ARGS, "-qmp", "stdio"],
        input=b'{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n',
        capture_output=True,
        check=True,
    )


def _measure(label: str, action: object, runs: int) -> float:
    assert callable(action)
    action()  # warm the page cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    print(f"{label:<28} median {median:8.2f} ms   min {min(times):8.2f} ms   max {max(times):8.2f} ms   ({runs} runs)")
    return median


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/qemu-system-x86_64"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        plain = _measure("plain QEMU start-to-exit", lambda: _plain(binary), runs)
        cold = _measure("cold probe (QMP)", lambda: probe.probe_binary(binary, use_cache=False), runs)
        probe.probe_binary(binary)
        cached = _measure("cached probe", lambda: probe.probe_binary(binary), runs * 10)
    print(f"cold / plain = {cold / plain:.2f}x (goal <= 1.2x); cached = {cached:.2f} ms (goal < 5 ms)")


if __name__ == "__main__":
    main()
