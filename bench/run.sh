#!/usr/bin/env bash
# One command for the benchmark on a fresh Debian 12 machine: install what it compares
# against (QEMU 7.2, libvirt 9.0 with its Python binding for Debian's python3), install
# guestclock, run bench/run.py. Extra arguments go to bench/run.py (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  need=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  command -v libvirtd >/dev/null || need+=(libvirt-daemon libvirt-daemon-driver-qemu)
  command -v virsh >/dev/null || need+=(libvirt-clients)
  /usr/bin/python3 -c 'import libvirt' 2>/dev/null || need+=(python3-libvirt)
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
python3 -m pip install -q -e .
exec python3 bench/run.py "$@"
