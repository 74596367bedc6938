"""``ShadowReport``: the calls whose verdict a candidate policy changes, grouped by change and
rule, with counts and examples; as JSON, Markdown or a plain table."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_EXAMPLES = 3


def rule_of(verdict: dict[str, Any]) -> str:
    """What says so: the refusal's rule (or code), the hold's rule ids (or its reasons)."""
    if verdict.get("verdict") == "held":
        ids = verdict.get("rule_ids") or []
        return ", ".join(ids) if ids else "; ".join(verdict.get("why_held") or []) or "held"
    return verdict.get("rule") or verdict.get("code") or ""


def example_of(event: Any) -> dict[str, Any]:
    return {
        "audit_id": event.id,
        "created_at": event.created_at.isoformat(),
        "tool": event.tool,
        "model": event.model,
        "principal": event.principal,
        "tenant_id": event.tenant_id,
    }


@dataclass
class ShadowReport:
    """What ``source`` (a candidate policy, or the recorded shadow) would change."""

    source: str
    since: str
    mode: str  # "replay" or "recorded"
    compared: int = 0
    unchanged: int = 0
    skipped: Counter = field(default_factory=Counter)
    # (from, to, rule, code) -> count and examples
    changes: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    # Calls the candidate couldn't decide (a row gone since, say): code -> count
    undecided: Counter = field(default_factory=Counter)

    def add(self, event: Any, live: dict[str, Any], candidate: dict[str, Any]) -> None:
        if live["verdict"] == "error":
            # The call itself failed (malformed, a row not found): no policy decided it.
            self.skipped["calls that failed live"] += 1
            return
        self.compared += 1
        if candidate["verdict"] == "error":
            self.undecided[candidate.get("code") or "error"] += 1
            return
        same = live["verdict"] == candidate["verdict"] and (
            live["verdict"] != "denied" or live.get("code") == candidate.get("code")
        )
        if same:
            self.unchanged += 1
            return
        # A call the candidate lets through is named by the live rule that stopped it.
        says = candidate if candidate["verdict"] in ("denied", "held") else live
        key = (live["verdict"], candidate["verdict"], rule_of(says), says.get("code", ""))
        entry = self.changes.setdefault(key, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < MAX_EXAMPLES:
            entry["examples"].append(example_of(event))

    @property
    def changed(self) -> int:
        return sum(entry["count"] for entry in self.changes.values())

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON data (the schema of ``--format json``)."""
        return {
            "source": self.source,
            "mode": self.mode,
            "since": self.since,
            "compared": self.compared,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "changes": [
                {"from": f, "to": t, "rule": rule, "code": code, **entry}
                for (f, t, rule, code), entry in sorted(
                    self.changes.items(), key=lambda item: -item[1]["count"]
                )
            ],
            "undecided": dict(self.undecided),
            "skipped": dict(self.skipped),
        }

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def _rows(self) -> list[list[str]]:
        return [
            [
                f"{c['from']} -> {c['to']}",
                c["rule"],
                c["code"],
                str(c["count"]),
                ", ".join(e["audit_id"] for e in c["examples"]),
            ]
            for c in self.as_dict()["changes"]
        ]

    def summary(self) -> str:
        text = (
            f"{self.source} ({self.mode}, since {self.since}): {self.compared} calls compared, "
            f"{self.changed} would change, {self.unchanged} unchanged"
        )
        if self.undecided:
            text += f", {sum(self.undecided.values())} undecided ({dict(self.undecided)})"
        if self.skipped:
            text += f"; skipped: {dict(self.skipped)}"
        return text

    def as_markdown(self) -> str:
        lines = [self.summary(), ""]
        if self.changes:
            lines += [
                "| change | rule | code | calls | examples |",
                "|---|---|---|---|---|",
                *(f"| {' | '.join(row)} |" for row in self._rows()),
            ]
        else:
            lines.append("No call would change.")
        return "\n".join(lines) + "\n"

    def as_table(self) -> str:
        header = ["change", "rule", "code", "calls", "examples"]
        rows = self._rows()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        out = [self.summary(), ""]
        for row in [header, *rows]:
            cells = zip(row, widths, strict=True)
            out.append("  ".join(cell.ljust(width) for cell, width in cells).rstrip())
        if not rows:
            out.append("No call would change.")
        return "\n".join(out) + "\n"
