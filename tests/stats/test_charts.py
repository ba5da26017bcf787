"""Health trend: drop detection against the previous runs' average, summary line, SVG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stats.charts import build_trend, find_points

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def rows(*healths: tuple[int, int]):
    return [(T0 + timedelta(minutes=15 * i), total, ok) for i, (total, ok) in enumerate(healths)]


def test_trend_health_agrees_with_compute_health():
    from validation.health import compute_health

    cases = [(100, 100), (100, 99), (3, 1), (100000, 99999), (7, 0), (0, 0), (10, 12)]
    points = find_points(rows(*cases))
    assert [p.hundredths for p in points] == [compute_health(t, s).hundredths for t, s in cases]


def test_a_fall_of_more_than_ten_points_below_the_average_is_a_drop():
    points = find_points(rows(*[(1000, 992)] * 5, (1000, 610)))
    assert [p.drop for p in points] == [False] * 5 + [True]
    assert points[-1].baseline == 99.2


def test_a_fall_of_exactly_ten_points_is_not_a_drop():
    points = find_points(rows((100, 100), (100, 90)))
    assert not any(p.drop for p in points)


def test_the_baseline_is_the_previous_five_runs_only():
    # Five runs at 60% after an early 100%: the 100% has left the window, 55% is no drop.
    points = find_points(rows((100, 100), *[(100, 60)] * 5, (100, 55)))
    assert not points[-1].drop


def test_blank_runs_are_skipped_by_the_baseline():
    points = find_points(rows((100, 100), (0, 0), (100, 80)))
    assert points[1].hundredths is None
    assert points[2].drop and points[2].baseline == 100


def test_summary_names_the_latest_drop_with_its_local_time(settings):
    settings.TIME_ZONE = "UTC"
    trend = build_trend(rows(*[(1000, 992)] * 5, (1000, 610)), days=30)
    assert trend.summary == "Health fell from 99.2% to 61.0% on 3 Nov 11:15."
    assert 'data-drop="1"' in trend.svg
    assert "<title>Health fell from 99.2% to 61.0% on 3 Nov 11:15</title>" in trend.svg
    assert 'role="img"' in trend.svg and '<desc id="trend-desc">Health fell' in trend.svg


def test_summary_counts_several_drops():
    trend = build_trend(rows((100, 100), (100, 50), (100, 100), (100, 100), (100, 30)), days=30)
    assert trend.summary.startswith("Health fell from ")
    assert "(2 drops in the last 30 days, marked on the chart)" in trend.summary
    assert str(trend.svg).count('data-drop="1"') == 2


def test_steady_health_says_so():
    trend = build_trend(rows((100, 100), (100, 95), (100, 97)), days=30)
    assert trend.summary == (
        "No drop of more than 10 points in the last 30 days: health between 95.0% and 100.0% "
        "over 3 runs."
    )
    assert 'data-drop="1"' not in trend.svg


def test_no_runs_no_chart():
    trend = build_trend([], days=30)
    assert trend.summary == "No run with health in the last 30 days."
    assert trend.svg == ""


def test_large_windows_draw_one_line_without_per_point_dots():
    many = rows(*[(100, 99)] * 2880)
    svg = str(build_trend(many, days=30).svg)
    assert svg.count("<polyline") == 1
    assert 'class="dot"' not in svg
