"""Run one QEMU process and talk QMP to it (the edge shared by the probe and ``verify``).

QEMU is started in its own process group with a QMP monitor that connects, as a
client, to a unix socket guestclock already listens on inside a private temporary
folder (mode 0700). Listening first means there is no race and no polling for a
socket file: the connection is there as soon as QEMU has parsed its options, and a
QEMU that dies first is seen at once. Whatever happens (an answer, an error, a
timeout, a cancellation) the process group is killed, the socket closed and the
folder removed.

The library never prints: qemu.qmp's log records go to a NullHandler unless the
application configures logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from qemu.qmp import ExecuteError, Message, QMPClient

__all__ = [
    "QEMUExited",
    "QMPBroken",
    "execute_all",
    "kill_group",
    "qmp_session",
    "run_qmp",
]

logging.getLogger("qemu.qmp").addHandler(logging.NullHandler())

T = TypeVar("T")
_OUTPUT_LIMIT = 64 * 1024


class _Client(QMPClient):
    """qemu.qmp's client without the eager pretty-printing of every message.

    qemu.qmp's message hooks format each message as indented JSON for a debug log
    line even when nobody listens; for the probe's ~40 kB of answers that is ~8 ms,
    a third of QEMU's own start-up. The hooks exist for subclasses to override.
    """

    def _cb_outbound(self, msg: Message) -> Message:
        if self.logger.isEnabledFor(logging.DEBUG):
            return super()._cb_outbound(msg)
        return msg

    def _cb_inbound(self, msg: Message) -> Message:
        if self.logger.isEnabledFor(logging.DEBUG):
            return super()._cb_inbound(msg)
        return msg


class QEMUExited(Exception):
    """QEMU ended before the conversation was over (internal; callers turn it into their error)."""

    def __init__(self, returncode: int | None, output: str) -> None:
        super().__init__(f"QEMU exited with status {returncode}")
        self.returncode = returncode
        self.output = output

    def describe(self) -> str:
        """``exited with status 1`` / ``was killed by signal 11 (SIGSEGV)``, plus QEMU's last words."""
        code = self.returncode
        if code is not None and code < 0:
            try:
                name = f" ({signal.Signals(-code).name})"
            except ValueError:
                name = ""
            text = f"was killed by signal {-code}{name}"
        else:
            text = f"exited with status {code}"
        line = self.last_line()
        return f"{text}: {line}" if line else text

    def last_line(self) -> str:
        """QEMU's last non-empty output line, made printable and short."""
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        if not lines:
            return ""
        line = "".join(ch if ch.isprintable() else "?" for ch in lines[-1])
        return line if len(line) <= 200 else line[:197] + "..."


class QMPBroken(Exception):
    """QEMU connected but did not speak QMP (internal)."""


@dataclass
class _Process:
    """QEMU started with ``subprocess.Popen``; ``exited`` resolves when it ends.

    Popen plus a pidfd watched by the event loop costs ~1 ms where asyncio's
    subprocess machinery (pipes, transports, a waiter thread) costs ~4 ms to
    start and ~2 ms to reap: together a quarter of a cold probe.
    """

    proc: subprocess.Popen[bytes]
    log_path: str
    exited: asyncio.Future[None]
    pidfd: int

    def output(self) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read(_OUTPUT_LIMIT).decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()


def _start(binary: str, argv: Sequence[str], log_path: str, env: Mapping[str, str] | None) -> _Process:
    loop = asyncio.get_running_loop()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [binary, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    exited: asyncio.Future[None] = loop.create_future()
    pidfd = os.pidfd_open(proc.pid)

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_exit)
    return _Process(proc, log_path, exited, pidfd)


def _stop(process: _Process) -> None:
    """Kill QEMU's process group, reap QEMU, release the pidfd."""
    kill_group(process.proc.pid)
    with contextlib.suppress(Exception):
        process.proc.wait()
    with contextlib.suppress(Exception):
        asyncio.get_running_loop().remove_reader(process.pidfd)
    os.close(process.pidfd)


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (QEMU and anything it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def qmp_session(
    binary: str,
    args: Sequence[str],
    script: Callable[[QMPClient], Awaitable[T]],
    *,
    env: Mapping[str, str] | None = None,
) -> T:
    """Start ``binary args... -chardev/-mon`` (QMP), run ``script`` on the connected
    client, then ``quit``. Raises :class:`QEMUExited` when QEMU ends early and
    :class:`QMPBroken` when it does not speak QMP; no time limit of its own (wrap
    it in :func:`asyncio.wait_for`), and cancellation cleans up like any exit."""
    folder = tempfile.mkdtemp(prefix="guestclock-")
    listener: socket.socket | None = None
    process: _Process | None = None
    client: QMPClient | None = None
    try:
        path = os.path.join(folder, "qmp.sock")
        log_path = os.path.join(folder, "qemu.log")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listener.setblocking(False)
        monitor = ["-chardev", f"socket,id=guestclock-qmp,path={path}", "-mon", "chardev=guestclock-qmp,mode=control"]
        try:
            process = _start(binary, [*args, *monitor], log_path, env)
        except OSError as exc:
            raise QEMUExited(None, f"cannot run it: {exc.strerror}") from None
        loop = asyncio.get_running_loop()
        accept = asyncio.ensure_future(loop.sock_accept(listener))
        exited = process.exited
        try:
            waiters: set[asyncio.Future[Any]] = {accept, exited}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not accept.done():
                accept.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await accept
        if not accept.done() or accept.cancelled():
            await exited
            raise QEMUExited(process.proc.wait(), process.output())
        connection, _address = accept.result()
        listener.close()
        listener = None
        client = _Client(os.path.basename(binary))
        try:
            await client.connect(connection)
        except Exception as exc:
            connection.close()
            if await _ended(process):
                raise QEMUExited(process.returncode, process.output()) from None
            raise QMPBroken(f"no QMP greeting ({type(exc).__name__})") from None
        try:
            result = await script(client)
        except QMPBroken:
            if await _ended(process):
                raise QEMUExited(process.returncode, process.output()) from None
            raise
        # QEMU is paused (-S) and has nothing to save: SIGKILL in the finally clause ends
        # it at once, where an orderly 'quit' costs a few ms of QEMU's shutdown
        return result
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()
        if listener is not None:
            listener.close()
        if process is not None:
            _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


async def _ended(process: _Process, grace: float = 1.0) -> bool:
    """True when QEMU has ended or ends within ``grace`` seconds (then it is reaped)."""
    try:
        await asyncio.wait_for(asyncio.shield(process.exited), grace)
    except TimeoutError:
        return False
    process.proc.wait()
    return True


async def execute_all(
    client: QMPClient, requests: Sequence[tuple[str, dict[str, object] | None]]
) -> list[tuple[dict[str, object], dict[str, object]]]:
    """Send all ``requests`` at once (QMP answers in order) and pair each with its
    response message: ``{"return": ...}`` or ``{"error": {"class", "desc"}}``."""

    async def one(command: str, arguments: dict[str, object] | None) -> dict[str, object]:
        try:
            return {"return": await client.execute(command, arguments)}
        except ExecuteError as exc:
            return {"error": {"class": exc.error_class, "desc": str(exc)}}
        except Exception as exc:
            raise QMPBroken(f"{command}: {type(exc).__name__}") from None

    responses = await asyncio.gather(*(one(command, arguments) for command, arguments in requests))
    pairs: list[tuple[dict[str, object], dict[str, object]]] = []
    for (command, arguments), response in zip(requests, responses, strict=True):
        request: dict[str, object] = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        pairs.append((request, response))
    return pairs


def run_qmp(
    binary: str,
    args: Sequence[str],
    script: Callable[[QMPClient], Awaitable[T]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> T:
    """:func:`qmp_session` with a time limit; raises :class:`TimeoutError` when it passes."""

    async def bounded() -> T:
        return await asyncio.wait_for(qmp_session(binary, args, script, env=env), timeout)

    return asyncio.run(bounded())
