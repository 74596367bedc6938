"""The inventory as text: ``table`` for a terminal, ``markdown`` for a design doc, ``json``
for tooling (``schema.json``)."""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("table", "markdown", "json")


def render(inventory: dict[str, Any], format: str = "table") -> str:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {format!r}")
    if format == "json":
        return json.dumps(inventory, indent=2, sort_keys=True) + "\n"
    sections = _sections(inventory)
    if format == "markdown":
        return "\n".join(_markdown(title, header, rows) for title, header, rows in sections)
    return "\n".join(table(title, header, rows) for title, header, rows in sections)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _list(values: list[Any]) -> str:
    return ", ".join(str(v) for v in values) if values else "-"


def approval_words(rules: list[dict[str, Any]]) -> str:
    """``2 approvers (ar_1a2b...), when call.affected_rows > 50, expires in 24 h``."""
    if not rules:
        return "-"
    parts = []
    for rule in rules:
        text = f"{rule['approvers']} approver{'s' if rule['approvers'] != 1 else ''}"
        if rule["when"]:
            text += f" when {rule['when']}"
        text += f", expires in {_duration(rule['expires_in_seconds'])} [{rule['id']}]"
        parts.append(text)
    return "; ".join(parts)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _caps(caps: dict[str, Any]) -> str:
    parts = []
    if caps["rate_per_minute"] is not None:
        parts.append(f"{caps['rate_per_minute']}/min")
    parts += [f"burst {b}" for b in caps["bursts"]]
    parts += [f"budget {b}" for b in caps["budgets"]]
    if caps["held_over_rows"] is not None:
        parts.append(f"held over {caps['held_over_rows']} rows")
    return _list(parts)


def _sections(inv: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    writes = [
        [
            e["model"],
            e["tool"],
            _yes(e["allowed"]) + (" (propose)" if e["mode"] == "propose" else ""),
            _list(e["writable_fields"]),
            _yes(e["reason_required"]),
            approval_words(e["approval"]),
            _yes(e["idempotency_required"]),
            (e["preview_tool"] or "dry_run") if e["dry_run"] else "-",
            _caps(e["caps"]) if e["allowed"] else "-",
            _yes(e["reversible"]),
        ]
        for e in inv["writes"]
    ]
    tools = [
        [
            e["tool"],
            _yes(e["allowed"]) + (" (propose)" if e["mode"] == "propose" else ""),
            _list(e["inputs"]),
            _list(e["writes"]),
            _yes(e["reason_required"]),
            approval_words(e["approval"]),
            _yes(e["idempotency_required"]),
            _caps(e["caps"]),
            e["undo"] or "-",
        ]
        for e in inv["domain_tools"]
    ]
    reads = [
        [
            e["model"],
            _list(e["visible_fields"]),
            _list(e["masked_fields"]),
            _list(e["denied_fields"]),
            e["tenant_field"] or "-",
        ]
        for e in inv["reads"]
    ]
    budgets = [[b["id"], b["kind"], b["text"], b["on_exceed"]] for b in inv["budgets"]]
    sections = [
        (
            "Writes",
            [
                "model",
                "tool",
                "allowed",
                "writable fields",
                "reason",
                "approval",
                "idempotency key",
                "dry run",
                "caps",
                "reversible",
            ],
            writes,
        ),
    ]
    if tools:
        sections.append(
            (
                "Domain tools",
                [
                    "tool",
                    "allowed",
                    "inputs",
                    "writes",
                    "reason",
                    "approval",
                    "idempotency key",
                    "caps",
                    "undo",
                ],
                tools,
            )
        )
    sections.append(("Reads", ["model", "visible", "masked", "denied", "tenant field"], reads))
    if budgets:
        sections.append(("Budgets", ["id", "kind", "bound", "past it"], budgets))
    return sections


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"#### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

    out = [title, line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    return "\n".join(out) + "\n"
