"""The pure core: model, rules, readers, translation, comparison and renderers (no I/O)."""
