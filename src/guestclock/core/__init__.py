"""The pure core: model, rules, readers, translation; no I/O."""
