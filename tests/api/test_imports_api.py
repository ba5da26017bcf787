"""GET /api/v1/imports (the listing's filters and sort, keyset pages) and one import."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from imports.filters import SORT_LABELS, ImportFilter
from imports.models import Import, ImportRun
from tests import factories
from tests.api.conftest import assert_problem

LIST = "/api/v1/imports"


def _walk(api, params: dict, limit: int) -> list[str]:
    """Every nickname of the list, page by page, following `next`."""
    names: list[str] = []
    cursor = None
    for _ in range(100):
        page = api.get(LIST, {**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.content
        body = page.json()
        assert len(body["items"]) <= limit
        names += [item["nickname"] for item in body["items"]]
        cursor = body["next"]
        if cursor is None:
            return names
    raise AssertionError("the pages never ended")


@pytest.fixture
def many(datasource, editor, viewer):
    """13 imports with ties, NULLs and every health band, so each sort meets them."""
    other = factories.make_datasource(name="Other", partner="snowflake")
    now = timezone.now()
    made = []
    for i in range(13):
        imp = factories.make_import(
            other if i % 3 == 0 else datasource,
            nickname=f"imp-{i % 5}-{i:02d}",
            status=[Import.Status.SCHEDULED, Import.Status.PAUSED, Import.Status.DRAFT][i % 3],
            sync_type=Import.SyncType.EVENT if i % 2 else Import.SyncType.PROFILE,
            created_by=editor if i % 4 else None,
            updated_by=viewer if i % 2 else editor,
        )
        if i % 4 == 1:
            factories.make_run(imp, total=100, failed=i, created_at=now - timedelta(hours=i % 2))
        elif i % 4 == 2:
            factories.make_run(imp, total=0)
        made.append(imp)
    # Ties on created_at, so the primary key must break them.
    Import.objects.filter(pk__in=[m.pk for m in made[:6]]).update(created_at=now)
    return made


def _listing_order(params: dict) -> list[str]:
    filterset = ImportFilter(params, queryset=Import.objects.all())
    assert filterset.is_valid()
    return list(filterset.qs.values_list("nickname", flat=True))


@pytest.mark.parametrize("sort", ["", *SORT_LABELS, *(f"-{k}" for k in SORT_LABELS)])
def test_every_sort_pages_through_all_imports_in_the_listings_order(editor_api, many, sort):
    params = {"o": sort} if sort else {}
    assert _walk(editor_api, params, limit=4) == _listing_order(params)


@pytest.mark.parametrize(
    "params",
    [
        {"partner": "snowflake"},
        {"status": "paused", "o": "-health"},
        {"sync_type": "event", "health": "none"},
        {"q": "IMP-3"},
        {"created_by": "editor", "o": "created_by"},
    ],
)
def test_the_listings_filters_narrow_the_list(editor_api, many, params):
    names = _walk(editor_api, params, limit=3)
    assert names == _listing_order(params)
    assert 0 < len(names) < len(many)


def test_the_datasource_filter_takes_a_code(editor_api, many, datasource):
    names = _walk(editor_api, {"datasource": str(datasource.code)}, limit=50)
    assert names == _listing_order({"datasource": str(datasource.code)}) and names


def test_an_item_carries_what_the_listing_row_shows(editor_api, imp, editor):
    run = factories.make_run(imp, total=1000, failed=1, triggered_by=editor)
    item = editor_api.get(LIST).json()["items"][0]
    assert item["code"] == str(imp.code)
    assert (item["nickname"], item["status"], item["partner"], item["sync_type"]) == (
        "Nightly profiles",
        "scheduled",
        "duckdb",
        "profile",
    )
    assert item["health"] == {"band": "yellow", "label": "99.90%", "percent": 99.9}
    assert item["frequency"] == "Every 15 minutes"
    assert item["datasource"] == {"code": str(imp.datasource.code), "name": imp.datasource.name}
    assert item["created_by"] == item["updated_by"] == "editor"
    assert item["last_run_at"] is not None and item["current_run"] is None
    assert item["url"] == f"/api/v1/imports/{imp.code}"
    assert item["web_url"] == f"/settings/partners/import-center/{imp.code}/"
    assert run.code  # the run gave the health


def test_the_list_costs_the_same_queries_for_more_imports(
    editor_api, datasource, django_assert_max_num_queries
):
    for i in range(3):
        factories.make_run(factories.make_import(datasource, nickname=f"a{i}"))
    editor_api.get(LIST)  # warm: the token's last-used write
    with django_assert_max_num_queries(6) as few:
        assert len(editor_api.get(LIST).json()["items"]) == 3
    for i in range(20):
        factories.make_run(factories.make_import(datasource, nickname=f"b{i}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(editor_api.get(LIST).json()["items"]) == 23


@pytest.mark.parametrize(
    "params, names",
    [
        ({"status": "exploded"}, ["status"]),
        ({"o": "colour"}, ["o"]),
        ({"limit": "0"}, ["limit"]),
        ({"limit": "201"}, ["limit"]),
        ({"limit": "ten"}, ["limit"]),
        ({"partner": "oracle", "health": "purple"}, ["health", "partner"]),
        ({"datasource": "not-a-uuid"}, ["datasource"]),
        ({"datasource": "00000000-0000-4000-8000-000000000000"}, ["datasource"]),
        ({"created_by": "nobody"}, ["created_by"]),
        ({"stauts": "paused"}, ["stauts"]),
        ({"q": "x" * 101}, ["q"]),
        ({"cursor": "forged"}, ["cursor"]),
    ],
)
def test_a_bad_query_parameter_is_400_naming_it(editor_api, imp, params, names):
    body = assert_problem(editor_api.get(LIST, params), 400, *names)
    assert [error["parameter"] for error in body["errors"]] == names
    assert all(error["messages"] for error in body["errors"])


def test_a_cursor_of_another_sort_is_400(editor_api, many):
    cursor = editor_api.get(LIST, {"o": "nickname", "limit": 2}).json()["next"]
    assert_problem(editor_api.get(LIST, {"o": "health", "cursor": cursor}), 400, "cursor")


def test_a_cursor_of_the_runs_list_is_refused_here(editor_api, imp):
    for _ in range(3):
        factories.make_run(imp)
    cursor = editor_api.get(f"/api/v1/imports/{imp.code}/runs", {"limit": 1}).json()["next"]
    assert_problem(editor_api.get(LIST, {"cursor": cursor}), 400, "cursor")


# --- One import ------------------------------------------------------------------------------


def test_one_import_with_schedule_mapping_health_and_runs(editor_api, imp, editor):
    done = factories.make_run(imp, total=10, failed=0, triggered_by=editor)
    body = editor_api.get(f"/api/v1/imports/{imp.code}").json()
    assert body["nickname"] == "Nightly profiles" and body["health"]["label"] == "100%"
    assert body["schedule"]["kind"] == "interval"
    assert body["schedule"]["description"] == "Every 15 minutes"
    assert (body["schedule"]["interval_every"], body["schedule"]["interval_unit"]) == (
        15,
        "minutes",
    )
    assert body["mapping"]["identity_column"] == "user_id"
    assert body["mapping"]["fields"] == [
        {"column": "mail", "target": "Email", "type": "String", "date_format": ""}
    ]
    assert body["health_run"]["code"] == str(done.code)
    assert body["last_run"]["trigger_label"] == "Schedule by editor"
    assert body["current_run_detail"] is None
    assert body["runs_url"] == f"/api/v1/imports/{imp.code}/runs"


def test_a_running_import_shows_its_current_run(editor_api, running_import):
    body = editor_api.get(f"/api/v1/imports/{running_import.code}").json()
    assert body["status"] == "running"
    assert body["current_run"] == body["current_run_detail"]["code"]
    assert body["current_run_detail"]["state"] == ImportRun.State.RUNNING
    assert body["current_run_detail"]["duration_seconds"] >= 0


def test_an_unknown_or_malformed_code_is_404(editor_api, db):
    assert_problem(
        editor_api.get("/api/v1/imports/00000000-0000-4000-8000-000000000000"), 404, "No import"
    )
    assert_problem(editor_api.get("/api/v1/imports/42"), 404)


def test_a_query_parameter_on_one_import_is_400(editor_api, imp):
    assert_problem(editor_api.get(f"/api/v1/imports/{imp.code}", {"expand": "runs"}), 400, "expand")
