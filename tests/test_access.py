"""One order of access checks for every view with a code in its URL (imports.access):
a user with no role gets 403 whether the code exists or not; a Viewer or Editor gets 404 for an
unknown code; a Viewer gets 403 for changing a known object."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from tests import factories

# (URL name, method) of every view that changes an import.
RW_IMPORT_VIEWS = [
    ("imports-pause", "post"),
    ("imports-resume", "post"),
    ("imports-stop", "post"),
    ("imports-cancel-run", "post"),
    ("imports-run-now", "post"),
    ("imports-delete", "post"),
    ("imports-edit", "get"),
    ("imports-schedule-preview", "post"),
    ("imports-duplicate", "get"),
]
RW_DATASOURCE_VIEWS = [
    ("datasources-edit", "get"),
    ("datasources-delete", "post"),
    ("datasources-test", "post"),
]
READ_IMPORT_VIEWS = ["stats-overview", "stats-stats", "stats-export"]
READ_RUN_VIEWS = ["stats-run-detail", "stats-run-row", "stats-run-failed-export"]


@pytest.fixture
def imp(datasource):
    return factories.make_import(datasource, "Nightly users")


def _status(client, method: str, name: str, *args) -> int:
    return getattr(client, method)(reverse(name, args=args)).status_code


@pytest.mark.parametrize("name,method", RW_IMPORT_VIEWS + RW_DATASOURCE_VIEWS)
def test_outsider_gets_403_for_known_and_unknown_codes(
    outsider_client, datasource, imp, name, method
):
    known = datasource.code if name.startswith("datasources") else imp.code
    assert _status(outsider_client, method, name, known) == 403
    assert _status(outsider_client, method, name, uuid.uuid4()) == 403


@pytest.mark.parametrize("name,method", RW_IMPORT_VIEWS + RW_DATASOURCE_VIEWS)
def test_viewer_gets_404_for_unknown_and_403_for_known_codes(
    viewer_client, datasource, imp, name, method
):
    known = datasource.code if name.startswith("datasources") else imp.code
    assert _status(viewer_client, method, name, uuid.uuid4()) == 404
    assert _status(viewer_client, method, name, known) == 403


@pytest.mark.parametrize("name", READ_IMPORT_VIEWS)
def test_outsider_gets_403_for_an_unknown_import_on_read_pages(outsider_client, db, name):
    assert _status(outsider_client, "get", name, uuid.uuid4()) == 403


@pytest.mark.parametrize("name", READ_RUN_VIEWS)
def test_outsider_gets_403_for_an_unknown_run(outsider_client, db, name):
    assert _status(outsider_client, "get", name, uuid.uuid4(), uuid.uuid4()) == 403


@pytest.mark.parametrize("name", READ_RUN_VIEWS)
def test_viewer_gets_404_for_an_unknown_import_or_run(viewer_client, imp, name):
    assert _status(viewer_client, "get", name, uuid.uuid4(), uuid.uuid4()) == 404
    assert _status(viewer_client, "get", name, imp.code, uuid.uuid4()) == 404
