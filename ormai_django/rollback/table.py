"""The rollback's row-by-row table as text, for the command line (and anything that prints)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

COLUMNS = ("model", "pk", "action", "field", "current", "restored", "conflict")
MAX_CELL = 40


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def render_table(lines: list[dict[str, Any]], truncated: bool = False) -> str:
    """A fixed-width table with one line per row and field (``truncated``: lines were left
    out of the result)."""
    shown = lines
    cells = [[cell(line.get(column)) for column in COLUMNS] for line in shown]
    widths = [
        max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(COLUMNS)
    ]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    if truncated:
        out.append("... more lines not shown; --max-rows 0 shows them all")
    return "\n".join(out)


def conflict_lines(conflicts: list[dict[str, Any]]) -> list[str]:
    """One sentence per conflict: which row, which field, what the write left, what is there."""
    out = []
    for c in conflicts:
        where = f"{c['model']} {c['pk']}"
        if c.get("field") is None:
            out.append(f"{where}: {c.get('problem', 'conflict')} (from {c['audit_id']})")
        else:
            out.append(
                f"{where}.{c['field']}: the write left {json.dumps(c.get('expected'), default=str)}"
                f", now {json.dumps(c.get('current'), default=str)} (from {c['audit_id']})"
            )
    return out


def table_lines(steps: Iterable[Any], max_lines: int | None) -> tuple[list[dict], bool]:
    """The table of the rollback, one line per row and field, at most ``max_lines``; and
    whether lines were left out."""
    lines: list[dict[str, Any]] = []
    for step in steps:
        if max_lines is not None and len(lines) > max_lines:
            break
        # One line more than fits, to know whether lines were left out.
        lines += step.lines(None if max_lines is None else max_lines + 1 - len(lines))
    if max_lines is not None and len(lines) > max_lines:
        return lines[:max_lines], True
    return lines, False
