"""``explain``: each argument beside the XML element that produced it, or each refusal and its cause."""

from __future__ import annotations

import shlex

from guestclock.core.model.argv import Translation
from guestclock.errors import UnsupportedConfigError

__all__ = ["explain_refusals", "explain_translation"]


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
