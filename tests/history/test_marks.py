"""Changes meet runs: the configuration version each run records, the Stats table's notes under
the first run after a change (linked to the change), the source-columns notes, the trend's
markers and the headline naming a change that coincides with a fall."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from history import marks
from imports import audit, runs, services
from imports.models import Import, ImportRun
from imports.schema import SchemaChange
from stats.charts import _when
from tests import factories

pytestmark = pytest.mark.django_db
State = ImportRun.State

MAPPING = {
    "sync_type": "profile",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "fields": [{"column": "email", "target": "Email", "type": "String", "date_format": None}],
}
RETYPED = SchemaChange(retyped=(("signup_date", "DATE", "VARCHAR"),)).to_json()


def ago(hours: float):
    return timezone.now() - timedelta(hours=hours)


@pytest.fixture(autouse=True)
def _utc(settings):
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def imp(datasource):
    return factories.make_import(datasource, nickname="Profiles", mapping=MAPPING)


def edit_mapping(imp: Import, target: str, user=None) -> None:
    imp.refresh_from_db()
    imp.mapping = {**MAPPING, "fields": [{**MAPPING["fields"][0], "target": target}]}
    with audit.from_command("test", actor=user):
        imp.save()


def triggered(imp: Import, hours: float, total=1000, failed=0, state=State.COMPLETED, **kw):
    """A run as the engine triggers it (recording the version), then finished."""
    imp.refresh_from_db()
    kw.setdefault("source_columns", [["email", "VARCHAR"]] if state != State.SKIPPED else None)
    run = runs.trigger_run(imp, now=ago(hours), enqueue=lambda run_id: None)
    ImportRun.objects.filter(pk=run.pk).update(
        state=state,
        total=total,
        successful=total - failed,
        failed=failed,
        started_at=ago(hours),
        finished_at=ago(hours),
        **kw,
    )
    Import.objects.filter(pk=imp.pk).update(current_run=None)
    run.refresh_from_db()
    return run


def test_each_run_records_the_configuration_version_it_started_with(imp, datasource, editor):
    first = triggered(imp, 5)
    created = first.config_change_id
    assert created is not None  # the import's creation
    second = triggered(imp, 4)
    assert second.config_change_id == created
    services.pause_import(imp, editor)  # not a run setting: no new version
    imp.refresh_from_db()
    services.resume_import(imp, editor)
    assert triggered(imp, 3.5).config_change_id == created
    edit_mapping(imp, "Email 2")
    third = triggered(imp, 3)
    assert third.config_change_id > created
    datasource.set_secret({"password": "new"})
    datasource.save()
    assert triggered(imp, 2).config_change_id > third.config_change_id


def test_stats_marks_the_first_run_after_a_change_and_links_to_it(viewer_client, imp, editor):
    triggered(imp, 6)
    triggered(imp, 5)
    edit_mapping(imp, "Email 2", user=editor)
    first_after = triggered(imp, 4, failed=300)
    triggered(imp, 3)
    response = viewer_client.get(reverse("stats-stats", args=[imp.code]))
    body = response.content.decode()
    assert body.count('class="run-notes"') == 1
    notes = body.split('class="run-notes"')[1].split("</tbody>")[0]
    assert f'id="notes-{first_after.code}"' in body
    assert "First run after a change:" in notes
    change_id = ImportRun.objects.get(pk=first_after.pk).config_change_id
    url = reverse("history-import", args=[imp.code]) + f"?upto={change_id}#change-{change_id}"
    assert f'<a href="{url}">the mapping was edited</a> by editor' in notes
    # The note sits right under its run's row.
    assert body.index(f'id="run-{first_after.code}"') < body.index(f'id="notes-{first_after.code}"')
    # The link opens the History tab at that change.
    history = viewer_client.get(url).content.decode()
    assert f'id="change-{change_id}"' in history
    assert "email: target Email → Email 2" in history


def test_skipped_runs_are_passed_over(viewer_client, imp):
    triggered(imp, 6)
    edit_mapping(imp, "Email 2")
    skipped = triggered(imp, 5, state=State.SKIPPED, total=0)
    first_after = triggered(imp, 4)
    body = viewer_client.get(reverse("stats-stats", args=[imp.code])).content.decode()
    assert f'id="notes-{first_after.code}"' in body
    assert f'id="notes-{skipped.code}"' not in body


def test_the_first_run_of_a_page_compares_with_the_run_before_the_page(viewer_client, imp):
    for i in range(3):
        triggered(imp, 100 - i)
    edit_mapping(imp, "Email 2")
    first_after = triggered(imp, 90)
    for i in range(50):  # first_after is the oldest run of page 1... of page 2 here
        triggered(imp, 80 - i)
    page2 = viewer_client.get(reverse("stats-stats", args=[imp.code]) + "?page=2")
    assert f'id="notes-{first_after.code}"' in page2.content.decode()
    page1 = viewer_client.get(reverse("stats-stats", args=[imp.code]))
    assert 'class="run-notes"' not in page1.content.decode()


def test_source_columns_note(viewer_client, imp):
    triggered(imp, 3)
    changed = triggered(imp, 2, schema_change=RETYPED)
    body = viewer_client.get(reverse("stats-stats", args=[imp.code])).content.decode()
    notes = body.split(f'id="notes-{changed.code}"')[1].split("</tbody>")[0]
    assert "Source columns changed since the previous run:" in notes
    assert "`signup_date`: DATE → VARCHAR" in notes


def test_stats_page_stays_within_its_query_budget(viewer_client, imp, datasource):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(40):
        if i % 10 == 5:
            edit_mapping(imp, f"Email {i}")
            datasource.set_secret({"password": f"p{i}"})
            datasource.save()
        triggered(imp, 60 - i, schema_change=RETYPED if i % 7 == 3 else None)
    with CaptureQueriesContext(connection) as ctx:
        body = viewer_client.get(reverse("stats-stats", args=[imp.code])).content.decode()
    assert body.count('class="run-notes"') >= 4
    assert body.count("data-marker=") >= 4  # the trend (not cached yet) has its markers
    assert len(ctx.captured_queries) <= 10


# --- The trend ------------------------------------------------------------------------------


def test_trend_markers_and_the_headline_name_the_change_at_a_fall(viewer_client, imp, editor):
    for i in range(4):
        triggered(imp, 10 - i, failed=43)  # 95.70%
    edit_mapping(imp, "Email 2", user=editor)
    fell = triggered(imp, 5, failed=3508, total=10000, schema_change=RETYPED)  # 64.92%
    triggered(imp, 4, failed=40)
    body = viewer_client.get(reverse("stats-stats", args=[imp.code])).content.decode()
    assert (
        f"to 64.92% on {_when(fell.created_at)}, the first run after the mapping was edited "
        "and the source column `signup_date` changed type from DATE to VARCHAR"
    ) in body
    assert body.count('class="marker ') == 1
    marker = body.split('class="marker ')[1].split("</g>")[0]
    assert 'data-marker="mapping schema"' in marker
    assert "the mapping was edited by editor on" in marker
    assert "changed type from DATE to VARCHAR" in marker
    assert "configuration changed (mapping, source)" in body  # the legend


def test_a_change_before_a_run_without_percentage_is_after_not_first(imp):
    """A stopped run came between the change and the fall: the fall's run is not the first
    run after the change, and the headline does not say it is."""
    for i in range(3):
        triggered(imp, 10 - i, failed=43)
    edit_mapping(imp, "Email 2")
    triggered(imp, 6, state=State.STOPPED, total=10)
    triggered(imp, 5, failed=3508, total=10000)
    trend = marks.trend_with_changes(imp, 30)
    assert len(trend.changes) == 1 and trend.changes[0].kinds == ("mapping",)
    summary = trend.summary
    assert ", after the mapping was edited." in summary
    assert "first run after" not in summary


def test_a_schema_change_after_a_run_that_read_nothing_is_not_called_first(imp):
    """A failed run that never read the source came between: the columns may have changed
    before it, so the next run is only "after" the change."""
    for i in range(3):
        triggered(imp, 10 - i, failed=43)
    triggered(imp, 6, state=State.FAILED, total=0, source_columns=None)  # read nothing
    triggered(imp, 5, failed=3508, total=10000, schema_change=RETYPED)
    trend = marks.trend_with_changes(imp, 30)
    [change] = trend.changes
    assert change.exact is False
    summary = trend.summary
    assert ", after the source column `signup_date` changed type from DATE to VARCHAR" in summary


def test_the_trend_takes_health_over_the_records_not_already_imported(imp):
    # 1,000 read, 600 already imported, 360 of the 400 new ones imported: 90.00%, as the Stats
    # table says, not 36% (successful over every row read).
    run = triggered(imp, 3, total=1000, failed=40)
    ImportRun.objects.filter(pk=run.pk).update(successful=360, already_imported=600)
    rows, _ = marks.trend_runs(imp)
    assert [(total, ok) for _, total, ok in rows] == [(400, 360)]
    run.refresh_from_db()
    assert (run.total - run.already_imported, run.successful) == (400, 360)
