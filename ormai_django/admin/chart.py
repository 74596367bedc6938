"""The dashboard's bar chart, drawn on the server as inline SVG: no JavaScript, no CDN,
so the admin works offline. Each bar is a link to the audit rows it counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 760, 230
LEFT, TOP, BOTTOM = 52, 14, 196  # the plot area: x from LEFT, y from TOP to BOTTOM
LABEL_EVERY = 3  # hours between two labels of the time axis


@dataclass(frozen=True)
class Bar:
    """One hour: writes executed and writes refused or held, and the lists of each."""

    start: dt.datetime
    executed: int
    refused: int
    executed_url: str
    refused_url: str

    @property
    def total(self) -> int:
        return self.executed + self.refused


def scale_top(largest: int) -> int:
    """The y axis's top: the smallest of 1, 2, 5, 10, 20, 50, ... at least ``largest``."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if magnitude * step >= largest:
                return magnitude * step
        magnitude *= 10


def hour_label(start: dt.datetime) -> str:
    return start.strftime("%H:00")


def bar_chart(bars: list[Bar]) -> SafeString:
    """An SVG of stacked bars (executed below, refused or held above), one per hour."""
    top = scale_top(max((bar.total for bar in bars), default=0))
    plot = BOTTOM - TOP
    slot = (WIDTH - LEFT - 4) / max(len(bars), 1)
    width = slot * 0.72
    zone = bars[0].start.strftime("%Z") if bars else ""
    shapes = []
    for index, bar in enumerate(bars):
        x = LEFT + index * slot + (slot - width) / 2
        base = BOTTOM
        label = hour_label(bar.start)
        for count, url, css, what in (
            (bar.executed, bar.executed_url, "ormai-bar-executed", _("writes executed")),
            (bar.refused, bar.refused_url, "ormai-bar-refused", _("writes refused or held")),
        ):
            if not count:
                continue
            height = plot * count / top
            base -= height
            text = f"{label} {zone}: {count} {what}"
            shapes.append(
                format_html(
                    '<a href="{}" aria-label="{}"><rect class="{}" x="{}" y="{}" '
                    'width="{}" height="{}"><title>{}</title></rect></a>',
                    url,
                    text,
                    css,
                    f"{x:.1f}",
                    f"{base:.1f}",
                    f"{width:.1f}",
                    f"{height:.1f}",
                    text,
                )
            )
        if index % LABEL_EVERY == 0:
            shapes.append(
                format_html(
                    '<text class="ormai-axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{x + width / 2:.1f}",
                    BOTTOM + 24,
                    label,
                )
            )
    grid = format_html_join(
        "",
        '<line class="ormai-grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
        '<text class="ormai-axis" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH, f"{y:.1f}", f"{y:.1f}", LEFT - 6, f"{y + 4:.1f}", value)
            for value, y in ((v, BOTTOM - plot * v / top) for v in sorted({0, top // 2, top}))
        ),
    )
    caption = _("Writes per hour, last %(hours)s hours (%(zone)s)") % {
        "hours": len(bars),
        "zone": zone,
    }
    return format_html(
        '<svg class="ormai-chart" viewBox="0 0 {} {}" role="group" aria-labelledby="ormai-chart-'
        'title"><title id="ormai-chart-title">{}</title>{}{}</svg>',
        WIDTH,
        HEIGHT,
        caption,
        grid,
        mark_safe("".join(shapes)),
    )
