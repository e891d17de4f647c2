"""The libvirt side of the benchmark: a private libvirtd, timed through its API and virsh.

Run by bench/run.py as root, inside a private mount namespace, under Debian's
/usr/bin/python3 (that is where python3-libvirt lives)::

    unshare -m --propagation private -- /usr/bin/python3 bench/libvirt_side.py WORK SPEC.json OUT.json

Inside the namespace it bind-mounts directories of WORK over /etc/libvirt,
/run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt, and
private copies of /etc/passwd and /etc/group that add the ``libvirt-qemu`` user
and group Debian's libvirtd insists on (libvirt-daemon-system would create them;
the bench does not install it and does not touch the host's user database).
The private qemu.conf runs QEMU as root so that libvirt's capability probe can
open /dev/kvm. Nothing outside WORK is written; the namespace, its mounts and
libvirtd end with this process.

This file runs under the system Python, not the project's: standard library and
``libvirt`` only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

PRIVATE_DIRS = ("/etc/libvirt", "/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt")
SOCKET = "/run/libvirt/libvirt-sock"
URI = "qemu:///system"


def _mount_bind(source: Path, target: str) -> None:
    subprocess.run(["mount", "--bind", str(source), target], check=True)


def _private_user_db(work: Path) -> None:
    """/etc/passwd and /etc/group with libvirt-qemu added, visible in this namespace only."""
    for name, line in (
        ("passwd", "libvirt-qemu:x:{id}:{id}:Libvirt Qemu (bench, private):/var/lib/libvirt:/usr/sbin/nologin\n"),
        ("group", "libvirt-qemu:x:{id}:\n"),
    ):
        text = Path(f"/etc/{name}").read_text()
        if not any(entry.startswith("libvirt-qemu:") for entry in text.splitlines()):
            used = {entry.split(":")[2] for entry in text.splitlines() if entry.count(":") >= 3}
            ident = next(str(n) for n in range(64055, 65000) if str(n) not in used)
            text += line.format(id=ident)
        copy = work / name
        copy.write_text(text)
        _mount_bind(copy, f"/etc/{name}")


def setup(work: Path) -> None:
    for target in PRIVATE_DIRS:
        private = work / target.strip("/").replace("/", "_")
        private.mkdir(parents=True, exist_ok=True)
        if target == "/etc/libvirt" and os.path.isdir(target):
            shutil.copytree(target, private, dirs_exist_ok=True)
        _mount_bind(private, target)
    Path("/etc/libvirt/qemu.conf").write_text(
        '# written by guestclock bench/libvirt_side.py into a private /etc/libvirt\nuser = "root"\ngroup = "root"\n'
    )
    _private_user_db(work)


def start_libvirtd(work: Path) -> subprocess.Popen[bytes]:
    log = open(work / "libvirtd.log", "wb")  # noqa: SIM115 - handed to the child
    daemon = subprocess.Popen(
        ["libvirtd", "--pid-file", str(work / "libvirtd.pid")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not os.path.exists(SOCKET):
        if daemon.poll() is not None:
            raise RuntimeError(f"libvirtd exited with status {daemon.returncode}; see {work / 'libvirtd.log'}")
        if time.monotonic() > deadline:
            raise RuntimeError("libvirtd did not create its socket within 60 s")
        time.sleep(0.05)
    return daemon


def stop_libvirtd(daemon: subprocess.Popen[bytes]) -> None:
    if daemon.poll() is None:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def time_api(files: list[str], rounds: int) -> dict[str, object]:
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(URI)
    try:
        texts = [Path(name).read_text() for name in files]
        # the first call makes libvirtd probe QEMU (seconds); that is set-up, not translation
        warm_start = time.perf_counter()
        for text in texts[:5]:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainXMLToNative("qemu-argv", text, 0)
        warm_up = time.perf_counter() - warm_start
        samples: list[list[float]] = [[] for _ in files]
        errors: dict[str, str] = {}
        for _ in range(rounds):
            for index, text in enumerate(texts):
                start = time.perf_counter_ns()
                try:
                    conn.domainXMLToNative("qemu-argv", text, 0)
                except libvirt.libvirtError as exc:
                    errors[files[index]] = str(exc)
                samples[index].append((time.perf_counter_ns() - start) / 1e9)
        return {
            "per_domain": [statistics.median(times) for times in samples],
            "errors": errors,
            "warm_up_s": warm_up,
            "libvirt_version": conn.getLibVersion(),
            "qemu_version": conn.getVersion(),
        }
    finally:
        conn.close()


def time_virsh(files: list[str], reps: int) -> dict[str, object]:
    samples: list[list[float]] = [[] for _ in files]
    errors: dict[str, str] = {}
    for _ in range(reps):
        for index, name in enumerate(files):
            start = time.perf_counter_ns()
            done = subprocess.run(
                ["virsh", "-q", "-c", URI, "domxml-to-native", "qemu-argv", name],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
            samples[index].append((time.perf_counter_ns() - start) / 1e9)
            if done.returncode != 0:
                errors[name] = done.stderr.decode(errors="replace").strip()
    return {"per_domain": [statistics.median(times) for times in samples], "errors": errors}


def main() -> int:
    work, spec_path, out_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    spec = json.loads(spec_path.read_text())
    setup(work)
    daemon = start_libvirtd(work)
    result: dict[str, object] = {"libvirtd_pid": daemon.pid}
    try:
        result["api"] = time_api(spec["api_files"], spec["api_rounds"])
        result["virsh"] = time_virsh(spec["virsh_files"], spec["virsh_reps"])
    finally:
        stop_libvirtd(daemon)
        out_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
