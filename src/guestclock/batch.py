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

import argparse
import functools
import os
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

from . import cli as _cli

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Iterable, Iterator

    from .caps import Capabilities
    from .translation import Now

# json, glob and multiprocessing are imported where used: every guestclock
# command imports this module (to register 'batch'), and start-up time counts

__all__ = ["BatchConfig", "Outcome", "collect_files", "default_jobs", "register", "translate_file"]

#: below this many files the pool costs more than it saves (measured: bench/run.py)
IN_PROCESS_BELOW = 256
#: chunks per worker: enough to balance uneven chunks, few enough to keep messages rare
_CHUNKS_PER_WORKER = 8
_MAX_CHUNK = 512

_GLOB_MAGIC = frozenset("*?[")


def register(subparsers: Any) -> None:
    """Add the ``batch`` command to the ``guestclock`` parser."""
    parser = subparsers.add_parser(
        "batch",
        help="translate many domains (files, directories, globs) into JSON lines",
        description=(
            "Translate every domain named (a directory is walked for *.xml) into one JSON line each; "
            "refusals are records too. A summary goes to stderr. Exit status 1 if any domain was refused."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="DIR|FILE", help="domain files, directories or glob patterns")
    defaults = parser.add_argument_group("for a bare <clock> (a <domain> says these itself)")
    # cli._option_name refuses names that would change a QEMU option's meaning (',' '=' '/')
    name_type = getattr(_cli, "_option_name", None)
    defaults.add_argument("--arch", type=name_type, help="guest architecture when the document names none")
    defaults.add_argument("--virt-type", choices=("kvm", "qemu"), help="domain type when the document names none")
    defaults.add_argument("--machine", type=name_type, help="machine type when the document names none")
    parser.add_argument("--now", metavar="ISO8601", help="the time to compute variable offsets from (default: now)")
    _cli._add_qemu_options(parser)
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=0,
        metavar="N",
        help="worker processes (default: one per available core; 1: no pool)",
    )
    parser.add_argument("--output", metavar="FILE", help="write the JSON lines to FILE atomically instead of stdout")
    parser.set_defaults(handler=_cmd_batch)


# -- collecting files ------------------------------------------------------------


def collect_files(paths: Iterable[str]) -> list[str]:
    """The files ``paths`` name, in order: a directory gives its ``*.xml`` files
    (recursively, sorted), a pattern its matches (sorted), a file itself.

    A directory without XML files or a pattern that matches nothing is a
    GuestclockError; a named file that cannot be read is kept (it becomes a record).
    """
    from .errors import GuestclockError

    files: list[str] = []
    for path in paths:
        if path == "-":
            raise GuestclockError("batch reads files, not standard input: name files or directories", subject=path)
        if os.path.isdir(path):
            found = sorted(_walk(path))
            if not found:
                raise GuestclockError(f"no *.xml files under '{path}'", subject=path)
            files.extend(found)
        elif not os.path.lexists(path) and _GLOB_MAGIC.intersection(path):
            import glob

            matches = sorted(glob.glob(path, recursive=True))
            found = [match for match in matches if not os.path.isdir(match)]
            for match in matches:
                if os.path.isdir(match):
                    found.extend(sorted(_walk(match)))
            if not found:
                raise GuestclockError(f"no files match '{path}'", subject=path)
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
    arch: str | None = None
    virt_type: str | None = None
    machine: str | None = None

    def caps_for(self, arch: str | None) -> Capabilities | None:
        """The capabilities for a guest of ``arch``, or None when not resolved yet."""
        found = self.caps.get("")
        if found is not None:
            return found
        return self.caps.get(arch or "x86_64")


class Outcome(NamedTuple):
    """One domain's result: its JSON line, and the reason when it was refused.

    ``pending_arch`` is set (and ``line`` empty) when the domain needs a QEMU for
    an architecture that is not resolved yet.
    """

    line: str
    reason: str | None = None
    pending_arch: str | None = None


@functools.lru_cache(maxsize=1024)
def _zone_check(name: str) -> tuple[tuple[str, ...], str | None]:
    """zones.check_timezone once per zone (it lists the zone database): warnings, or the refusal."""
    from .errors import XMLError
    from .zones import check_timezone

    try:
        return tuple(check_timezone(name)), None
    except XMLError as exc:
        return (), exc.message


def _refusal(path: str, exc: BaseException, warnings: list[str]) -> Outcome:
    import json

    from .errors import MalformedXMLError, UnsupportedConfigError, XMLError

    record: dict[str, object] = {"file": path, "status": "refused"}
    line: int | None = None
    refusals: list[str] = []
    if isinstance(exc, _cli._FileError):
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
    from dataclasses import replace

    from .errors import GuestclockError, XMLError
    from .model import Offset
    from .translation import translate
    from .xmlread import read_domain

    warnings: list[str] = []
    try:
        result = read_domain(_cli._read_input(path))
        domain = result.domain
        warnings.extend(result.warnings)
        if (
            (config.arch and not domain.arch)
            or (config.virt_type and not domain.virt_type)
            or (config.machine and not domain.machine)
        ):
            domain = replace(
                domain,
                arch=domain.arch or config.arch,
                virt_type=domain.virt_type or config.virt_type,
                machine=domain.machine or config.machine,
            )
        clock = domain.clock
        if clock.offset is Offset.TIMEZONE and clock.timezone is not None:
            zone_warnings, refused = _zone_check(clock.timezone)
            if refused is not None:
                raise XMLError(refused, line=clock.line, element="clock", attribute="timezone", value=clock.timezone)
            warnings.extend(zone_warnings)
        caps = config.caps_for(domain.arch)
        if caps is None:
            return Outcome("", pending_arch=domain.arch)
        translation = translate(domain, caps, config.now)
    except (GuestclockError, _cli._FileError) as exc:
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


# -- the command -------------------------------------------------------------------------


class _Progress:
    """A plain progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.enabled = total > 0 and sys.stderr.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        percent = done * 100 // self.total
        if percent == self.shown:
            return
        self.shown = percent
        filled = done * 30 // self.total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} {percent:3d}%")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def _summary(translated: int, refused: Counter[str], qemu: dict[str, object]) -> str:
    total = translated + sum(refused.values())
    source = qemu.get("binary") or qemu.get("source")
    lines = [
        f"{_cli.PROG}: batch: {total} domain(s) for QEMU {qemu.get('version')} ({source}): "
        f"translated {translated}, refused {sum(refused.values())}"
    ]
    for reason, count in sorted(refused.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {count:>7}  {reason}")
    return "\n".join(lines) + "\n"


def _cmd_batch(args: argparse.Namespace) -> int:
    from collections import Counter

    if args.jobs < 0:
        raise _cli._Usage("--jobs must be 0 (one per core) or more")
    from .errors import GuestclockError

    try:
        files = collect_files(args.paths)
    except GuestclockError as exc:
        raise _cli._Usage(exc.message) from None
    first, qemu = _cli._resolve_caps(args, args.arch)
    any_arch = args.qemu is not None or args.caps is not None
    config = BatchConfig(
        caps={"" if any_arch else (args.arch or "x86_64"): first},
        now=_cli._now(args),
        arch=args.arch,
        virt_type=args.virt_type,
        machine=args.machine,
    )
    jobs = args.jobs or default_jobs()
    out: list[str] = []
    write = out.append if args.output else sys.stdout.write
    translated = 0
    refused: Counter[str] = Counter()
    progress = _Progress(len(files))
    done = 0
    try:
        for chunk, result in _run_batch(files, config, jobs):
            if not result.pending:
                write(result.text)
            else:
                # order matters: put the domains translated here back in their place
                lines = result.text.splitlines(keepends=True)
                for index, arch in result.pending:
                    if arch not in config.caps:
                        caps, _ = _cli._resolve_caps(args, arch)
                        config = config._replace(caps={**config.caps, arch or "x86_64": caps})
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
            progress.update(done)
    finally:
        progress.close()
    if args.output:
        from .files import atomic_write

        try:
            atomic_write(args.output, "".join(out).encode("utf-8"))
        except OSError as exc:
            raise _cli._FileError(f"cannot write '{args.output}': {exc.strerror}") from None
    else:
        sys.stdout.flush()
    sys.stderr.write(_summary(translated, refused, qemu))
    return 0 if not refused else 1
