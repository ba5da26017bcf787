"""Mapping a wide source: 1,000 columns map through the view; a source wider than the
documented maximum is refused before the user fills the form."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from imports.forms import ColumnMappingForm, MappingForm
from imports.models import Import

WIDTH = 1_000


def wide_columns(width: int = WIDTH) -> list[str]:
    # A 100-character name without spaces among them, as warehouses generate.
    return ["user_id", "x" * 100, *(f"attr_{i:04d}" for i in range(width - 2))]


@pytest.fixture
def wide_import(db, editor, wide_draft_of):
    return wide_draft_of(wide_columns(), [("u1", "v")], created_by=editor)


def browser_post(columns: list[str]) -> dict:
    """What the Mapping form posts for these columns: every row included, as pre-filled."""
    data = {
        "csrfmiddlewaretoken": "x",
        "sync_type": "profile",
        "identity_column": "user_id",
        "identity_kind": "identity",
        "event_name_column": "",
        "timestamp_column": "",
        "incremental_column": "",
        "col-TOTAL_FORMS": str(len(columns)),
        "col-INITIAL_FORMS": str(len(columns)),
        "col-MIN_NUM_FORMS": "0",
        "col-MAX_NUM_FORMS": str(len(columns)),
        "next": "1",
    }
    for i, column in enumerate(columns):
        data[f"col-{i}-column"] = column
        data[f"col-{i}-include"] = "on"
        data[f"col-{i}-target"] = column
        data[f"col-{i}-data_type"] = "string"
        data[f"col-{i}-date_format"] = ""
    return data


def save_and_continue_source(client, imp: Import):
    """Step 1 posted again as saved, with "Save and continue" (which reads the columns)."""
    data = {
        "nickname": imp.nickname,
        "datasource": str(imp.datasource.code),
        "source_kind": imp.source_kind,
        "source": imp.source,
        "next": "1",
    }
    return client.post(reverse("imports-wizard", args=[imp.code, "source"]), data)


def test_a_1000_column_source_is_mapped_end_to_end(editor_client, wide_import):
    url = reverse("imports-wizard", args=[wide_import.code, "mapping"])
    page = editor_client.get(url).content.decode()
    assert len(re.findall(r'name="col-\d+-column"', page)) == WIDTH  # one row per column
    assert 'name="col-999-target"' in page
    assert "(1,000 of at most 2,000)" in page
    data = browser_post(wide_columns())
    assert len(data) > 5_000  # five times Django's default limit
    response = editor_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:500]
    wide_import.refresh_from_db()
    assert wide_import.identity_column == "user_id"
    fields = wide_import.mapping["fields"]
    assert len(fields) == WIDTH
    assert fields[1] == {
        "column": "x" * 100,
        "target": "x" * 100,
        "type": "String",
        "date_format": None,
    }


def test_the_field_limit_covers_the_widest_mappable_source():
    header = len(MappingForm.base_fields) + 4 + 2  # management form, CSRF, the button
    widest = settings.IMPORT_MAX_MAPPING_COLUMNS * len(ColumnMappingForm.base_fields) + header
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS >= widest


def test_a_source_wider_than_the_maximum_is_refused_up_front(
    editor_client, wide_import, settings, duck
):
    settings.IMPORT_MAX_MAPPING_COLUMNS = 500
    body = editor_client.get(reverse("imports-wizard", args=[wide_import.code, "mapping"]))
    text = body.content.decode()
    assert "The source has 1,000 columns; Import Center maps at most 500." in text
    assert 'name="col-TOTAL_FORMS"' not in text
    # Step 1 says so too, on the source field, before a draft is saved.
    response = save_and_continue_source(editor_client, wide_import)
    assert response.status_code == 200
    assert "The source has 1,000 columns" in response.content.decode()


def test_wide_mapping_page_as_viewer_and_anonymous(client, viewer, wide_import):
    url = reverse("imports-wizard", args=[wide_import.code, "mapping"])
    assert client.get(url).status_code == 302
    client.force_login(viewer)
    assert client.get(url).status_code == 403


def test_a_source_with_two_columns_of_one_name_is_refused(
    editor_client, wide_import, duck, monkeypatch
):
    # Issue 15: each row is a dict, so the later "id" silently replaced the earlier one.
    # PostgreSQL keeps both names (SELECT 1 AS id, 2 AS id); DuckDB renames the second to id_1,
    # so its connector here answers as PostgreSQL would.
    from connectors.base import Column
    from connectors.duckdb import DuckDBConnector

    doubled = [Column("user_id", "VARCHAR"), Column("id", "INTEGER"), Column("id", "INTEGER")]
    monkeypatch.setattr(DuckDBConnector, "columns", lambda self, source: doubled)
    url = reverse("imports-wizard", args=[wide_import.code, "mapping"])
    text = editor_client.get(url).content.decode()
    assert "The source has more than one column named “id”." in text
    assert 'name="col-TOTAL_FORMS"' not in text
    # A POST of a mapping is refused the same way: nothing is saved.
    response = editor_client.post(url, browser_post(["user_id", "id", "id"]))
    assert response.status_code == 200
    assert "more than one column named “id”" in response.content.decode()
    wide_import.refresh_from_db()
    assert not wide_import.identity_column
    # Step 1 says so on the source field.
    response = save_and_continue_source(editor_client, wide_import)
    assert response.status_code == 200
    assert "The source has more than one column named “id”." in response.content.decode()
