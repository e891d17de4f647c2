#!/usr/bin/env python3
"""guestclock side by side with what users would run instead, in one run, on the same inputs.

    python3 bench/run.py            # everything (the libvirt part needs root, see below)
    python3 bench/run.py --quick    # a small run: fewer domains and repetitions

Inputs: the libvirt 9.0 test domains of ../shared/corpus (or --corpus) and
10,000 domains from bench/gen.py (seeded: the same every run). Measured:

1. in process, per domain: ``read_domain`` + ``translate`` against bare
   ``_safexml.parse_document`` of the same bytes, configured as the domain reader uses it
   (the same subtrees kept: the floor; goal: within 1.5x);
2. libvirt's ``domainXMLToNative('qemu-argv', ...)`` on an open connection to a
   private libvirtd (goal: guestclock 50x faster), on the corpus and a seeded
   sample of the generated domains;
3. ``guestclock argv FILE --qemu-version 7.2.0`` as a whole process against
   ``virsh domxml-to-native qemu-argv FILE`` (goal: not slower);
4. a cold probe of qemu-system-x86_64 against one QEMU start-to-exit, and a
   cached probe;
5. ``guestclock batch`` on the 10,000 generated domains (goal: under 1 s on 2 cores),
   and the pool against in-process translation for small inputs.

The libvirt part runs bench/libvirt_side.py under Debian's /usr/bin/python3
(python3-libvirt) inside ``unshare -m``: a private libvirtd with private
/etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt
and a private /etc/passwd + /etc/group holding the libvirt-qemu user it needs.
Where one of those directories does not exist on the host, an empty mount
point is created for the run and removed afterwards. It needs root, unshare,
libvirtd, virsh and python3-libvirt (Debian 12: ``apt-get install -y
libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients python3-libvirt``);
without them that part is reported as skipped, with the reason.

Prints a table (median, p10-p90, ratio) and writes it as JSON and Markdown to
bench/results/ (git-ignored). The probe cache of this run lives in a temporary
directory; nothing else outside it is written.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

import gen  # noqa: E402

from guestclock.core.read.domain import DOMAIN_KEEP, read_domain  # noqa: E402
from guestclock.core.read.safexml import parse_document  # noqa: E402
from guestclock.core.rules.history import caps_for_version  # noqa: E402
from guestclock.core.translate import Now, translate  # noqa: E402
from guestclock.errors import GuestclockError  # noqa: E402
from guestclock.host.clock import host_now  # noqa: E402
from guestclock.workflows import batch as _batch  # noqa: E402

QEMU_VERSION = "7.2.0"
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "libvirt-9.0" / "cases"
SYSTEM_PYTHON = "/usr/bin/python3"
PRIVATE_DIRS = ("/etc/libvirt", "/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt")

Row = dict[str, Any]


# -- statistics -----------------------------------------------------------------


def summary(samples: Sequence[float]) -> dict[str, float | int]:
    """Median, 10th and 90th percentile (seconds) and the count."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

    return {"median": statistics.median(ordered), "p10": pct(0.10), "p90": pct(0.90), "n": len(ordered)}


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _spread(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "-"
    return f"{_fmt(stats['p10'])} – {_fmt(stats['p90'])}"


def _median_of(stats: dict[str, Any]) -> float | None:
    value = stats.get("median")
    return float(value) if value is not None else None


# -- 1. in process --------------------------------------------------------------


def inprocess(datas: Sequence[bytes], rounds: int, now: Now) -> tuple[list[float], list[float], int]:
    """Per domain, the median over ``rounds`` of parse-only and of read+translate
    (interleaved, so drift hits both alike); and how many were refused."""
    caps = caps_for_version(QEMU_VERSION)
    floor: list[list[float]] = [[] for _ in datas]
    full: list[list[float]] = [[] for _ in datas]
    refused = 0
    clock = time.perf_counter_ns
    for round_ in range(rounds):
        for index, data in enumerate(datas):
            start = clock()
            with contextlib.suppress(GuestclockError):
                parse_document(data, DOMAIN_KEEP)
            middle = clock()
            try:
                translate(read_domain(data).domain, caps, now)
            except GuestclockError:
                refused += round_ == 0
            end = clock()
            floor[index].append((middle - start) / 1e9)
            full[index].append((end - middle) / 1e9)
    return [statistics.median(s) for s in floor], [statistics.median(s) for s in full], refused


# -- 2./3. libvirt ----------------------------------------------------------------


def libvirt_missing() -> str | None:
    """Why the libvirt part cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (a private libvirtd in a private mount namespace)"
    for tool in ("unshare", "mount", "libvirtd", "virsh"):
        if shutil.which(tool) is None:
            return (
                f"'{tool}' is not installed "
                "(apt-get install -y libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)"
            )
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} (Debian's Python, for python3-libvirt) is missing"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "python3-libvirt is not installed for /usr/bin/python3 (apt-get install -y python3-libvirt)"
    return None


@contextlib.contextmanager
def mount_points() -> Iterator[list[str]]:
    """Create the missing mount points for the private directories; remove them after."""
    created: list[str] = []
    try:
        for path in PRIVATE_DIRS:
            if not os.path.lexists(path):
                os.mkdir(path)
                created.append(path)
        yield created
    finally:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(path)


def _kill_leftover(pid_file: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().strip())
        if Path(f"/proc/{pid}/comm").read_text().strip() == "libvirtd":
            os.kill(pid, signal.SIGKILL)


def run_libvirt(work: Path, api_files: list[str], api_rounds: int, virsh_files: list[str], reps: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    spec = {"api_files": api_files, "api_rounds": api_rounds, "virsh_files": virsh_files, "virsh_reps": reps}
    (work / "spec.json").write_text(json.dumps(spec))
    out = work / "libvirt.json"
    with mount_points() as created:
        try:
            done = subprocess.run(
                [
                    *("unshare", "-m", "--propagation", "private", "--", SYSTEM_PYTHON),
                    *(str(HERE / "libvirt_side.py"), str(work), str(work / "spec.json"), str(out)),
                ],
                capture_output=True,
                check=False,
                timeout=3600,
            )
        finally:
            _kill_leftover(work / "libvirtd.pid")
    if done.returncode != 0 or not out.exists():
        log = (work / "libvirtd.log").read_text(errors="replace")[-2000:] if (work / "libvirtd.log").exists() else ""
        raise RuntimeError(f"libvirt side failed ({done.returncode}): {done.stderr.decode()[-2000:]}\n{log}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["mount_points_created_and_removed"] = created
    return result


# -- 3. processes -------------------------------------------------------------------


def _guestclock_command() -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return [sys.executable, "-m", "guestclock"], env


def time_guestclock_processes(files: list[str], reps: int) -> tuple[list[float], int]:
    command, env = _guestclock_command()
    samples: list[list[float]] = [[] for _ in files]
    failures = 0
    for rep in range(reps):
        for index, name in enumerate(files):
            start = time.perf_counter_ns()
            done = subprocess.run(
                [*command, "argv", name, "--qemu-version", QEMU_VERSION],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=env,
                check=False,
            )
            samples[index].append((time.perf_counter_ns() - start) / 1e9)
            failures += rep == 0 and done.returncode != 0
    return [statistics.median(s) for s in samples], failures


# -- 4. probe -------------------------------------------------------------------------


def _timed(action: Callable[[], object], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        start = time.perf_counter_ns()
        action()
        samples.append((time.perf_counter_ns() - start) / 1e9)
    return samples


def time_probe(qemu: str, reps: int) -> dict[str, Any]:
    from guestclock import probe
    from guestclock.qemu import probe as qemu_probe

    def qemu_start_to_exit() -> None:
        # what any QMP probe must at least pay: QEMU up (no machine), QMP handshake, quit
        subprocess.run(
            [qemu, "-machine", "none", "-nodefaults", "-display", "none", "-qmp", "stdio"],
            input=b'{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
            capture_output=True,
            check=True,
            timeout=60,
        )

    def qemu_version() -> None:
        subprocess.run([qemu, "-version"], capture_output=True, check=True, timeout=60)

    probe_binary = getattr(probe, "probe_binary", None)
    result: dict[str, Any] = {
        "qemu": qemu,
        "qemu_start_to_exit": summary(_timed(qemu_start_to_exit, reps)),
        "qemu_version_start_to_exit": summary(_timed(qemu_version, reps)),
    }
    if probe_binary is not None:
        result["probe"] = "probe.probe_binary"
        result["cold"] = summary(_timed(lambda: probe_binary(qemu, use_cache=False), reps))
        probe_binary(qemu, use_cache=True)  # fill the cache (in this run's private XDG_CACHE_HOME)
        result["cached"] = summary(_timed(lambda: probe_binary(qemu, use_cache=True), max(reps, 50)))
    else:
        result["probe"] = "probe.probe_help (probe_binary absent: no cache to measure)"
        result["cold"] = summary(_timed(lambda: qemu_probe.probe_help(qemu), reps))
    return result


# -- 5. batch -------------------------------------------------------------------------


def time_batch(directory: Path, count: int, reps: int, now_epoch: int) -> dict[str, Any]:
    command, env = _guestclock_command()
    result: dict[str, Any] = {"cores": _batch.default_jobs(), "domains": count}
    for label, extra in (("all_cores", []), ("one_process", ["--jobs", "1"])):
        walls = []
        for _ in range(reps):
            start = time.perf_counter_ns()
            done = subprocess.run(
                [*command, "batch", str(directory), "--qemu-version", QEMU_VERSION, "--now", f"@{now_epoch}", *extra],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                check=False,
            )
            walls.append((time.perf_counter_ns() - start) / 1e9)
            if done.returncode != 0:
                raise RuntimeError(f"guestclock batch failed: {done.stderr.decode()[-1000:]}")
        result[label] = summary(walls)
    return result


def time_pool_threshold(files: list[str], sizes: Sequence[int], reps: int) -> list[dict[str, Any]]:
    """The pool against this process for small inputs (what IN_PROCESS_BELOW is based on)."""
    config = _batch.BatchConfig(caps={"x86_64": caps_for_version(QEMU_VERSION)}, now=host_now())
    saved = _batch.IN_PROCESS_BELOW
    rows = []
    try:
        _batch.IN_PROCESS_BELOW = 0
        for size in sizes:
            chunk = files[:size]
            row: dict[str, Any] = {"domains": len(chunk)}
            for label, jobs in (("in_process", 1), ("pool", _batch.default_jobs())):
                row[label] = summary(
                    _timed(lambda jobs=jobs, chunk=chunk: list(_batch._run_batch(chunk, config, jobs)), reps)
                )
            rows.append(row)
    finally:
        _batch.IN_PROCESS_BELOW = saved
    return rows


# -- the table ------------------------------------------------------------------------


def build_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, part in results["inprocess"].items():
        ratio = part["guestclock"]["median"] / part["floor"]["median"]
        rows.append(
            {
                "what": f"read + translate, in process ({name}, {part['domains']} domains)",
                "stats": part["guestclock"],
                "against": f"parse_document only: {_fmt(part['floor']['median'])} ({_spread(part['floor'])})",
                "ratio": f"{ratio:.2f}x the floor",
                "goal": "<= 1.5x",
                "met": ratio <= 1.5,
            }
        )
    lv = results["libvirt"]
    if "skipped" in lv:
        rows.append({"what": "libvirt domainXMLToNative / virsh", "skipped": lv["skipped"]})
    else:
        api, ours = lv["api"], lv["guestclock_same_files"]
        ratio = api["median"] / ours["median"]
        rows.append(
            {
                "what": f"domainXMLToNative on an open connection ({api['n']} domains)",
                "stats": api,
                "against": f"guestclock in process, same domains: {_fmt(ours['median'])}",
                "ratio": f"guestclock {ratio:.0f}x faster",
                "goal": ">= 50x",
                "met": ratio >= 50,
            }
        )
        virsh, process = lv["virsh"], results["process"]["guestclock"]
        ratio = virsh["median"] / process["median"]
        rows.append(
            {
                "what": f"`guestclock argv FILE --qemu-version {QEMU_VERSION}`, whole process ({process['n']} files)",
                "stats": process,
                "against": f"`virsh domxml-to-native qemu-argv FILE`: {_fmt(virsh['median'])} ({_spread(virsh)})",
                "ratio": f"{ratio:.2f}x (virsh / guestclock)",
                "goal": "not slower (>= 1x)",
                "met": ratio >= 1,
            }
        )
    process = results["process"]
    rows.append(
        {
            "what": "Python start-up alone: `python3 -c pass` (`-S`: without site-packages)",
            "stats": process["python_start"],
            "against": f"`python3 -S -c pass`: {_fmt(_median_of(process['python_start_no_site']))}",
            "ratio": f"{process['python_start']['median'] / process['guestclock']['median']:.0%} of a guestclock run",
            "goal": "-",
            "met": None,
        }
    )
    probe = results["probe"]
    if "skipped" in probe:
        rows.append({"what": "probe", "skipped": probe["skipped"]})
    else:
        start = probe["qemu_start_to_exit"]
        ratio = probe["cold"]["median"] / start["median"]
        rows.append(
            {
                "what": f"cold probe ({probe['probe']})",
                "stats": probe["cold"],
                "against": f"one QEMU start-to-exit (-machine none, QMP quit): {_fmt(start['median'])}",
                "ratio": f"{ratio:.2f}x one QEMU start",
                "goal": "-",
                "met": None,
            }
        )
        if "cached" in probe:
            cached = probe["cached"]
            rows.append(
                {
                    "what": "cached probe (same binary)",
                    "stats": cached,
                    "against": f"cold probe: {_fmt(probe['cold']['median'])}",
                    "ratio": f"{probe['cold']['median'] / cached['median']:.0f}x faster than cold",
                    "goal": "-",
                    "met": None,
                }
            )
    batch = results["batch"]
    for label, text in (("all_cores", f"{batch['cores']} workers"), ("one_process", "--jobs 1")):
        stats = batch[label]
        rows.append(
            {
                "what": f"`guestclock batch` {batch['domains']} domains, {text}, whole process",
                "stats": stats,
                "against": f"{batch['domains'] / stats['median']:.0f} domains/s",
                "ratio": "-",
                "goal": "< 1 s on 2 cores" if label == "all_cores" else "-",
                "met": stats["median"] < 1 if label == "all_cores" else None,
            }
        )
    return rows


def render(rows: list[Row], results: dict[str, Any]) -> str:
    lines = [
        f"Measured {results['date']} on {results['machine']} with {results['command']}",
        "",
        "| measurement | median | p10 – p90 | against | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "skipped" in row:
            lines.append(f"| {row['what']} | skipped: {row['skipped']} | | | | | |")
            continue
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        lines.append(
            f"| {row['what']} | {_fmt(row['stats']['median'])} | {_spread(row['stats'])} | {row['against']} "
            f"| {row['ratio']} | {row['goal']} | {met} |"
        )
    threshold = results["batch"].get("pool_threshold", [])
    if threshold:
        lines += ["", "Pool against one process for small inputs (library, no process start-up):", ""]
        lines += ["| domains | in process | pool |", "|---|---|---|"]
        for row in threshold:
            lines.append(f"| {row['domains']} | {_fmt(row['in_process']['median'])} | {_fmt(row['pool']['median'])} |")
    return "\n".join(lines) + "\n"


# -- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="directory of libvirt test domains")
    parser.add_argument("--count", type=int, default=gen.DEFAULT_COUNT, help="generated domains (default 10000)")
    parser.add_argument("--seed", type=int, default=gen.DEFAULT_SEED)
    parser.add_argument("--rounds", type=int, default=3, help="in-process rounds over every domain")
    parser.add_argument("--api-sample", type=int, default=300, help="generated domains sent to domainXMLToNative")
    parser.add_argument("--api-rounds", type=int, default=2)
    parser.add_argument("--process-sample", type=int, default=10, help="generated domains run as whole processes")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of whole-process and probe timings")
    parser.add_argument("--skip-libvirt", action="store_true")
    parser.add_argument("--skip-probe", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1,000 domains, fewer repetitions")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.rounds, args.api_sample, args.api_rounds = 1000, 1, 50, 1
        args.process_sample, args.reps = 3, 2

    corpus_files = sorted(str(p) for p in args.corpus.glob("*.xml"))
    if not corpus_files:
        parser.error(f"no *.xml under {args.corpus}")
    now = host_now()
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()}: {os.cpu_count()} CPUs ({_cpu_model()}), "
        f"Linux {platform.release()}, Python {platform.python_version()}",
        "command": "`" + " ".join(["python3 bench/run.py", *(argv if argv is not None else sys.argv[1:])]) + "`",
        "qemu_version_for_translation": QEMU_VERSION,
        "seed": args.seed,
    }
    with tempfile.TemporaryDirectory(prefix="guestclock-bench-") as temp:
        work = Path(temp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # the probe cache of this run only
        generated_dir = work / "generated"
        _log(f"generating {args.count} domains (seed {args.seed})")
        generated = gen.write_domains(generated_dir, args.count, args.seed)
        generated_files = [str(generated_dir / d.name) for d in generated]
        datas = {name: Path(name).read_bytes() for name in corpus_files + generated_files}

        _log("1/5 in process: read + translate against parse_document")
        per_domain: dict[str, float] = {}
        results["inprocess"] = {}
        for label, names in (("libvirt corpus", corpus_files), ("generated", generated_files)):
            floor, full, refused = inprocess([datas[n] for n in names], args.rounds, now)
            per_domain.update(zip(names, full, strict=True))
            results["inprocess"][label] = {
                "domains": len(names),
                "refused": refused,
                "floor": summary(floor),
                "guestclock": summary(full),
                "per_domain_ratio": summary([f / p for f, p in zip(full, floor, strict=True)]),
            }

        sample = random.Random(args.seed).sample(generated_files, min(args.api_sample, len(generated_files)))
        process_files = corpus_files + sample[: args.process_sample]
        reason = "--skip-libvirt" if args.skip_libvirt else libvirt_missing()
        if reason is not None:
            results["libvirt"] = {"skipped": reason}
        else:
            api_files = corpus_files + sample
            _log(f"2/5 libvirt: private libvirtd, domainXMLToNative on {len(api_files)} domains, virsh")
            raw = run_libvirt(work / "libvirt", api_files, args.api_rounds, process_files, args.reps)
            results["libvirt"] = {
                "api": summary(raw["api"]["per_domain"]),
                "api_errors": raw["api"]["errors"],
                "api_warm_up_s": raw["api"]["warm_up_s"],
                "libvirt_version": raw["api"]["libvirt_version"],
                "qemu_version": raw["api"]["qemu_version"],
                "guestclock_same_files": summary([per_domain[name] for name in api_files]),
                "virsh": summary(raw["virsh"]["per_domain"]),
                "virsh_errors": raw["virsh"]["errors"],
                "mount_points_created_and_removed": raw["mount_points_created_and_removed"],
            }
        _log(f"3/5 whole processes: guestclock argv on {len(process_files)} files")
        process, failures = time_guestclock_processes(process_files, args.reps)
        python = [sys.executable, "-c", "pass"]
        results["process"] = {
            "guestclock": summary(process),
            "refused": failures,
            # how much of a whole guestclock process is the interpreter starting (with site-packages' .pth
            # files, as a console script starts) and without site at all
            "python_start": summary(_timed(lambda: subprocess.run(python, check=True), 10 * args.reps)),
            "python_start_no_site": summary(
                _timed(lambda: subprocess.run([sys.executable, "-S", "-c", "pass"], check=True), 10 * args.reps)
            ),
        }

        qemu = shutil.which("qemu-system-x86_64")
        if args.skip_probe or qemu is None:
            results["probe"] = {"skipped": "--skip-probe" if args.skip_probe else "no qemu-system-x86_64 on PATH"}
        else:
            _log(f"4/5 probe: {qemu}")
            results["probe"] = time_probe(qemu, max(args.reps, 5))

        _log(f"5/5 batch: {args.count} domains")
        results["batch"] = time_batch(generated_dir, args.count, args.reps, now.epoch)
        results["batch"]["pool_threshold"] = time_pool_threshold(generated_files, (64, 128, 256, 1024), args.reps)

    rows = build_rows(results)
    table = render(rows, results)
    results["table"] = rows
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"bench-{stamp}", "latest"):
        (args.out / f"{name}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        (args.out / f"{name}.md").write_text(table)
    _log(f"wrote {args.out / f'bench-{stamp}.json'} and latest.json/latest.md")
    return 0


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
