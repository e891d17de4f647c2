"""A seeded generator of realistic libvirt domains for the benchmark.

The domains look like what virt-manager and virt-install write for Windows and
Linux guests on QEMU 7.2 (Debian 12): q35 or i440fx machine, virtio disks,
SPICE or VNC, a guest-agent channel, and the clock each profile uses.

* Windows profiles: ``offset='localtime'`` (or a zone, or a variable offset on a
  localtime basis), rtc catchup, pit delay, hpet no, hypervclock yes, Hyper-V
  enlightenments.
* Linux profiles: ``offset='utc'`` (also ``adjustment='reset'``), kvmclock,
  variable offsets on either basis, absolute start dates and time zones.

Every offset libvirt defines appears. The same seed gives the same bytes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_COUNT", "DEFAULT_SEED", "GeneratedDomain", "generate", "write_domains"]

DEFAULT_SEED = 20260
DEFAULT_COUNT = 10_000

_ZONES = (
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "UTC",
)
_WINDOWS = ("win10", "win11", "win2k19", "win2k22")
_LINUX = ("debian12", "ubuntu22.04", "rhel9", "fedora39", "alpine3.19", "archlinux")
_MACHINES = ("q35", "pc-q35-7.2", "pc", "pc-i440fx-7.2")


@dataclass(frozen=True)
class GeneratedDomain:
    """One generated domain: a file name, its profile and the XML bytes."""

    name: str
    profile: str
    offset: str
    xml: bytes


def _windows_clock(rng: random.Random) -> tuple[str, str]:
    timers = (
        "    <timer name='rtc' tickpolicy='catchup'/>\n"
        "    <timer name='pit' tickpolicy='delay'/>\n"
        "    <timer name='hpet' present='no'/>\n"
        "    <timer name='hypervclock' present='yes'/>\n"
    )
    roll = rng.random()
    if roll < 0.70:
        offset, attrs = "localtime", "offset='localtime'"
    elif roll < 0.85:
        offset, attrs = "timezone", f"offset='timezone' timezone='{rng.choice(_ZONES)}'"
    elif roll < 0.95:
        offset = "variable"
        attrs = f"offset='variable' adjustment='{rng.randrange(-86400, 86400)}' basis='localtime'"
    else:
        offset, attrs = "localtime", "offset='localtime' adjustment='reset'"
    return offset, f"  <clock {attrs}>\n{timers}  </clock>\n"


def _linux_clock(rng: random.Random) -> tuple[str, str]:
    kvmclock = rng.random() < 0.85
    timers = [
        "    <timer name='rtc' tickpolicy='catchup'/>\n",
        "    <timer name='pit' tickpolicy='delay'/>\n",
        "    <timer name='hpet' present='no'/>\n",
    ]
    if kvmclock:
        timers.append("    <timer name='kvmclock' present='yes'/>\n")
    roll = rng.random()
    if roll < 0.55:
        offset, attrs = "utc", "offset='utc'"
    elif roll < 0.60:
        offset, attrs = "utc", "offset='utc' adjustment='reset'"
    elif roll < 0.75:
        offset = "variable"
        basis = rng.choice(("utc", "localtime"))
        attrs = f"offset='variable' adjustment='{rng.randrange(-31_536_000, 31_536_000)}' basis='{basis}'"
    elif roll < 0.85:
        # a fixed start date between 2000 and 2037, as test rigs use
        offset, attrs = "absolute", f"offset='absolute' start='{rng.randrange(946_684_800, 2_145_916_800)}'"
    else:
        offset, attrs = "timezone", f"offset='timezone' timezone='{rng.choice(_ZONES)}'"
    if rng.random() < 0.25:  # older virt-install: a bare clock
        return offset, f"  <clock {attrs}/>\n"
    return offset, f"  <clock {attrs}>\n{''.join(timers)}  </clock>\n"


def _mac(rng: random.Random) -> str:
    return "52:54:00:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))


def _domain(rng: random.Random, index: int) -> GeneratedDomain:
    windows = rng.random() < 0.4
    os_name = rng.choice(_WINDOWS if windows else _LINUX)
    name = f"{os_name}-{index:05d}"
    offset, clock = _windows_clock(rng) if windows else _linux_clock(rng)
    machine = rng.choice(_MACHINES)
    q35 = "q35" in machine
    memory = rng.choice((1, 2, 4, 8, 16)) * 1024 * 1024
    vcpus = rng.choice((1, 2, 4, 8))
    features = "    <acpi/>\n    <apic/>\n"
    if windows:
        features += (
            "    <hyperv mode='custom'>\n"
            "      <relaxed state='on'/>\n"
            "      <vapic state='on'/>\n"
            "      <spinlocks state='on' retries='8191'/>\n"
            "    </hyperv>\n"
        )
    if q35:
        features += "    <vmport state='off'/>\n"
    cpu = rng.choice(
        (
            "  <cpu mode='host-passthrough' check='none' migratable='on'/>\n",
            "  <cpu mode='host-model' check='partial'/>\n",
            "  <cpu mode='custom' match='exact' check='none'>\n    <model fallback='forbid'>qemu64</model>\n  </cpu>\n",
        )
    )
    bus = "sata" if windows else "virtio"
    target = "sda" if windows else "vda"
    disk = (
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2' discard='unmap'/>\n"
        f"      <source file='/var/lib/libvirt/images/{name}.qcow2'/>\n"
        f"      <target dev='{target}' bus='{bus}'/>\n"
        "    </disk>\n"
    )
    if windows:
        disk += (
            "    <disk type='file' device='cdrom'>\n"
            "      <driver name='qemu' type='raw'/>\n"
            "      <target dev='sdb' bus='sata'/>\n"
            "      <readonly/>\n"
            "    </disk>\n"
        )
    graphics = rng.choice(
        (
            "    <graphics type='spice' autoport='yes'>\n      <listen type='address'/>\n    </graphics>\n",
            "    <graphics type='vnc' port='-1' autoport='yes'>\n      <listen type='address'/>\n    </graphics>\n",
        )
    )
    usb = "qemu-xhci" if q35 else "piix3-uhci"
    xml = (
        "<domain type='kvm'>\n"
        f"  <name>{name}</name>\n"
        f"  <uuid>{uuid.UUID(int=rng.getrandbits(128), version=4)}</uuid>\n"
        "  <metadata>\n"
        "    <libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>\n"
        f"      <libosinfo:os id='http://{'microsoft.com/win' if windows else 'libosinfo.org/linux'}/{os_name}'/>\n"
        "    </libosinfo:libosinfo>\n"
        "  </metadata>\n"
        f"  <memory unit='KiB'>{memory}</memory>\n"
        f"  <currentMemory unit='KiB'>{memory}</currentMemory>\n"
        f"  <vcpu placement='static'>{vcpus}</vcpu>\n"
        "  <os>\n"
        f"    <type arch='x86_64' machine='{machine}'>hvm</type>\n"
        "    <boot dev='hd'/>\n"
        "  </os>\n"
        f"  <features>\n{features}  </features>\n"
        f"{cpu}"
        f"{clock}"
        "  <on_poweroff>destroy</on_poweroff>\n"
        "  <on_reboot>restart</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <pm>\n"
        "    <suspend-to-mem enabled='no'/>\n"
        "    <suspend-to-disk enabled='no'/>\n"
        "  </pm>\n"
        "  <devices>\n"
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
        f"{disk}"
        f"    <controller type='usb' index='0' model='{usb}'/>\n"
        "    <controller type='virtio-serial' index='0'/>\n"
        "    <interface type='bridge'>\n"
        f"      <mac address='{_mac(rng)}'/>\n"
        "      <source bridge='br0'/>\n"
        f"      <model type='{'e1000e' if windows else 'virtio'}'/>\n"
        "    </interface>\n"
        "    <serial type='pty'>\n"
        "      <target port='0'/>\n"
        "    </serial>\n"
        "    <console type='pty'>\n"
        "      <target type='serial' port='0'/>\n"
        "    </console>\n"
        "    <channel type='unix'>\n"
        "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
        "    </channel>\n"
        "    <input type='tablet' bus='usb'/>\n"
        "    <input type='mouse' bus='ps2'/>\n"
        "    <input type='keyboard' bus='ps2'/>\n"
        f"{graphics}"
        "    <video>\n"
        f"      <model type='{'qxl' if windows else 'virtio'}' heads='1' primary='yes'/>\n"
        "    </video>\n"
        "    <memballoon model='virtio'/>\n"
        "    <rng model='virtio'>\n"
        "      <backend model='random'>/dev/urandom</backend>\n"
        "    </rng>\n"
        "  </devices>\n"
        "</domain>\n"
    )
    return GeneratedDomain(
        name=f"{name}.xml", profile="windows" if windows else "linux", offset=offset, xml=xml.encode()
    )


def generate(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> Iterator[GeneratedDomain]:
    """``count`` domains; the same ``seed`` gives the same domains in the same order."""
    rng = random.Random(seed)
    for index in range(count):
        yield _domain(rng, index)


def write_domains(directory: Path, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[GeneratedDomain]:
    """Write ``count`` generated domains into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    domains = list(generate(count, seed))
    for domain in domains:
        (directory / domain.name).write_bytes(domain.xml)
    return domains
