"""Render a translation for programs and shells: one shell line, JSON, one argument per line."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from guestclock.core.model.argv import Translation

__all__ = ["shell_line", "to_json", "to_lines", "to_shell"]


def shell_line(env: Iterable[tuple[str, str]], words: Iterable[str]) -> str:
    """``NAME=value ... word ...``, every part quoted so that the shell reproduces it exactly."""
    return " ".join([*(f"{name}={shlex.quote(value)}" for name, value in env), *map(shlex.quote, words)])


def to_shell(translation: Translation, binary: str) -> str:
    """One shell line: environment assignments, the binary, then every argument, each quoted
    so that the shell hands QEMU exactly ``translation.argv``."""
    return shell_line(translation.environ.items(), [binary, *translation.argv])


def to_lines(translation: Translation) -> str:
    """One argument per line (the environment is not part of this format)."""
    return "".join(f"{word}\n" for word in translation.argv)


def to_json(translation: Translation, qemu: dict[str, object]) -> str:
    """``{"argv": [...], "env": {...}, "warnings": [...], "qemu": {...}}``."""
    import json

    return json.dumps(
        {
            "argv": translation.argv,
            "env": translation.environ,
            "warnings": list(translation.warnings),
            "qemu": qemu,
        },
        indent=2,
        sort_keys=False,
    )
