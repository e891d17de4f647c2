"""Render a translation for people and programs: shell, JSON, lines, explanation."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable

from .errors import UnsupportedConfigError
from .translation import Translation

__all__ = ["explain_refusals", "explain_translation", "shell_line", "to_json", "to_lines", "to_shell"]


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


def explain_translation(translation: Translation) -> str:
    """Each argument beside the XML element that produced it."""
    lines: list[str] = []
    for name, value, origin in translation.env:
        lines.append(f"env {name}={value}")
        lines.append(f"    {name}={value:<28} <- {origin}")
    for option in translation.options:
        lines.append(" ".join(shlex.quote(word) for word in option.words))
        if option.origin is not None:
            need = f"  [needs {option.capability.value}]" if option.capability else ""
            lines.append(f"    {option.name:<32} <- {option.origin}{need}")
        for part in option.parts:
            need = f"  [needs {part.capability.value}]" if part.capability else ""
            lines.append(f"    {part.text:<32} <- {part.origin}{need}")
    for warning in translation.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines) + "\n"


def explain_refusals(error: UnsupportedConfigError) -> str:
    """Each refusal with the element it concerns and the capability that was missing."""
    lines = []
    for refusal in error.refusals:
        where = f" (line {refusal.line})" if refusal.line is not None else ""
        missing = (
            f"; this QEMU lacks capability '{refusal.capability}'"
            if refusal.capability
            else "; no QEMU implements this"
        )
        lines.append(f"refused: {refusal}{where}{missing}")
    return "\n".join(lines) + "\n"
