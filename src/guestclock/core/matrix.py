"""Whether one clock runs on each of several QEMUs, and with which arguments (pure).

The question an operator asks before moving a guest to another host; the folder of
capability sets is read by :mod:`guestclock.workflows.matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass

from guestclock.core.model.argv import Now
from guestclock.core.model.caps import Capabilities
from guestclock.core.model.domain import Domain
from guestclock.core.translate import translate
from guestclock.errors import UnsupportedConfigError

__all__ = ["MatrixRow", "matrix_rows"]


@dataclass(frozen=True)
class MatrixRow:
    """One capability set and what the clock becomes there."""

    name: str
    caps: Capabilities
    argv: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    refusals: tuple[str, ...]

    @property
    def runs(self) -> bool:
        """True when the clock translates for this QEMU."""
        return self.argv is not None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready row."""
        return {
            "name": self.name,
            "source": self.caps.source,
            "version": self.caps.version_string,
            "arch": self.caps.arch,
            "runs": self.runs,
            "argv": None if self.argv is None else list(self.argv),
            "env": dict(self.env),
            "warnings": list(self.warnings),
            "refusals": list(self.refusals),
        }


def matrix_rows(domain: Domain, sets: list[tuple[str, Capabilities]], now: Now | None) -> list[MatrixRow]:
    """Translate ``domain`` for each capability set."""
    rows: list[MatrixRow] = []
    for name, caps in sets:
        try:
            translation = translate(domain, caps, now)
        except UnsupportedConfigError as refusal:
            rows.append(
                MatrixRow(
                    name=name,
                    caps=caps,
                    argv=None,
                    env=(),
                    warnings=(),
                    refusals=tuple(str(each) for each in refusal.refusals),
                )
            )
            continue
        rows.append(
            MatrixRow(
                name=name,
                caps=caps,
                argv=tuple(translation.argv),
                env=tuple(translation.environ.items()),
                warnings=translation.warnings,
                refusals=(),
            )
        )
    return rows
