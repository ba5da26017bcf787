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
    # What changed between the two runs (history.marks), and whether `after` is the very first
    # run after it (else a run without a percentage, a stopped one, came between).
    cause: str = ""
    cause_at_after: bool = True

    @property
    def hundredths(self) -> int:
        return self.before.hundredths - self.after.hundredths

    def sentence(self) -> str:
        text = (
            f"{self.before.label} on {_when(self.before_at)} to "
            f"{self.after.label} on {_when(self.after_at)}"
        )
        if self.cause:
            text += f", {'the first run after' if self.cause_at_after else 'after'} {self.cause}"
        return text


class Change(NamedTuple):
    """A run where something changed (history.marks.Marker, reduced to what the chart says):
    the run's time, what changed before it (a clause), a tooltip and CSS kinds."""

    at: datetime
    cause: str
    tooltip: str = ""
    kinds: tuple[str, ...] = ()
    # Whether the change is known to have come after the run before this one (a schema change
    # is seen only by runs that read the source: one that failed first may have come after it).
    exact: bool = True


def with_causes(drops: list[Drop], changes: Sequence[Change]) -> list[Drop]:
    """Each fall, with the changes made between its two runs: a change at a run after `before`
    and up to `after` came before `after` (and after `before`) by construction."""
    out = []
    for drop in drops:
        met = [c for c in changes if drop.before_at < c.at <= drop.after_at]
        if not met:
            out.append(drop)
            continue
        causes = list(dict.fromkeys(c.cause for c in met))
        cause = causes[0] if len(causes) == 1 else ", ".join(causes[:-1]) + " and " + causes[-1]
        exact = all(c.at == drop.after_at and c.exact for c in met)
        out.append(drop._replace(cause=cause, cause_at_after=exact))
    return out


@dataclass
class Trend:
    points: list[TrendPoint]
    drops: list[Drop] = field(default_factory=list)
    summary: str = ""
    svg: SafeString = mark_safe("")
    changes: Sequence[Change] = ()


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


def headline(
    runs: Sequence[tuple[datetime, Health]], days: int, changes: Sequence[Change] = ()
) -> str:
    """What a person would say of the window's health: the largest falls from one run to the
    next, with both runs' real figures and times, what changed just before a fall, and
    whether health has recovered since.

    Pure: `runs` are (time, health) of the runs that carry health, oldest first; `changes`
    the runs (any state but skipped) where the configuration or the source's columns changed.
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
    drops = with_causes([p.drop for p in find_points(scored) if p.drop is not None], changes)
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


def render_svg(
    points: list[TrendPoint], summary: str, changes: Sequence[Change] = ()
) -> SafeString:
    """A line of health per run over time; red rings mark drops, grey ticks blank runs, and
    diamonds on top the runs where the configuration or the source's columns changed (their
    tooltip, `data-tip`, says what: static/js/app.js shows it on hover and focus)."""
    if not points:
        return mark_safe("")
    t0 = points[0].at.timestamp()
    span = max(points[-1].at.timestamp() - t0, 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    several = len(points) > 1

    def x(p: TrendPoint | Change) -> float:
        if not several:
            return LEFT + plot_w
        # A change at a run without a point (a stopped one) may lie past the last point.
        return LEFT + min(max((p.at.timestamp() - t0) / span, 0.0), 1.0) * plot_w

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
    markers = format_html_join(
        "",
        '<g class="marker {}" data-marker="{}" data-tip="{}" tabindex="0" role="img" '
        'aria-label="{}"><line x1="{}" x2="{}" y1="{}" y2="{}" class="marker-line"/>'
        '<path d="M{} {}l5 5l-5 5l-5 -5z" class="marker-mark"/></g>',
        (
            (
                " ".join(f"marker-{k}" for k in c.kinds),
                " ".join(c.kinds),
                c.tooltip or c.cause,
                c.tooltip or c.cause,
                _n(x(c)),
                _n(x(c)),
                _n(y(100)),
                _n(y(0)),
                _n(x(c)),
                _n(y(100) - 10),
            )
            for c in changes
        ),
    )
    return format_html(
        '<svg class="trend" viewBox="0 0 {} {}" role="img" aria-labelledby="trend-title '
        'trend-desc"><title id="trend-title">Health per run, '
        'oldest to newest</title><desc id="trend-desc">{}</desc>{}{}'
        '<polyline points="{}" class="line"/>{}{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        summary,
        grid,
        labels,
        line,
        markers,
        dots,
        blanks,
        drops,
    )


def build_trend(
    rows: Sequence[tuple[datetime, int, int]], days: int, changes: Sequence[Change] = ()
) -> Trend:
    """The trend of (created_at, total, successful) rows, oldest first, and the runs where
    something changed. Health comes from `compute_health`, the one place it is computed."""
    runs = [(at, compute_health(total, successful)) for at, total, successful in rows]
    points = find_points(runs)
    summary = headline(runs, days, changes)
    return Trend(
        points=points,
        drops=[p.drop for p in points if p.drop is not None],
        summary=summary,
        svg=render_svg(points, summary, changes),
        changes=changes,
    )
