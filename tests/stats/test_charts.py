"""Health trend: falls from one run to the next, the headline sentence, the SVG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stats.charts import Change, build_trend, find_points, headline
from validation.health import BLANK_HEALTH, compute_health

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _utc(settings):
    settings.TIME_ZONE = "UTC"


def rows(*healths: tuple[int, int]):
    """(created_at, total, successful), one run every 15 minutes from T0."""
    return [(T0 + timedelta(minutes=15 * i), total, ok) for i, (total, ok) in enumerate(healths)]


def runs(*healths: tuple[int, int]):
    return [(at, compute_health(total, ok)) for at, total, ok in rows(*healths)]


def at(i: int) -> str:
    moment = T0 + timedelta(minutes=15 * i)
    return f"{moment.day} {moment:%b %H:%M}"


# Stopped and skipped runs never reach the trend (queries.trend_rows reads completed and failed
# runs only); a Blank run (total 0) does, and is passed over.
HEADLINES = [
    pytest.param([], "No run with a health percentage in the last 30 days.", id="no runs"),
    pytest.param(
        [(0, 0), (0, 0)], "No run with a health percentage in the last 30 days.", id="blank only"
    ),
    pytest.param(
        [(10000, 9570)],
        f"One run with a health percentage in the last 30 days: 95.70% on {at(0)}.",
        id="single run",
    ),
    pytest.param(
        [(100, 100), (100, 95), (100, 97)],
        "No fall of more than 10 points from one run to the next in the last 30 days: health "
        "between 95.00% and 100% over 3 runs.",
        id="no drop",
    ),
    pytest.param(
        [(100, 100), (100, 100)],
        "No fall of more than 10 points from one run to the next in the last 30 days: health "
        "100% in each of the 2 runs.",
        id="steady",
    ),
    pytest.param(
        [(100, 100), (100, 90)],
        "No fall of more than 10 points from one run to the next in the last 30 days: health "
        "between 90.00% and 100% over 2 runs.",
        id="a fall of exactly ten points is none",
    ),
    pytest.param(
        [(10000, 9603), (10000, 3498)],
        "Health fell by more than 10 points once in the last 30 days: "
        f"96.03% on {at(0)} to 34.98% on {at(1)}. The latest run with a percentage, on {at(1)}, had 34.98%: "
        "health has not recovered from the largest fall (96.03% before it).",
        id="one drop, latest",
    ),
    pytest.param(
        [(10000, 9603), (10000, 3498), (10000, 9610)],
        "Health fell by more than 10 points once in the last 30 days: "
        f"96.03% on {at(0)} to 34.98% on {at(1)}. The latest run with a percentage, on {at(2)}, had 96.10%: "
        "health has recovered from the largest fall (96.03% before it).",
        id="drop then recovery",
    ),
    pytest.param(
        [(10000, 9603), (10000, 3498), (10000, 8000)],
        "Health fell by more than 10 points once in the last 30 days: "
        f"96.03% on {at(0)} to 34.98% on {at(1)}. The latest run with a percentage, on {at(2)}, had 80.00%: "
        "health has not recovered from the largest fall (96.03% before it).",
        id="partial recovery",
    ),
    pytest.param(
        [(10000, 9603), (10000, 3498), (10000, 9500), (10000, 9570), (10000, 6492), (100, 96)],
        "Health fell by more than 10 points from one run to the next 2 times in the last 30 "
        f"days, largest first: 96.03% on {at(0)} to 34.98% on {at(1)}; 95.70% on {at(3)} to "
        f"64.92% on {at(4)}. The latest run with a percentage, on {at(5)}, had 96.00%: health has recovered from "
        "the largest fall (96.03% before it).",
        id="several drops",
    ),
    pytest.param(
        [(100, 100), (0, 0), (100, 80), (0, 0)],
        "Health fell by more than 10 points once in the last 30 days: "
        f"100% on {at(0)} to 80.00% on {at(2)}. The latest run with a percentage, on {at(2)}, had 80.00%: "
        "health has not recovered from the largest fall (100% before it).",
        id="blank runs in between are passed over",
    ),
    pytest.param(
        [(100, 100), (100, 50), (100, 100), (100, 70), (100, 100), (100, 60), (100, 99),
         (100, 80)],
        "Health fell by more than 10 points from one run to the next 4 times in the last 30 "
        f"days; the 3 largest: 100% on {at(0)} to 50.00% on {at(1)}; 100% on {at(4)} to 60.00%"
        f" on {at(5)}; 100% on {at(2)} to 70.00% on {at(3)}. The latest run with a percentage, on {at(7)}, had "
        "80.00%: health has not recovered from the largest fall (100% before it).",
        id="more drops than named",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("healths", "expected"), HEADLINES)
def test_headline(healths, expected):
    assert headline(runs(*healths), days=30) == expected


def test_headline_says_one_day():
    assert headline([], days=1) == "No run with a health percentage in the last 1 day."


def test_points_mark_each_fall_on_the_run_it_ends_at():
    points = find_points(runs((100, 100), (0, 0), (100, 80), (100, 75), (100, 60)))
    assert [p.drop is not None for p in points] == [False, False, True, False, True]
    assert points[1].health == BLANK_HEALTH
    assert points[2].drop.before.label == "100%" and points[2].drop.before_at == T0
    assert points[4].drop.before.label == "75.00%"


def test_headline_figures_are_compute_health_labels():
    # 99.999% reads 99.99%, never rounded up to 100%.
    trend = build_trend(rows((100000, 99999), (100000, 50000)), days=30)
    assert "99.99% on" in trend.summary and "50.00% on" in trend.summary


def test_svg_marks_each_fall_with_both_runs():
    trend = build_trend(rows(*[(1000, 992)] * 5, (1000, 610)), days=30)
    svg = str(trend.svg)
    assert svg.count('data-drop="1"') == 1
    assert f"<title>Health fell from 99.20% on {at(4)} to 61.00% on {at(5)}</title>" in svg
    assert 'role="img"' in svg and '<desc id="trend-desc">Health fell' in svg


def test_no_runs_no_chart():
    trend = build_trend([], days=30)
    assert trend.svg == ""


def test_large_windows_draw_one_line_without_per_point_dots():
    svg = str(build_trend(rows(*[(100, 99)] * 2880), days=30).svg)
    assert svg.count("<polyline") == 1
    assert 'class="dot"' not in svg


# --- Changes at the runs of a fall (history.marks gives them) -------------------------------

MAPPING_EDIT = "the mapping was edited"
RETYPED = "the source column `signup_date` changed type from DATE to VARCHAR"


def change(i: int, cause: str, exact: bool = True) -> Change:
    return Change(T0 + timedelta(minutes=15 * i), cause, kinds=("mapping",), exact=exact)


CAUSES = [
    pytest.param(
        [change(2, MAPPING_EDIT)], f", the first run after {MAPPING_EDIT}.", id="at the fall"
    ),
    pytest.param(
        [change(2, MAPPING_EDIT), change(2, RETYPED)],
        f", the first run after {MAPPING_EDIT} and {RETYPED}.",
        id="two at the fall",
    ),
    pytest.param(
        [change(2, RETYPED, exact=False)],
        f", after {RETYPED}.",
        id="a run that read nothing came between",
    ),
    pytest.param([change(1, MAPPING_EDIT)], ".", id="before the run before the fall: not named"),
    pytest.param([change(3, MAPPING_EDIT)], ".", id="after the fall: not named"),
]


@pytest.mark.parametrize("changes, ending", CAUSES)
def test_headline_names_a_change_only_between_the_two_runs_of_a_fall(changes, ending):
    summary = headline(runs((10000, 9570), (10000, 9570), (10000, 6492)), 30, changes)
    assert summary.startswith(
        f"Health fell by more than 10 points once in the last 30 days: 95.70% on {at(1)} to "
        f"64.92% on {at(2)}{ending} The latest run"
    )


def test_a_change_at_a_run_without_percentage_makes_the_fall_after_it_not_first():
    # Run 2 is Blank (no percentage): the fall is from run 1 to run 3; the change came at run 2.
    summary = headline(
        runs((10000, 9570), (10000, 9570), (0, 0), (10000, 6492)), 30, [change(2, MAPPING_EDIT)]
    )
    assert f"64.92% on {at(3)}, after {MAPPING_EDIT}." in summary


def test_the_svg_draws_a_marker_per_change_with_its_tooltip():
    tip = f"{at(2)}: the first run after\n· {MAPPING_EDIT} by alice on {at(1)}"
    changes = [Change(T0 + timedelta(minutes=30), MAPPING_EDIT, tip, ("mapping", "schema"))]
    svg = build_trend(rows((100, 100), (100, 100), (100, 50)), 30, changes).svg
    assert svg.count('class="marker ') == 1
    assert 'class="marker marker-mapping marker-schema" data-marker="mapping schema"' in svg
    assert f'data-tip="{tip}"' in svg and 'tabindex="0"' in svg
    # Escaped like every other text in the chart.
    evil = [Change(T0, "<script>", "<script>x</script>")]
    assert "<script>" not in build_trend(rows((100, 100)), 30, evil).svg
