"""Writing files so that a crash, a kill or a full disk never leaves half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["atomic_write", "read_input"]


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` all at once: a temporary file beside it, fsync, rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".guestclock-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_input(path: str, limit: int) -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most ``limit`` + 1 of them (so a caller
    can tell a file over the limit); an InputError names a file that cannot be read."""
    import stat
    import sys

    from guestclock.errors import InputError

    try:
        if path == "-":
            return sys.stdin.buffer.read(limit + 1)
        with open(path, "rb") as handle:
            # read(n) allocates n bytes up front: ask a regular file for its size
            # (+1, in case it grew), not for the limit every time
            info = os.fstat(handle.fileno())
            size = min(info.st_size + 1, limit + 1) if stat.S_ISREG(info.st_mode) else limit + 1
            return handle.read(size)
    except OSError as exc:
        raise InputError(f"cannot read '{path}': {exc.strerror}", subject=path) from None
