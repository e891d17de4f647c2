"""QEMU knowledge as tables: platforms, option history, timer rules, era spellings."""
