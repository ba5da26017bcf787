"""The health trend of the Stats tab: the falls from one run to the next, a one-line headline,
and an SVG chart rendered on the server (no chart library, readable by screen readers through
its title and description, and by everyone through the headline beside it).

A *fall* is a run whose health is more than `DROP_POINTS` points below the health of the run
before it (runs without a percentage, Blank ones, are passed over). The headline quotes only
real runs' figures and times: an average is not a run's figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from stats.queries import counted
from validation.health import Health, compute_health

DROP_POINTS = 10
# How many falls the headline names; the chart marks every one.
HEADLINE_DROPS = 3

WIDTH, HEIGHT = 900, 190
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28
# Few enough points to give each its own hover target without bloating the page.
DOT_LIMIT = 120


class TrendPoint(NamedTuple):
    """One run on the chart. A named tuple: a 2,880-run trend makes 2,880 of them, and a
    frozen dataclass's __init__ took three times as long."""

    at: datetime
    health: Health
    drop: Drop | None = None  # the fall that ends at this run, if it is one

    @property
    def hundredths(self) -> int | None:
        return self.health.hundredths

    @property
    def percent(self) -> float | None:
        return self.health.percent


class Drop(NamedTuple):
    """A fall from one run (`before`) to the next run with a percentage (`after`)."""

    before_at: datetime
    before: Health
    after_at: datetime
    after: Health

    @property
    def hundredths(self) -> int:
        return self.before.hundredths - self.after.hundredths

    def sentence(self) -> str:
        return (
            f"{self.before.label} on {_when(self.before_at)} to "
            f"{self.after.label} on {_when(self.after_at)}"
        )


@dataclass
class Trend:
    points: list[TrendPoint]
    drops: list[Drop] = field(default_factory=list)
    summary: str = ""
    svg: SafeString = mark_safe("")


def _n(value: float) -> str:
    return f"{value:.1f}"


def _when(at: datetime) -> str:
    local = timezone.localtime(at)
    return f"{local.day} {local:%b %H:%M}"


def find_points(runs: Sequence[tuple[datetime, Health]]) -> list[TrendPoint]:
    """The chart's points, oldest first, each fall marked on the run it ends at."""
    points: list[TrendPoint] = []
    previous: tuple[datetime, Health] | None = None
    limit = DROP_POINTS * 100
    for at, health in runs:
        if health.hundredths is None:  # Blank (or no indicator): nothing to compare
            points.append(TrendPoint(at, health))
            continue
        drop = None
        if previous is not None and previous[1].hundredths - health.hundredths > limit:
            drop = Drop(previous[0], previous[1], at, health)
        points.append(TrendPoint(at, health, drop))
        previous = (at, health)
    return points


def headline(runs: Sequence[tuple[datetime, Health]], days: int) -> str:
    """What a person would say of the window's health: the largest falls from one run to the
    next, with both runs' real figures and times, and whether health has recovered since.

    Pure: `runs` are (time, health) of the runs that carry health, oldest first.
    "Recovered" means the latest run is within `DROP_POINTS` of the health before the largest
    fall (a smaller gap would not count as a fall either)."""
    scored = [(at, h) for at, h in runs if h.hundredths is not None]
    run_count = counted(len(scored), "run")
    window = f"in the last {counted(days, 'day')}"
    if not scored:
        return f"No run with a health percentage {window}."
    if len(scored) == 1:
        at, health = scored[0]
        return f"One run with a health percentage {window}: {health.label} on {_when(at)}."
    drops = [p.drop for p in find_points(scored) if p.drop is not None]
    if not drops:
        low = min(scored, key=lambda run: run[1].hundredths)[1]
        high = max(scored, key=lambda run: run[1].hundredths)[1]
        span = (
            f"{high.label} in each of the {run_count}"
            if low.hundredths == high.hundredths
            else f"between {low.label} and {high.label} over {run_count}"
        )
        return (
            f"No fall of more than {DROP_POINTS} points from one run to the next {window}: "
            f"health {span}."
        )
    # Largest first; of equal falls, the earlier.
    largest = sorted(drops, key=lambda d: -d.hundredths)[:HEADLINE_DROPS]
    listed = "; ".join(drop.sentence() for drop in largest)
    if len(drops) == 1:
        line = f"Health fell by more than {DROP_POINTS} points once {window}: {listed}."
    elif len(drops) <= HEADLINE_DROPS:
        line = (
            f"Health fell by more than {DROP_POINTS} points from one run to the next "
            f"{len(drops)} times {window}, largest first: {listed}."
        )
    else:
        line = (
            f"Health fell by more than {DROP_POINTS} points from one run to the next "
            f"{len(drops)} times {window}; the {HEADLINE_DROPS} largest: {listed}."
        )
    last_at, last = scored[-1]
    before = largest[0].before
    recovered = last.hundredths >= before.hundredths - DROP_POINTS * 100
    state = "has recovered from" if recovered else "has not recovered from"
    return (
        f"{line} The latest run with a percentage, on {_when(last_at)}, had {last.label}: "
        f"health {state} the largest fall ({before.label} before it)."
    )


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
            ((_n(x(p)), _n(y(p.percent)), _when(p.at), p.health.label) for p in scored),
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
        "<title>Health fell from {}</title></circle>",
        ((_n(x(p)), _n(y(p.percent)), p.drop.sentence()) for p in points if p.drop),
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
    """The trend of (created_at, total, successful) rows, oldest first. Health comes from
    `compute_health`, the one place it is computed."""
    runs = [(at, compute_health(total, successful)) for at, total, successful in rows]
    points = find_points(runs)
    summary = headline(runs, days)
    return Trend(
        points=points,
        drops=[p.drop for p in points if p.drop is not None],
        summary=summary,
        svg=render_svg(points, summary),
    )
