"""The bench's results as one JSON-ready dict, and that dict as a text table or markdown.

``collect`` gathers what ``run_bench`` and ``run_tiers`` measured, the targets each met or
missed (the issue's floor targets among them) and the machine; ``render_table`` and
``render_markdown`` print it; ``--format json`` prints the dict itself.
"""

from __future__ import annotations

from typing import Any

from sandbox_project.shop.bench.floor import LIBRARY as FLOOR_LIBRARY
from sandbox_project.shop.bench.machine import machine_lines
from sandbox_project.shop.bench.tiers import (
    FLAT_MEMORY,
    LINEAR_GROWTH,
    TierRun,
    growth,
    memory_growth,
)

SINGLE_UPDATE_FLOOR = 1.5
BUDGETS_STATEMENTS_FLOOR = 6
MIB = 1024 * 1024


def _status(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return "ok" if value <= target else "MISSED"


def _tier_cases(tiers: TierRun) -> list[dict[str, Any]]:
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    for r in tiers.results:
        entry = cases.setdefault(
            (r.case.library, r.case.name),
            {
                "name": r.case.name,
                "library": r.case.library,
                "baseline": r.case.baseline,
                "tiers": {},
                "skipped": {},
            },
        )
        entry["tiers"][str(r.case.rows)] = {
            "rows": r.case.rows,
            "rounds": r.rounds,
            "bare_ms": r.bare_seconds * 1000,
            "tool_ms": r.tool_seconds * 1000,
            "ratio": r.ratio,
            "ratio_p25": r.ratio_p25,
            "ratio_p75": r.ratio_p75,
            "tool_us_per_row": r.per_row_us,
            "statements": r.statements,
            "target": r.case.target,
            "status": _status(r.ratio, r.case.target),
        }
    for s in tiers.skipped:
        if (s.library, s.name) in cases:
            cases[(s.library, s.name)]["skipped"][str(s.rows)] = s.why
    for (library, name), entry in cases.items():
        g = growth(tiers.results, name, library)
        entry["growth"] = g
        entry["growth_flag"] = g is not None and g > LINEAR_GROWTH
    return list(cases.values())


def _floor(
    vendor: str, timings: list[dict[str, Any]], counts: list[dict[str, Any]], tier_cases: list
) -> list[dict[str, Any]]:
    """The issue's floor targets, from the rows that measure them (None: not measured)."""
    floors = []
    update = next(
        (c for c in tier_cases if c["library"] == "ormai_django" and c["name"] == "db.update"),
        None,
    )
    at_10k = update["tiers"].get("10000") if update else None
    by_hand = next(
        (c for c in tier_cases if c["library"] == FLOOR_LIBRARY and c["name"] == "db.update"),
        None,
    )
    by_hand_10k = by_hand["tiers"].get("10000") if by_hand else None
    target = {"sqlite": 5.0, "postgresql": 2.5}.get(vendor)
    if target is not None:
        floors.append(
            {
                "name": "db.update 10,000 rows vs QuerySet.update()",
                "value": at_10k["ratio"] if at_10k else None,
                "unit": "x",
                "target": target,
                # The same records written by hand (bench/floor.py): what they alone cost.
                "by_hand": by_hand_10k["ratio"] if by_hand_10k else None,
            }
        )
    single = next((t for t in timings if t["name"] == "db.update 1 row vs get()+save()"), None)
    floors.append(
        {
            "name": "db.update 1 row vs get()+save() with simple-history",
            "value": single["ratio"] if single else None,
            "unit": "x",
            "target": SINGLE_UPDATE_FLOOR,
        }
    )
    for name in ("db.update 1 row, three budgets", "db.update 1 row, three budgets, first write"):
        count = next((c for c in counts if c["name"] == name), None)
        floors.append(
            {
                "name": f"statements, {name.removeprefix('db.update 1 row, ')}",
                "value": count["count"] if count else None,
                "unit": "",
                "target": BUDGETS_STATEMENTS_FLOOR,
            }
        )
    for f in floors:
        f["status"] = "not measured" if f["value"] is None else _status(f["value"], f["target"])
    return floors


def collect(
    *,
    vendor: str,
    where: str,
    machine: dict[str, Any],
    settings: dict[str, Any],
    timings: list,
    counts: list,
    tiers: TierRun,
) -> dict[str, Any]:
    missed: list[str] = []
    timing_rows = []
    for case, bare, tool, ratio in timings:
        status = _status(ratio, case.target)
        if status == "MISSED":
            missed.append(f"{case.name}: {ratio:.2f}x > {case.target:.1f}x")
        timing_rows.append(
            {
                "name": case.name,
                "bare_ms": bare * 1000,
                "tool_ms": tool * 1000,
                "ratio": ratio,
                "target": case.target,
                "status": status,
            }
        )
    count_rows = []
    for case, n in counts:
        status = _status(n, case.target)
        if status == "MISSED":
            missed.append(f"{case.name}: {n} statements > {case.target}")
        count_rows.append({"name": case.name, "count": n, "target": case.target, "status": status})
    tier_cases = _tier_cases(tiers)
    for c in tier_cases:
        for rows, t in c["tiers"].items():
            if t["status"] == "MISSED":
                missed.append(f"{c['name']} {rows} rows: {t['ratio']:.2f}x > {t['target']:.1f}x")
    floor = _floor(vendor, timing_rows, count_rows, tier_cases)
    for f in floor:
        if f["status"] == "MISSED":
            missed.append(f"floor: {f['name']}: {_floor_value(f)} > {f['target']}{f['unit']}")
    mem_growth = memory_growth(tiers.memory)
    return {
        "database": vendor,
        "where": where,
        "machine": machine,
        "settings": settings,
        "cases": timing_rows,
        "statements": count_rows,
        "tier_cases": tier_cases,
        "tier_notes": tiers.notes,
        "memory": {
            "db.update": {
                str(m.rows): {
                    "tool_peak_mib": m.tool_peak_bytes / MIB,
                    "bare_peak_mib": m.bare_peak_bytes / MIB,
                }
                for m in tiers.memory
            },
            "growth": mem_growth,
            "flag": mem_growth is not None and mem_growth > FLAT_MEMORY,
        },
        "floor": floor,
        "missed": missed,
    }


# --- rendering -------------------------------------------------------------------------


def _rows_label(rows: int) -> str:
    return "1 row" if rows == 1 else f"{rows:,} rows"


def _ratio_cell(t: dict[str, Any] | None, skipped: str | None) -> str:
    if t is None:
        return "skipped" if skipped else "-"
    spread = f"{t['ratio_p25']:.2f}-{t['ratio_p75']:.2f}"
    return f"{t['ratio']:.2f}x ({spread})"


def _rounds_line(settings: dict[str, Any]) -> str:
    rounds = settings["rounds"]
    parts = [f"{n} at {_rows_label(int(rows))}" for rows, n in rounds.items()]
    return (
        "Write paths by size: median of the A/B pairs' tool/bare ratios, spread p25-p75; "
        f"rounds (pairs): {', '.join(parts) or 'none'}"
    )


def sections(results: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The tier matrix, memory and floor targets as (title, header, rows) tables."""
    tiers = [int(t) for t in results["settings"]["tiers"]]
    cases = results["tier_cases"]
    out = []
    if cases:
        header = ["case", "library", "vs the bare", *(_rows_label(t) for t in tiers), "target"]
        rows = []
        for c in cases:
            targets = {t["target"] for t in c["tiers"].values() if t["target"] is not None}
            cells = [_ratio_cell(c["tiers"].get(str(t)), c["skipped"].get(str(t))) for t in tiers]
            status = [t["status"] for t in c["tiers"].values() if t["status"]]
            target = ", ".join(f"<= {x:.1f}x at 10,000" for x in targets)
            if status:
                target += f" {'MISSED' if 'MISSED' in status else 'ok'}"
            rows.append([c["name"], c["library"], c["baseline"], *cells, target])
        out.append((_rounds_line(results["settings"]), header, rows))
        header = ["case", "library", *(_rows_label(t) for t in tiers), "growth 10k -> 100k"]
        rows = []
        for c in cases:
            cells = [
                f"{c['tiers'][str(t)]['tool_us_per_row']:.1f}" if str(t) in c["tiers"] else "-"
                for t in tiers
            ]
            g = c["growth"]
            flag = " WORSE THAN LINEAR" if c["growth_flag"] else ""
            rows.append([c["name"], c["library"], *cells, "-" if g is None else f"{g:.2f}x{flag}"])
        title = (
            "Time per row of the library's side, in microseconds, and its growth from 10,000 "
            f"to 100,000 rows (linear or better: <= {LINEAR_GROWTH}x)"
        )
        out.append((title, header, rows))
        header = ["case", "library", *(_rows_label(t) for t in tiers)]
        rows = [
            [
                c["name"],
                c["library"],
                *(
                    str(c["tiers"][str(t)]["statements"]) if str(t) in c["tiers"] else "-"
                    for t in tiers
                ),
            ]
            for c in cases
        ]
        title = "SQL statements per write (transaction control not counted)"
        out.append((title, header, rows))
    memory = results["memory"]
    if memory["db.update"]:
        rows = [
            [_rows_label(int(n)), f"{m['tool_peak_mib']:.1f}", f"{m['bare_peak_mib']:.1f}"]
            for n, m in memory["db.update"].items()
        ]
        g = memory["growth"]
        title = "Peak memory (tracemalloc, MiB) of one audited db.update"
        if g is not None:
            verdict = "GROWS WITH THE ROWS" if memory["flag"] else "flat"
            title += f"; 10,000 -> 100,000 rows: {g:.2f}x ({verdict})"
        out.append((title, ["rows", "db.update", "QuerySet.update()"], rows))
    floor_rows = [
        [
            f["name"],
            "-" if f["value"] is None else _floor_value(f),
            "-" if f.get("by_hand") is None else f"{f['by_hand']:.2f}x",
            f"<= {f['target']}{f['unit']}",
            f["status"],
        ]
        for f in results["floor"]
    ]
    header = ["target", "measured", "the same records by hand", "floor", "status"]
    out.append(("Floor targets (issue 20)", header, floor_rows))
    return out


def _floor_value(f: dict[str, Any]) -> str:
    return f"{f['value']:.2f}x" if f["unit"] == "x" else str(f["value"])


def skipped_lines(results: dict[str, Any]) -> list[str]:
    """One line per case and reason a tier left out, and the groups left out entirely."""
    lines = []
    for c in results["tier_cases"]:
        by_why: dict[str, list[str]] = {}
        for rows, why in c["skipped"].items():
            by_why.setdefault(why, []).append(_rows_label(int(rows)))
        for why, tiers in by_why.items():
            lines.append(f"{c['library']} {c['name']}, skipped at {' and '.join(tiers)}: {why}")
    rounds = results["settings"]["rounds"]
    for c in results["tier_cases"]:
        for rows, measured in c["tiers"].items():
            if measured["rounds"] < rounds.get(rows, 0):
                lines.append(
                    f"{c['library']} {c['name']} at {_rows_label(int(rows))}: "
                    f"{measured['rounds']} round(s), not {rounds[rows]} (a call takes long)"
                )
    return lines + list(results["tier_notes"])


def header_lines(results: dict[str, Any]) -> list[str]:
    s = results["settings"]
    return [
        f"ormai_bench on {results['database']}: {s['rows']} rows read, median of "
        f"{s['repeat']} A/B pairs (ratio: median of the pairs' ratios)",
        *machine_lines(results["machine"]),
        f"Bulk write cases: {s['write_rows']} orders with {s['history_depth']} history rows "
        "each; every timed call writes into a history table of that size.",
    ]


def _plain(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join
    return [
        title,
        line(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
        *(line(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows),
    ]


def render_table(results: dict[str, Any]) -> list[str]:
    lines = [*header_lines(results), ""]
    lines.append(f"{'case':<34} {'bare ms':>9} {'tool ms':>9} {'ratio':>8}  {'target':<9} status")
    for c in results["cases"]:
        target = "-" if c["target"] is None else f"<= {c['target']:.1f}x"
        lines.append(
            f"{c['name']:<34} {c['bare_ms']:>9.3f} {c['tool_ms']:>9.3f} {c['ratio']:>7.2f}x"
            f"  {target:<9} {c['status']}".rstrip()
        )
    lines += ["", f"{'SQL statements per call':<34} {'count':>9}  {'target':<9} status"]
    for c in results["statements"]:
        target = "-" if c["target"] is None else f"<= {c['target']}"
        lines.append(f"{c['name']:<34} {c['count']:>9}  {target:<9} {c['status']}".rstrip())
    for title, header, rows in sections(results):
        lines += ["", *_plain(title, header, rows)]
    lines += ["", *skipped_lines(results)]
    return lines


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cells(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return [cells(header), cells(["---"] * len(header)), *(cells(r) for r in rows)]


def render_markdown(results: dict[str, Any]) -> list[str]:
    lines = [f"### {results['database']}", "", *(f"- {h}" for h in header_lines(results)), ""]
    for title, header, rows in sections(results):
        lines += [f"**{title}**", "", *_markdown_table(header, rows), ""]
    summary = [
        [
            c["name"],
            f"{c['bare_ms']:.3f}",
            f"{c['tool_ms']:.3f}",
            f"{c['ratio']:.2f}x",
            "-" if c["target"] is None else f"<= {c['target']:.1f}x",
            c["status"],
        ]
        for c in results["cases"]
    ]
    header = ["case", "bare ms", "tool ms", "ratio", "target", "status"]
    lines += ["**Reads and single calls**", "", *_markdown_table(header, summary), ""]
    counts = [
        [c["name"], str(c["count"]), "-" if c["target"] is None else f"<= {c['target']}"]
        for c in results["statements"]
    ]
    header = ["SQL statements per call", "count", "target"]
    lines += [*_markdown_table(header, counts), ""]
    lines += [f"- {line}." for line in skipped_lines(results)]
    return lines
