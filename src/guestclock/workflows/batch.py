"""``guestclock batch``: translate a whole fleet of domains on every core.

Each domain becomes one JSON line, in the order the files were named (a
directory is walked in sorted order, ``*.xml`` only)::

    {"file": ..., "status": "translated", "argv": [...], "env": {...}, "warnings": [...]}
    {"file": ..., "status": "refused", "kind": "unsupported", "reason": "...", "line": 12,
     "refusals": [...], "warnings": [...]}

A domain that cannot be translated (unreadable, malformed, invalid, or refused
by this QEMU) is a record with its reason, never an abort; the summary on
stderr counts the translated domains and the refusals by reason. The exit
status is 0 when every domain was translated and 1 when any was refused.

The work is spread over a fork()ed process pool in chunks: a domain costs a
few hundred microseconds, so process start-up and per-task messages would
dominate one-task-per-domain. Small inputs stay in this process. The QEMU is
resolved (and probed) once, in this process, before the pool starts; a domain
for another architecture is handed back and translated here once its QEMU is
resolved.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from guestclock.core.model.argv import Now
from guestclock.core.model.caps import Capabilities
from guestclock.core.rules.platform import DEFAULT_ARCH
from guestclock.errors import GuestclockError, InputError, UsageError
from guestclock.workflows.qemu_source import QemuSource, ResolvedQemu, resolve_qemu
from guestclock.workflows.translate import NO_DEFAULTS, DomainDefaults, load_domain, zone_warnings

# json, glob and multiprocessing are imported where used

__all__ = ["BatchConfig", "BatchTotals", "Outcome", "collect_files", "default_jobs", "run_batch", "translate_file"]

#: below this many files the pool costs more than it saves (measured: bench/run.py)
IN_PROCESS_BELOW = 256
#: chunks per worker: enough to balance uneven chunks, few enough to keep messages rare
_CHUNKS_PER_WORKER = 8
_MAX_CHUNK = 512

_GLOB_MAGIC = frozenset("*?[")


# -- collecting files ------------------------------------------------------------


def collect_files(paths: Iterable[str]) -> list[str]:
    """The files ``paths`` name, in order: a directory gives its ``*.xml`` files
    (recursively, sorted), a pattern its matches (sorted), a file itself.

    A directory without XML files or a pattern that matches nothing is a
    UsageError; a named file that cannot be read is kept (it becomes a record).
    """
    files: list[str] = []
    for path in paths:
        if path == "-":
            raise UsageError("batch reads files, not standard input: name files or directories", subject=path)
        if os.path.isdir(path):
            found = sorted(_walk(path))
            if not found:
                raise UsageError(f"no *.xml files under '{path}'", subject=path)
            files.extend(found)
        elif not os.path.lexists(path) and _GLOB_MAGIC.intersection(path):
            import glob

            matches = sorted(glob.glob(path, recursive=True))
            found = [match for match in matches if not os.path.isdir(match)]
            for match in matches:
                if os.path.isdir(match):
                    found.extend(sorted(_walk(match)))
            if not found:
                raise UsageError(f"no files match '{path}'", subject=path)
            files.extend(found)
        else:
            files.append(path)
    return files


def _walk(directory: str) -> Iterator[str]:
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in names:
            if name.lower().endswith(".xml"):
                yield os.path.join(root, name)


# -- translating one file ------------------------------------------------------------


class BatchConfig(NamedTuple):
    """What every worker needs: the QEMU(s), the instant, the bare-clock defaults."""

    #: capabilities by guest architecture ("" = any architecture: --qemu/--caps)
    caps: dict[str, Capabilities]
    now: Now
    defaults: DomainDefaults = NO_DEFAULTS

    def caps_for(self, arch: str | None) -> Capabilities | None:
        """The capabilities for a guest of ``arch``, or None when not resolved yet."""
        found = self.caps.get("")
        if found is not None:
            return found
        return self.caps.get(arch or DEFAULT_ARCH)


class Outcome(NamedTuple):
    """One domain's result: its JSON line, and the reason when it was refused.

    ``pending_arch`` is set (and ``line`` empty) when the domain needs a QEMU for
    an architecture that is not resolved yet.
    """

    line: str
    reason: str | None = None
    pending_arch: str | None = None


def _refusal(path: str, exc: BaseException, warnings: list[str]) -> Outcome:
    import json

    from guestclock.errors import MalformedXMLError, UnsupportedConfigError, XMLError

    record: dict[str, object] = {"file": path, "status": "refused"}
    line: int | None = None
    refusals: list[str] = []
    if isinstance(exc, InputError):
        kind, reason, key = "unreadable", str(exc), "cannot read the file"
    elif isinstance(exc, MalformedXMLError):
        kind, reason, key, line = "malformed", str(exc), "malformed XML", exc.line
    elif isinstance(exc, XMLError):
        kind, reason, line = "invalid", str(exc), exc.line
        key = reason
    elif isinstance(exc, UnsupportedConfigError):
        kind, reason, line = "unsupported", str(exc), exc.line
        refusals = [str(refusal) for refusal in exc.refusals]
        key = reason
    else:
        kind, reason = "error", str(exc)
        key = reason
    record.update(kind=kind, reason=reason, line=line)
    if refusals:
        record["refusals"] = refusals
    record["warnings"] = list(dict.fromkeys(warnings))
    return Outcome(json.dumps(record), key)


def translate_file(path: str, config: BatchConfig) -> Outcome:
    """Read and translate one file as ``guestclock argv`` would; never raises for the domain's faults."""
    import json

    from guestclock.core.translate import translate

    warnings: list[str] = []
    try:
        result = load_domain(path, config.defaults)
        domain = result.domain
        warnings.extend(result.warnings)
        warnings.extend(zone_warnings(domain))
        caps = config.caps_for(domain.arch)
        if caps is None:
            return Outcome("", pending_arch=domain.arch)
        translation = translate(domain, caps, config.now)
    except GuestclockError as exc:
        return _refusal(path, exc, warnings)
    record = {
        "file": path,
        "status": "translated",
        "argv": translation.argv,
        "env": translation.environ,
        "warnings": list(dict.fromkeys([*warnings, *translation.warnings])),
    }
    return Outcome(json.dumps(record))


# -- the pool --------------------------------------------------------------------------

_worker_config: BatchConfig | None = None


def _init_worker(config: BatchConfig) -> None:
    global _worker_config  # noqa: PLW0603 - one config per worker process, set once
    _worker_config = config


class _ChunkResult(NamedTuple):
    """A chunk's JSON lines as one string (one message back, not one per domain),
    each refused domain's reason, and the domains left for this process."""

    text: str
    reasons: tuple[str, ...]
    translated: int
    #: (index in the chunk, architecture) of domains needing a QEMU not resolved yet
    pending: tuple[tuple[int, str | None], ...]


def _run_chunk(chunk: list[str], config: BatchConfig) -> _ChunkResult:
    lines: list[str] = []
    reasons: list[str] = []
    pending: list[tuple[int, str | None]] = []
    translated = 0
    for index, path in enumerate(chunk):
        outcome = translate_file(path, config)
        if outcome.pending_arch is not None:
            pending.append((index, outcome.pending_arch))
            continue
        lines.append(outcome.line)
        if outcome.reason is None:
            translated += 1
        else:
            reasons.append(outcome.reason)
    text = "\n".join(lines) + "\n" if lines else ""
    return _ChunkResult(text, tuple(reasons), translated, tuple(pending))


def _work(chunk: list[str]) -> _ChunkResult:
    config = _worker_config
    assert config is not None
    return _run_chunk(chunk, config)


def default_jobs() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _chunks(files: list[str], jobs: int) -> list[list[str]]:
    size = max(1, min(_MAX_CHUNK, -(-len(files) // (jobs * _CHUNKS_PER_WORKER))))
    return [files[start : start + size] for start in range(0, len(files), size)]


def _run_batch(files: list[str], config: BatchConfig, jobs: int) -> Iterator[tuple[list[str], _ChunkResult]]:
    """Translate ``files`` in input order, a chunk at a time: in this process for
    small inputs or ``jobs`` 1, else on a pool of ``jobs`` fork()ed workers."""
    if jobs <= 1 or len(files) < IN_PROCESS_BELOW:
        for chunk in _chunks(files, 1):
            yield chunk, _run_chunk(chunk, config)
        return
    import multiprocessing

    chunks = _chunks(files, jobs)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method)
    with context.Pool(min(jobs, len(chunks)), initializer=_init_worker, initargs=(config,)) as pool:
        yield from zip(chunks, pool.imap(_work, chunks), strict=True)


class BatchTotals(NamedTuple):
    """What a batch run did: the first QEMU resolved, the translated count, the refusals by reason."""

    qemu: ResolvedQemu
    translated: int
    refused: Counter[str]


def run_batch(
    files: list[str],
    source: QemuSource,
    now: Now,
    *,
    defaults: DomainDefaults = NO_DEFAULTS,
    jobs: int = 0,
    write: Callable[[str], object],
    progress: Callable[[int], None] | None = None,
) -> BatchTotals:
    """Translate ``files`` for ``source``'s QEMU, handing each chunk's JSON lines to ``write`` in
    input order; ``progress`` is called with the number of files done."""
    if jobs < 0:
        raise UsageError("--jobs must be 0 (one per core) or more", subject="--jobs")
    first = resolve_qemu(source, defaults.arch)
    config = BatchConfig(
        caps={"" if source.names_any_arch else (defaults.arch or DEFAULT_ARCH): first.caps},
        now=now,
        defaults=defaults,
    )
    translated = 0
    refused: Counter[str] = Counter()
    done = 0
    for chunk, result in _run_batch(files, config, jobs or default_jobs()):
        if not result.pending:
            write(result.text)
        else:
            # order matters: put the domains translated here back in their place
            lines = result.text.splitlines(keepends=True)
            for index, arch in result.pending:
                if config.caps_for(arch) is None:
                    more = resolve_qemu(source, arch)
                    config = config._replace(caps={**config.caps, arch or DEFAULT_ARCH: more.caps})
                outcome = translate_file(chunk[index], config)
                lines.insert(index, outcome.line + "\n")
                if outcome.reason is None:
                    translated += 1
                else:
                    refused[outcome.reason] += 1
            write("".join(lines))
        translated += result.translated
        refused.update(result.reasons)
        done += len(chunk)
        if progress is not None:
            progress(done)
    return BatchTotals(first, translated, refused)
