"""The benchmark's parts run (on a few domains): the numbers themselves are bench/run.py's job."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run() -> ModuleType:
    return _load("run")


def test_generator_is_deterministic_and_covers_every_offset() -> None:
    gen = _load("gen")
    first = [d.xml for d in gen.generate(300, seed=7)]
    assert first == [d.xml for d in gen.generate(300, seed=7)]
    assert first != [d.xml for d in gen.generate(300, seed=8)]
    domains = list(gen.generate(1000))
    assert {d.offset for d in domains} == {"utc", "localtime", "timezone", "variable", "absolute"}
    assert {d.profile for d in domains} == {"windows", "linux"}
    windows = next(d for d in domains if d.profile == "windows")
    assert b"<timer name='hypervclock' present='yes'/>" in windows.xml


def test_in_process_part_on_a_few_domains(run: ModuleType) -> None:
    gen = _load("gen")
    corpus = sorted(run.DEFAULT_CORPUS.glob("*.xml"))[:5]
    datas = [d.xml for d in gen.generate(20)] + [p.read_bytes() for p in corpus]
    start = time.monotonic()
    floor, full, refused = run.inprocess(datas, 2, run.host_now())
    assert time.monotonic() - start < 5
    assert len(floor) == len(full) == len(datas)
    assert all(f > 0 for f in floor) and all(t > 0 for t in full)
    assert refused == 0
    stats = run.summary(full)
    assert stats["n"] == len(datas)
    assert stats["p10"] <= stats["median"] <= stats["p90"]


def test_table_renders(run: ModuleType) -> None:
    stats = run.summary([0.001, 0.002, 0.003])
    results = {
        "date": "today",
        "machine": "here",
        "command": "`python3 bench/run.py`",
        "inprocess": {"x": {"domains": 3, "floor": stats, "guestclock": run.summary([0.0012, 0.0024, 0.0036])}},
        "libvirt": {"skipped": "test"},
        "process": {"guestclock": stats, "python_start": stats, "python_start_no_site": stats},
        "probe": {"skipped": "test"},
        "batch": {"cores": 2, "domains": 3, "all_cores": stats, "one_process": stats},
    }
    table = run.render(run.build_rows(results), results)
    assert "| read + translate, in process (x, 3 domains) | 2.4 ms |" in table
    assert "1.20x the floor" in table
    assert "skipped: test" in table


def test_libvirt_part(run: ModuleType) -> None:
    reason = run.libvirt_missing()
    if reason is not None:
        pytest.skip(f"libvirt part of the bench not run: {reason}")
    corpus = [str(p) for p in sorted(run.DEFAULT_CORPUS.glob("*.xml")) if "s390" not in p.read_text()][:2]
    with tempfile.TemporaryDirectory() as temp:
        raw = run.run_libvirt(Path(temp) / "libvirt", corpus, 1, corpus[:1], 1)
    assert len(raw["api"]["per_domain"]) == 2
    assert len(raw["virsh"]["per_domain"]) == 1
    for path in run.PRIVATE_DIRS:
        assert path not in raw["mount_points_created_and_removed"] or not Path(path).exists()
