"""``ormai_bench --write-docs``: the results, as the command printed them, into the docs.

The markdown results of the current database go between
``<!-- ormai_bench:<vendor>:start -->`` and ``<!-- ormai_bench:<vendor>:end -->`` in
docs/performance.md; everything outside the markers is left as it was (a file without them
gets the block at its end). The ratios of every database run so far are kept in
``img/performance.json`` beside it, and the chart ``img/performance.png`` is redrawn from
them with matplotlib (the ``bench`` extra): per tier of 10,000 rows and more, a bar per
case and database, on a log scale.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sandbox_project.shop.bench.report import render_markdown

CHART = "img/performance.png"
CHART_DATA = "img/performance.json"
CHART_TIERS = ("10000", "100000")
COLOURS = {"sqlite": "#4c72b0", "postgresql": "#dd8452"}


def markers(vendor: str) -> tuple[str, str]:
    return f"<!-- ormai_bench:{vendor}:start -->", f"<!-- ormai_bench:{vendor}:end -->"


def command_for(results: dict[str, Any]) -> str:
    s = results["settings"]
    env = "ORMAI_DB=postgres ORMAI_BENCH_PGHISTORY=1 " if results["database"] != "sqlite" else ""
    tiers = ",".join(str(t) for t in s["tiers"]) or "none"
    return (
        f"{env}python manage.py ormai_bench --format markdown --tiers {tiers} "
        f"--repeat {s['repeat']} --write-docs"
    )


def replace_block(text: str, vendor: str, block: str) -> str:
    """``text`` with the marked block of ``vendor`` replaced by ``block`` (appended if the
    markers are missing); nothing else changes."""
    start, end = markers(vendor)
    marked = f"{start}\n{block.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: marked, text, count=1)
    return text.rstrip("\n") + "\n\n" + marked + "\n"


def chart_series(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{tier: {"library: case": ratio}}`` of the tiers the chart shows."""
    series: dict[str, dict[str, float]] = {}
    for case in results["tier_cases"]:
        for rows, measured in case["tiers"].items():
            if rows in CHART_TIERS:
                label = f"{case['library']}: {case['name']}"
                series.setdefault(rows, {})[label] = measured["ratio"]
    return series


def draw_chart(data: dict[str, dict[str, dict[str, float]]], path: Path) -> bool:
    """Grouped bars, one panel per tier; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tiers = [t for t in CHART_TIERS if any(t in per_db for per_db in data.values())]
    if not tiers:
        return False
    # In the order the bench runs them (ormai_django, domain tool, simple-history, pghistory).
    # the database with the most cases first, so its order leads.
    richest = sorted(data.values(), key=lambda per_db: -sum(len(s) for s in per_db.values()))
    labels = list(
        dict.fromkeys(label for per_db in richest for s in per_db.values() for label in s)
    )
    vendors = sorted(data)
    fig, axes = plt.subplots(
        1,
        len(tiers),
        figsize=(7 * len(tiers), 0.5 * len(labels) + 1.8),
        sharey=True,
        sharex=True,
    )
    axes = [axes] if len(tiers) == 1 else list(axes)
    height = 0.8 / max(1, len(vendors))
    for ax, tier in zip(axes, tiers, strict=True):
        for i, vendor in enumerate(vendors):
            ratios = data[vendor].get(tier, {})
            ys = [y + i * height for y in range(len(labels))]
            xs = [ratios.get(label, 0) for label in labels]
            ax.barh(ys, xs, height=height, label=vendor, color=COLOURS.get(vendor))
            for y, x in zip(ys, xs, strict=True):
                if x:
                    ax.text(x * 1.05, y, f"{x:.1f}x", va="center", fontsize=7)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{int(tier):,} rows")
        ax.set_xlabel("time / the bare ORM's time (log scale; 1 = bare)")
        ax.set_yticks([y + height * (len(vendors) - 1) / 2 for y in range(len(labels))])
        ax.set_yticklabels(labels)
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0].invert_yaxis()  # the y axis is shared: inverted once, the first case on top
    axes[0].legend(loc="lower right")
    fig.suptitle("ormai_bench: each write path against the bare ORM making the same change")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_docs(path: Path, results: dict[str, Any]) -> list[str]:
    """Write this database's block into ``path`` and redraw the chart; returns what was done."""
    vendor = results["database"]
    block = "\n".join([f"Made by `{command_for(results)}`.", "", *render_markdown(results)])
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    path.write_text(replace_block(text, vendor, block), encoding="utf-8")
    done = [f"wrote the {vendor} results into {path}"]
    data_path = path.parent / CHART_DATA
    data = json.loads(data_path.read_text(encoding="utf-8")) if data_path.exists() else {}
    data[vendor] = chart_series(results)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if draw_chart(data, path.parent / CHART):
        done.append(f"drew {path.parent / CHART}")
    else:
        done.append(
            "chart not drawn: no tier of 10,000 rows or more, or no matplotlib "
            "(pip install -e '.[bench]')"
        )
    return done
