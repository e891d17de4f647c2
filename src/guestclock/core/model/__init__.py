"""The values: the libvirt domain side, the QEMU capabilities, the emitted options."""
