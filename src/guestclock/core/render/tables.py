"""Tables for people: ``verify``'s asked/got report and ``matrix``'s QEMU-by-QEMU answer."""

from __future__ import annotations

from guestclock.core.matrix import MatrixRow
from guestclock.core.render.argv import shell_line
from guestclock.core.verify import VerifyReport

__all__ = ["matrix_table", "to_shell_words", "verify_table"]


def verify_table(report: VerifyReport) -> str:
    """asked / got, one row per check, and the verdict."""
    headers = ("check", "asked", "got", "result")
    table = [
        (row.what, row.asked, row.got, {True: "ok", False: "MISMATCH", None: "not checked"}[row.ok])
        for row in report.rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *table, strict=False)]
    lines = [f"QEMU {report.binary} under {report.accel.upper()}, paused"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for cells, row in zip(table, report.rows, strict=True):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if row.note:
            lines.append(f"    {row.note}")
    for note in report.notes:
        lines.append(f"note: {note}")
    bad = sum(1 for row in report.rows if row.ok is False)
    lines.append("verified: every checkable timer is as asked" if report.ok else f"MISMATCH: {bad} check(s) failed")
    return "\n".join(lines) + "\n"


def _label(row: MatrixRow) -> str:
    version = row.caps.version_string or "?"
    return f"{version} {row.caps.arch or '?'}"


def matrix_table(rows: list[MatrixRow]) -> str:
    """One line per QEMU: version and arch, runs/refused, then arguments or reasons."""
    width = max((len(_label(row)) for row in rows), default=10)
    lines = [f"{'QEMU':<{width}}  {'result':<7}  arguments / reason   (capability set)"]
    for row in rows:
        head = f"{_label(row):<{width}}  {'runs' if row.runs else 'REFUSED':<7}  "
        if row.argv is not None:
            command = to_shell_words(row)
            lines.append(f"{head}{command}   ({row.name})")
            lines.extend(f"{'':<{width}}  {'':<7}  warning: {warning}" for warning in row.warnings)
        else:
            lines.append(f"{head}{row.refusals[0]}   ({row.name})")
            lines.extend(f"{'':<{width}}  {'':<7}  {more}" for more in row.refusals[1:])
    runs = sum(1 for row in rows if row.runs)
    lines.append(f"runs on {runs} of {len(rows)} QEMU capability sets")
    return "\n".join(lines) + "\n"


def to_shell_words(row: MatrixRow) -> str:
    """The row's environment and arguments as one shell-quoted line (without a binary)."""
    return shell_line(row.env, row.argv or ()) or "(no arguments needed)"
