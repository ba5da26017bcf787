"""Step 1 "Save and continue" reads the source the way Mapping will, and says what is wrong."""

from __future__ import annotations

import pytest
from django.urls import reverse

from imports.models import Import

BAD_SOURCES = [
    ("no_such_table", "no_such_table"),
    ("SELECT user_id, FROM events WHERE", "SELECT user_id, FROM events WHERE"),
    ("SELECT * FROM events WHERE event_name = '100%' AND \"x\" = 1", "100%"),
]


def source_post(duck, source: str, button: str = "next", nickname: str = "Checked") -> dict:
    return {
        "nickname": nickname,
        "datasource": str(duck.code),
        "source_kind": "table",
        "source": source,
        button: "1",
    }


@pytest.mark.parametrize("source, typed", BAD_SOURCES)
def test_create_with_unreadable_source_stays_on_step_one(editor_client, duck, source, typed):
    response = editor_client.post(reverse("imports-create"), source_post(duck, source))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_source_errors"' in body
    assert "The warehouse could not read this source:" in body
    # What the user typed is still in the form (escaped as HTML), nothing was saved.
    assert typed.replace("'", "&#x27;").replace('"', "&quot;") in body
    assert not Import.objects.filter(nickname="Checked").exists()


def test_create_with_readable_source_advances_to_mapping(editor_client, duck):
    response = editor_client.post(reverse("imports-create"), source_post(duck, "events"))
    assert response.status_code == 302
    imp = Import.objects.get(nickname="Checked")
    assert response["Location"] == reverse("imports-wizard", args=[imp.code, "mapping"])


def test_save_as_draft_keeps_an_unreadable_source(editor_client, duck):
    response = editor_client.post(
        reverse("imports-create"), source_post(duck, "no_such_table", button="draft")
    )
    assert response.status_code == 302
    assert Import.objects.get(nickname="Checked").source == "no_such_table"


def test_edit_with_unreadable_source_keeps_the_saved_one(editor_client, draft, duck):
    url = reverse("imports-wizard", args=[draft.code, "source"])
    response = editor_client.post(url, source_post(duck, "SELECT FROM", nickname=draft.nickname))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_source_errors"' in body and "SELECT FROM" in body
    draft.refresh_from_db()
    assert draft.source == "events"


def test_unreachable_warehouse_is_reported_on_the_source(editor_client, duck, tmp_path):
    duck.settings = {"path": str(tmp_path / "missing" / "nowhere.duckdb")}
    duck.save()
    response = editor_client.post(reverse("imports-create"), source_post(duck, "events"))
    assert response.status_code == 200
    assert 'id="id_source_errors"' in response.content.decode()
