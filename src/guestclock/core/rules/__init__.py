"""Rules as data: what each platform, QEMU release and peer project does."""
