from datetime import UTC, datetime, time

import pytest
from django.template import Context, Template

from imports.models import Import
from imports.templatetags.imports_tags import describe_schedule
from validation.health import compute_health


@pytest.mark.parametrize(
    "fields, expected",
    [
        (
            dict(schedule_kind="interval", interval_every=15, interval_unit="minutes"),
            "Every 15 minutes",
        ),
        (dict(schedule_kind="interval", interval_every=1, interval_unit="hours"), "Every hour"),
        (
            dict(
                schedule_kind="custom",
                custom_mode="weekdays",
                custom_days=[3, 0],
                custom_time=time(9, 0),
                schedule_timezone="Asia/Kolkata",
            ),
            "Mondays and Thursdays at 09:00 (Asia/Kolkata)",
        ),
        (
            dict(
                schedule_kind="custom",
                custom_mode="monthdays",
                custom_days=[1, 15, 31],
                custom_time=time(6, 30),
                schedule_timezone="UTC",
            ),
            "On the 1st, 15th and 31st of each month at 06:30 (UTC)",
        ),
        (dict(schedule_kind="manual"), "Manually Trigger"),
    ],
)
def test_describe_schedule(fields, expected):
    assert describe_schedule(Import(**fields)) == expected


def test_health_badge_says_it_in_text_and_title():
    html = Template("{% load imports_tags %}{% health_badge h %}").render(
        Context({"h": compute_health(100_000, 99_999)})
    )
    assert "99.99%" in html and "health-yellow" in html
    assert 'title="Some records failed during processing.' in html
    blank = Template("{% load imports_tags %}{% health_badge h %}").render(
        Context({"h": compute_health(0, 0)})
    )
    assert "Blank" in blank and "credentials are invalid or have changed" in blank


def test_local_time_has_exact_time_on_hover():
    html = Template("{% load imports_tags %}{% local_time d %}").render(
        Context({"d": datetime(2026, 11, 3, 14, 15, 7, tzinfo=UTC)})
    )
    assert 'datetime="2026-11-03T14:15:07+00:00"' in html
    assert "2026-11-03 14:15:07" in html and "03 Nov 2026 14:15" in html


def test_health_badge_escapes_and_names_each_band_in_text():
    render = Template("{% load imports_tags %}{% health_badge h False %}").render
    none = render(Context({"h": compute_health(None, None)}))
    assert ">No indicator</span>" in none and "health-none" in none
    blank = render(Context({"h": compute_health(0, 0)}))
    assert ">Blank</span>" in blank  # without the note when show_blank_text is False
    red = render(Context({"h": compute_health(3, 1)}))
    assert "health-red" in red and "33.33%" in red and "(red)" in red
