"""The only code that starts QEMU: processes, QMP sessions, read-back of timer devices."""
