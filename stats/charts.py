"""The health trend of the Stats tab: drop detection, its one-line summary, and an SVG chart
rendered on the server (no chart library, readable by screen readers through its title and
description, and by everyone through the text summary beside it).

A *drop* is the reference's "compare runs over time" made concrete: a run whose health is more
than `DROP_POINTS` points below the average of the (up to) `BASELINE_RUNS` runs before it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

DROP_POINTS = 10
BASELINE_RUNS = 5

WIDTH, HEIGHT = 900, 190
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28
# Few enough points to give each its own hover target without bloating the page.
DOT_LIMIT = 120


class TrendPoint(NamedTuple):
    """One run on the chart. A named tuple: a 2,880-run trend makes 2,880 of them, and a
    frozen dataclass's __init__ took three times as long."""

    at: datetime
    hundredths: int | None  # None: blank run (no data processed)
    baseline: float | None = None  # average percent of the previous runs, if a drop
    drop: bool = False

    @property
    def percent(self) -> float | None:
        return None if self.hundredths is None else self.hundredths / 100


@dataclass
class Trend:
    points: list[TrendPoint]
    drops: list[TrendPoint] = field(default_factory=list)
    summary: str = ""
    svg: SafeString = mark_safe("")


def _pct(value: float) -> str:
    # Truncated like every health figure: a run at 60.99% never reads as 61.0%.
    return f"{int(value * 10) / 10:.1f}%"


def _n(value: float) -> str:
    return f"{value:.1f}"


def _when(at: datetime) -> str:
    local = timezone.localtime(at)
    return f"{local.day} {local:%b %H:%M}"


def find_points(rows: Sequence[tuple[datetime, int, int]]) -> list[TrendPoint]:
    """Health per run (oldest first) with drops flagged against the preceding runs' average."""
    points: list[TrendPoint] = []
    append = points.append
    recent: deque[float] = deque(maxlen=BASELINE_RUNS)
    for at, total, successful in rows:
        # compute_health's arithmetic, inlined: this loop sees up to 2,880 runs per page view.
        if total <= 0:
            append(TrendPoint(at, None))
            continue
        hundredths = 10000 if successful >= total else max(successful, 0) * 10000 // total
        percent = hundredths / 100
        baseline = sum(recent) / len(recent) if recent else None
        if baseline is not None and baseline - percent > DROP_POINTS:
            append(TrendPoint(at, hundredths, baseline, True))
        else:
            append(TrendPoint(at, hundredths))
        recent.append(percent)
    return points


def summarize(points: list[TrendPoint], days: int) -> str:
    drops = [p for p in points if p.drop]
    scored = [p.percent for p in points if p.percent is not None]
    if not scored:
        return f"No run with health in the last {days} days."
    if not drops:
        low, high = min(scored), max(scored)
        span = _pct(high) if low == high else f"between {_pct(low)} and {_pct(high)}"
        return (
            f"No drop of more than {DROP_POINTS} points in the last {days} days: "
            f"health {span} over {len(scored)} runs."
        )
    last = drops[-1]
    line = f"Health fell from {_pct(last.baseline)} to {_pct(last.percent)} on {_when(last.at)}"
    if len(drops) > 1:
        line += f" ({len(drops)} drops in the last {days} days, marked on the chart)"
    return line + "."


def render_svg(points: list[TrendPoint], summary: str) -> SafeString:
    """A line of health per run over time; red rings mark drops, grey ticks blank runs."""
    if not points:
        return mark_safe("")
    t0 = points[0].at.timestamp()
    span = max(points[-1].at.timestamp() - t0, 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    several = len(points) > 1

    def x(p: TrendPoint) -> float:
        return LEFT + (p.at.timestamp() - t0) / span * plot_w if several else LEFT + plot_w

    def y(percent: float) -> float:
        return TOP + (100 - percent) / 100 * plot_h

    scored = [p for p in points if p.hundredths is not None]
    # The polyline has a vertex per run: x() and y() inlined (same arithmetic, same order).
    if several:
        line = " ".join(
            f"{LEFT + (p.at.timestamp() - t0) / span * plot_w:.1f},"
            f"{TOP + (100 - p.hundredths / 100) / 100 * plot_h:.1f}"
            for p in scored
        )
    else:
        line = " ".join(f"{x(p):.1f},{y(p.percent):.1f}" for p in scored)
    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">{}%</text>',
        (
            (LEFT, WIDTH - RIGHT, _n(y(v)), _n(y(v)), LEFT - 6, _n(y(v) + 4), v)
            for v in (0, 50, 100)
        ),
    )
    labels = format_html(
        '<text x="{}" y="{}" class="axis">{}</text>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
        LEFT,
        HEIGHT - 8,
        _when(points[0].at),
        WIDTH - RIGHT,
        HEIGHT - 8,
        _when(points[-1].at),
    )
    dots = mark_safe("")
    if len(points) <= DOT_LIMIT:
        dots = format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="3" class="dot"><title>{}: {}</title></circle>',
            ((_n(x(p)), _n(y(p.percent)), _when(p.at), _pct(p.percent)) for p in scored),
        )
    blanks = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="blank">'
        "<title>{}: Blank (no data processed)</title></line>",
        (
            (_n(x(p)), _n(x(p)), _n(y(0) - 6), _n(y(0)), _when(p.at))
            for p in points
            if p.percent is None
        ),
    )
    drops = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="6" class="drop" data-drop="1">'
        "<title>Health fell from {} to {} on {}</title></circle>",
        (
            (_n(x(p)), _n(y(p.percent)), _pct(p.baseline), _pct(p.percent), _when(p.at))
            for p in points
            if p.drop
        ),
    )
    return format_html(
        '<svg class="trend" viewBox="0 0 {} {}" role="img" aria-labelledby="trend-title '
        'trend-desc"><title id="trend-title">Health per run, '
        'oldest to newest</title><desc id="trend-desc">{}</desc>{}{}'
        '<polyline points="{}" class="line"/>{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        summary,
        grid,
        labels,
        line,
        dots,
        blanks,
        drops,
    )


def build_trend(rows: Sequence[tuple[datetime, int, int]], days: int) -> Trend:
    points = find_points(rows)
    summary = summarize(points, days)
    return Trend(
        points=points,
        drops=[p for p in points if p.drop],
        summary=summary,
        svg=render_svg(points, summary),
    )
