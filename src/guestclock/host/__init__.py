"""The host: files, the clock and time zone, /dev/kvm."""
