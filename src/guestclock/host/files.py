"""Writing files so that a crash, a kill or a full disk never leaves half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["OutputFile", "atomic_write", "read_input"]


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputFile:
    """Where ``--output`` writes, by what the path is; used as a context manager, written with
    :meth:`write` as text comes (nothing is held in memory), committed on a clean exit.

    ===========================  ====================================================
    the path is                  what happens
    ===========================  ====================================================
    ``-``                        standard output
    a regular file               a temporary file beside it, renamed over it at the end
                                 (its mode and owner kept); an interrupted run leaves
                                 the old file and no temporary
    a symlink                    followed: its target is written that way, in the
                                 target's folder (the link stays a link)
    a character device, FIFO,    written in place, never replaced (``/dev/stdout``,
    socket                       ``/dev/null``, a pipe)
    missing                      created the same way as a regular file, with the
                                 usual mode under the process umask
    a directory                  an :class:`~guestclock.errors.InputError`
    one of ``inputs``            an :class:`~guestclock.errors.InputError` (same device
                                 and inode): the input is never overwritten
    ===========================  ====================================================
    """

    def __init__(self, path: str, *, inputs: tuple[str, ...] = ()) -> None:
        import stat

        from guestclock.errors import InputError

        self.path = path
        self._fd: int | None = None
        self._tmp: str | None = None
        self._target: str | None = None
        self._keep: os.stat_result | None = None
        self._stdout = path == "-"
        if self._stdout:
            return
        try:
            info: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise InputError(f"cannot write '{path}': {exc.strerror}", subject=path) from None
        if info is not None:
            if stat.S_ISDIR(info.st_mode):
                raise InputError(f"cannot write '{path}': it is a directory", subject=path)
            for name in inputs:
                if name == "-":
                    continue
                try:
                    other = os.stat(name)
                except OSError:
                    continue
                if (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino):
                    raise InputError(f"--output {path} is one of the inputs", subject=path)
        try:
            if info is not None and not stat.S_ISREG(info.st_mode):
                # a device, FIFO or socket: written in place, never replaced
                self._fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                return
            self._target = os.path.realpath(path)
            self._keep = info
            fd, self._tmp = tempfile.mkstemp(prefix=".guestclock-", dir=os.path.dirname(self._target))
            self._fd = fd
        except OSError as exc:
            raise InputError(f"cannot write '{path}': {exc.strerror}", subject=path) from None

    def write(self, text: str) -> None:
        """Write ``text`` (UTF-8)."""
        import sys

        from guestclock.errors import InputError

        if self._stdout:
            sys.stdout.write(text)
            return
        assert self._fd is not None
        data = memoryview(text.encode("utf-8"))
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError as exc:
            raise InputError(f"cannot write '{self.path}': {exc.strerror}", subject=self.path) from None

    def commit(self) -> None:
        """Finish: flush, and for a file rename the temporary over the target."""
        import sys

        from guestclock.errors import InputError

        if self._stdout:
            sys.stdout.flush()
            return
        fd, tmp = self._fd, self._tmp
        self._fd = None
        if fd is None:
            return
        try:
            if tmp is None:
                os.close(fd)
                return
            os.fsync(fd)
            keep = self._keep
            if keep is not None:
                os.fchmod(fd, keep.st_mode & 0o7777)
                if (keep.st_uid, keep.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, keep.st_uid, keep.st_gid)
            else:
                os.fchmod(fd, 0o666 & ~_umask())
            os.close(fd)
            assert self._target is not None
            os.replace(tmp, self._target)
            self._tmp = None
        except OSError as exc:
            self.abort()
            raise InputError(f"cannot write '{self.path}': {exc.strerror}", subject=self.path) from None

    def abort(self) -> None:
        """Give up: close, remove the temporary (the target is untouched)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()
