"""The edges that touch the host: files, the clock, installed data, /dev/kvm."""
