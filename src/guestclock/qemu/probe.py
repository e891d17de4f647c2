"""Ask a QEMU binary what it can do (the edge that runs processes).

:func:`guestclock.probe.probe_binary` is the entry point: a cached answer if the binary
is unchanged (:mod:`guestclock.probe.cache`), else :func:`probe_qmp`: QEMU is started
with no machine (``-machine none -nodefaults -display none -S -no-user-config``)
and asked over QMP what :mod:`guestclock.core.read.qmp` plans; ``BINARY -help`` runs
beside it, because options such as ``-no-hpet`` are not visible over QMP. A QEMU
without QMP (0.9-1.x) exits at once on the monitor options; its ``-help`` text is
then the answer (:func:`probe_help`): the pure
:func:`guestclock.helpparse.parse_help` reads it, and for a QMP-era binary the CPU
and device properties come from the version's option history, which the result
says.

Every failure is one :class:`~guestclock.errors.ProbeError` within the time
limit, and no process, socket or temporary file survives it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import replace

from qemu.qmp import QMPClient

from guestclock.core.model.caps import Capabilities
from guestclock.core.read.helptext import parse_help
from guestclock.core.rules.history import caps_for_version
from guestclock.core.rules.platform import arch_of_binary_name, target_of_arch
from guestclock.errors import CapabilityError, ProbeError
from guestclock.host.binaries import DEFAULT_TIMEOUT, check_binary
from guestclock.qemu.process import QEMUExited, QMPBroken, execute_all, kill_group, qmp_session

__all__ = [
    "DEFAULT_TIMEOUT",
    "PROBE_ARGS",
    "probe_help",
    "probe_qmp",
    "run_help",
]

#: how the probe starts QEMU: no machine, no devices, no config file, paused
PROBE_ARGS = ("-machine", "none", "-nodefaults", "-display", "none", "-S", "-no-user-config")
_HELP_ENV_KEYS = ("PATH",)


#: parse_help refuses more than this; keep no more of a runaway output
_HELP_LIMIT = 4 * 1024 * 1024


def _help_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def _run_help(path: str, timeout: float) -> tuple[int, str]:
    """Run ``path -help`` in its own process group: its exit status and output.

    Raises OSError when it cannot be started and subprocess.TimeoutExpired when it
    does not finish in time; either way no process of the group is left behind.
    """
    proc = subprocess.Popen(
        [path, "-help"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_help_env(),
        start_new_session=True,
    )
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        # the whole group: a wrapper script's children too
        kill_group(proc.pid)
        proc.kill()
        proc.wait()
    return proc.returncode, stdout[: _HELP_LIMIT + 1].decode("utf-8", "replace")


def run_help(path: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The ``-help`` output of ``path`` (bounded in time; no process is left behind)."""
    check_binary(path)
    try:
        returncode, text = _run_help(path, timeout)
    except OSError as exc:
        raise ProbeError(f"cannot run QEMU binary '{path}': {exc.strerror}", subject=path) from None
    except subprocess.TimeoutExpired:
        raise ProbeError(f"QEMU binary '{path}' did not answer -help within {timeout:g} s", subject=path) from None
    if returncode < 0:
        raise ProbeError(f"QEMU binary '{path}' was killed by signal {-returncode}", subject=path)
    return text


def probe_help(path: str, timeout: float = DEFAULT_TIMEOUT) -> Capabilities:
    """Capabilities of ``path`` from its ``-help`` text."""
    return _caps_from_help(path, run_help(path, timeout))


def _caps_from_help(path: str, text: str) -> Capabilities:
    arch = arch_of_binary_name(path)
    try:
        info = parse_help(text, arch=arch, source=f"help:{path}")
    except CapabilityError as exc:
        raise ProbeError(f"'{path}' is not QEMU: {exc.message}", subject=path) from None
    caps = info.capabilities
    if info.version >= (1, 2, 0):
        # QMP-era QEMU: -help does not show device or CPU properties
        history = caps_for_version(info.version, arch)
        caps = Capabilities(
            caps=caps.caps | history.caps,
            source=caps.source,
            version=info.version,
            arch=arch,
            estimated=True,
            default_machine=history.default_machine,
            notes=(
                f"'{path}' was read through -help only; device and CPU properties are "
                f"estimated from QEMU {'.'.join(map(str, info.version))}'s option history",
            ),
        )
    return caps


_Conversation = list[tuple[dict[str, object], dict[str, object]]]


async def _qmp_conversation(path: str) -> _Conversation:
    from guestclock.core.read.qmp import answers_from_conversation, first_round, second_round

    async def script(client: QMPClient) -> _Conversation:
        guess = arch_of_binary_name(path)
        target = target_of_arch(guess)
        pairs = await execute_all(client, first_round(target))
        more = second_round(answers_from_conversation(pairs))
        if more:
            pairs += await execute_all(client, more)
        return pairs

    return await qmp_session(path, PROBE_ARGS, script, env=_help_env())


def probe_qmp(path: str, timeout: float = DEFAULT_TIMEOUT) -> Capabilities:
    """Capabilities of ``path`` asked over QMP (``-help`` beside it for plain options);
    a binary without QMP is read through its ``-help`` text alone."""
    from guestclock.core.read.qmp import answers_from_conversation, caps_from_answers

    check_binary(path)

    # A QMP-era binary answers everything the translation needs over QMP; the few
    # plain options QMP cannot show (-no-hpet, ...) follow from the version, as
    # caps_from_answers notes. Only a binary that does not speak QMP (0.9-1.x, or
    # not QEMU) is asked for -help: running both at once cost 2-10 ms of CPU on a
    # two-core host, a third of the probe.
    too_slow = ProbeError(
        f"QEMU binary '{path}' did not answer within {timeout:g} s (QMP and -help); "
        "it was stopped. Is it QEMU? (--timeout sets the limit)",
        subject=path,
    )
    deadline = time.monotonic() + timeout

    async def bounded() -> _Conversation:
        return await asyncio.wait_for(_qmp_conversation(path), timeout)

    conversation: _Conversation | BaseException
    try:
        conversation = asyncio.run(bounded())
    except TimeoutError:
        raise too_slow from None
    except Exception as exc:
        conversation = exc
    if isinstance(conversation, list):
        try:
            return caps_from_answers(answers_from_conversation(conversation), source=f"qmp:{path}")
        except CapabilityError as exc:
            raise ProbeError(f"'{path}' is not QEMU: {exc.message}", subject=path) from None
    help_text: str | None = None
    try:
        returncode, text = _run_help(path, max(0.0, deadline - time.monotonic()))
        if returncode == 0:
            help_text = text
    except subprocess.TimeoutExpired:
        raise too_slow from None
    except OSError:
        pass
    # no QMP conversation: an old QEMU without QMP, or not QEMU at all
    why = _describe_failure(conversation)
    if help_text is None:
        raise ProbeError(
            f"'{path}' is not a working QEMU: it {why} before answering QMP, and '-help' printed nothing",
            subject=path,
        )
    try:
        caps = _caps_from_help(path, help_text)
    except ProbeError:
        raise ProbeError(
            f"'{path}' is not QEMU: it {why} before answering QMP, and its -help output has no "
            "'QEMU emulator version X.Y.Z' line",
            subject=path,
        ) from None
    if caps.version is not None and caps.version >= (1, 2, 0):
        caps = replace(caps, notes=(*caps.notes, f"the QMP probe failed: QEMU {why}"))
    return caps


def _describe_failure(error: object) -> str:
    if isinstance(error, QEMUExited):
        return error.describe()
    if isinstance(error, QMPBroken):
        return f"did not speak QMP ({error})"
    return f"could not be asked over QMP ({type(error).__name__}: {error})"
