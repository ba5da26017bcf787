"""Schedule times are bounded to what the product can show and schedule (up to 31 Dec 2999), and
a time stored before that bound (year 10000) never makes a page answer 500."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.urls import reverse

from imports.dbtypes import FAR_FUTURE
from imports.models import Import
from imports.scheduling import next_run_after, stored_schedule_problem
from tests import factories

# Only PostgreSQL stores the far_import's time (in UTC it is in the year 10000); `make test`'s
# SQLite cannot.
postgres_store = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the store is not PostgreSQL"
)


def manual_schedule(at: str, tz: str = "America/New_York") -> dict:
    return {
        "schedule_kind": "manual",
        "custom_mode": "weekdays",
        "interval_unit": "minutes",
        "schedule_timezone": tz,
        "manual_run_at": at,
    }


@pytest.mark.parametrize(
    "typed, message",
    [
        # 9999-12-31 23:00 in New York is year 10000 in UTC: the value that once got stored.
        ("9999-12-31T23:00", "Choose a time up to 31 Dec 2999 23:59"),
        ("3000-01-01T00:00", "Choose a time up to 31 Dec 2999 23:59"),
        ("10000-01-01T00:00", "Enter a date and time from now to 31 Dec 2999 23:59"),
        ("0001-01-01T00:00", "Choose a time in the future."),
    ],
)
def test_manual_time_outside_the_range_is_a_field_error(editor_client, draft, typed, message):
    response = editor_client.post(
        reverse("imports-wizard", args=[draft.code, "schedule"]),
        {**manual_schedule(typed), "draft": "1"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_manual_run_at_errors"' in body and message in body
    draft.refresh_from_db()
    assert draft.manual_run_at is None


def test_last_minute_of_2999_is_accepted_in_the_westernmost_zone(editor_client, draft):
    response = editor_client.post(
        reverse("imports-wizard", args=[draft.code, "schedule"]),
        {**manual_schedule("2999-12-31T23:59", tz="Etc/GMT+12"), "draft": "1"},
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.manual_run_at == datetime(3000, 1, 1, 11, 59, tzinfo=UTC)
    assert next_run_after(draft, datetime(2030, 1, 1, tzinfo=UTC)) == draft.manual_run_at
    assert stored_schedule_problem(draft) == ""


def test_help_text_states_the_range(editor_client, draft):
    body = editor_client.get(reverse("imports-wizard", args=[draft.code, "schedule"])).content
    assert "Any time from now to 31 Dec 2999 23:59" in body.decode()


# --- a value stored before the bound ------------------------------------------------------------


@pytest.fixture
def far_import(event_import_of, editor):
    imp = event_import_of(
        nickname="Far future",
        schedule_kind=Import.ScheduleKind.MANUAL,
        interval_every=None,
        interval_unit="",
        created_by=editor,
    )
    factories.make_run(imp, total=4, failed=1)
    # Through the ORM, as the unbounded form did: PostgreSQL stores 10000-01-01 04:00 UTC.
    far = datetime(9999, 12, 31, 23, 0, tzinfo=ZoneInfo("America/New_York"))
    Import.objects.filter(pk=imp.pk).update(manual_run_at=far, next_run_at=far)
    imp.refresh_from_db()
    return imp


@postgres_store
def test_out_of_range_value_loads_as_far_future_and_never_runs(far_import):
    assert far_import.manual_run_at == FAR_FUTURE
    assert next_run_after(far_import, datetime(2030, 1, 1, tzinfo=UTC)) is None
    assert "after the year 2999" in stored_schedule_problem(far_import)


@postgres_store
def test_no_page_answers_500_for_a_stored_year_10000(client, superuser, far_import):
    client.force_login(superuser)
    code = far_import.code
    gets = [
        reverse("imports-listing"),
        reverse("imports-partners"),
        reverse("stats-overview", args=[code]),
        reverse("stats-stats", args=[code]),
        reverse("stats-export", args=[code]),
        reverse("imports-duplicate", args=[code]),
        *(reverse("imports-wizard", args=[code, s]) for s in ("source", "mapping", "dry-run")),
        reverse("imports-wizard", args=[code, "schedule"]),
        reverse("admin:imports_import_change", args=[far_import.pk]),
        reverse("admin:imports_import_changelist"),
    ]
    for url in gets:
        response = client.get(url)
        assert response.status_code == 200, url
    posts = ["imports-pause", "imports-stop", "imports-run-now", "imports-resume"]
    for name in posts:
        response = client.post(reverse(name, args=[code]))
        assert response.status_code in (200, 302), name
    response = client.post(reverse("imports-duplicate", args=[code]), {"nickname": "Far copy"})
    assert response.status_code == 302


@postgres_store
def test_overview_and_wizard_say_the_stored_time_is_out_of_range(editor_client, far_import):
    overview = editor_client.get(reverse("stats-overview", args=[far_import.code])).content
    assert "Manually Trigger (stored run-once time out of range)" in overview.decode()
    assert "<dt>Next run</dt><dd>out of range</dd>" in overview.decode()
    wizard = editor_client.get(reverse("imports-wizard", args=[far_import.code, "schedule"]))
    body = wizard.content.decode()
    assert "The stored “run once at” time is after the year 2999" in body


@postgres_store
def test_saving_the_schedule_again_replaces_the_out_of_range_time(editor_client, far_import):
    response = editor_client.post(
        reverse("imports-wizard", args=[far_import.code, "schedule"]),
        {**manual_schedule(""), "save": "1"},
    )
    assert response.status_code == 302
    far_import.refresh_from_db()
    assert far_import.manual_run_at is None
    assert stored_schedule_problem(far_import) == ""


@postgres_store
def test_far_past_value_loads_too(far_import):
    Import.objects.filter(pk=far_import.pk).update(manual_run_at=None)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE imports_import SET next_run_at = '0044-03-15 00:00:00+00 BC' WHERE id = %s",
            [far_import.pk],
        )
    far_import.refresh_from_db()
    assert far_import.next_run_at.year == 1


@postgres_store
def test_interval_schedule_restarts_from_now_after_a_far_future_slot(far_import):
    far_import.schedule_kind = Import.ScheduleKind.INTERVAL
    far_import.interval_every, far_import.interval_unit = 30, Import.IntervalUnit.MINUTES
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert far_import.next_run_at == FAR_FUTURE
    assert next_run_after(far_import, now) == datetime(2030, 1, 1, 0, 30, tzinfo=UTC)
    assert "next run time is after the year 2999" in stored_schedule_problem(far_import)
