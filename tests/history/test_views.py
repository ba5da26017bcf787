"""The History tabs of an import and of a datasource: access, what they show, paging."""

from __future__ import annotations

import pytest
from django.urls import reverse

from imports import audit
from tests import factories
from tests.setup.test_datasources import SECRET, _pg

pytestmark = pytest.mark.django_db

MAPPING = {
    "sync_type": "profile",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "fields": [{"column": "email", "target": "Email", "type": "String", "date_format": None}],
}


@pytest.fixture
def imp(datasource):
    return factories.make_import(datasource, nickname="Profiles", mapping=MAPPING)


def import_url(imp) -> str:
    return reverse("history-import", args=[imp.code])


def datasource_url(ds) -> str:
    return reverse("history-datasource", args=[ds.code])


def test_anonymous_is_sent_to_sign_in(client, imp, datasource):
    for url in (import_url(imp), datasource_url(datasource)):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_outsider_gets_403_known_or_not(outsider_client, imp, datasource):
    for url in (import_url(imp), datasource_url(datasource)):
        assert outsider_client.get(url).status_code == 403
    unknown = "00000000-0000-0000-0000-000000000000"
    assert outsider_client.get(reverse("history-import", args=[unknown])).status_code == 403


def test_unknown_codes_are_404(viewer_client):
    unknown = "00000000-0000-0000-0000-000000000000"
    assert viewer_client.get(reverse("history-import", args=[unknown])).status_code == 404
    assert viewer_client.get(reverse("history-datasource", args=[unknown])).status_code == 404


@pytest.mark.parametrize("upto", ["0", "-3", "abc"])
def test_a_bad_page_is_400(viewer_client, imp, upto):
    assert viewer_client.get(import_url(imp) + f"?upto={upto}").status_code == 400


def test_the_import_history_shows_its_changes_and_its_datasources_newest_first(
    viewer_client, imp, datasource, editor
):
    imp.mapping = {**MAPPING, "fields": [{**MAPPING["fields"][0], "target": "Email 2"}]}
    with audit.from_command("test", actor=editor):
        imp.save()
    datasource.set_secret({"password": SECRET})
    datasource.save()
    response = viewer_client.get(import_url(imp))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'aria-current="page">History</a>' in body
    ds_change = body.index(f"Changed datasource “{datasource.name}”")
    mapping_change = body.index("email: target Email → Email 2")
    created = body.index("Created the import")
    assert ds_change < mapping_change < created  # newest first
    assert 'by <span class="change-who">editor</span>, with the test command' in body
    assert "secrets are never shown" in body
    assert SECRET not in body and datasource.secret_encrypted not in body


def test_the_datasource_history_and_its_links(viewer_client, editor_client, editor):
    ds = _pg(editor)
    body = viewer_client.get(datasource_url(ds)).content.decode()
    assert f"History of datasource “{ds.name}”" in body
    assert "Credentials" in body and "set" in body
    assert SECRET not in body
    listing = viewer_client.get(reverse("datasources-list")).content.decode()
    assert f'href="{datasource_url(ds)}"' in listing
    edit = editor_client.get(reverse("datasources-edit", args=[ds.code])).content.decode()
    assert f'href="{datasource_url(ds)}"' in edit


def test_history_pages_by_entry_and_opens_at_a_change(viewer_client, imp, settings):
    from history import views

    for i in range(views.PAGE_SIZE + 5):
        imp.nickname = f"Profiles {i}"
        imp.save()
    body = viewer_client.get(import_url(imp)).content.decode()
    assert body.count('class="card change"') == views.PAGE_SIZE
    assert "Profiles 54" in body and "Older changes →" in body
    upto = int(body.split("?upto=")[1].split('"')[0])
    page2 = viewer_client.get(import_url(imp) + f"?upto={upto}").content.decode()
    # The 5 renames left, the import's creation and its datasource's.
    assert page2.count('class="card change"') == 7
    assert "← Newest changes" in page2 and "Older changes" not in page2


def test_every_tab_links_to_the_history(viewer_client, imp):
    for name in ("stats-overview", "stats-stats"):
        body = viewer_client.get(reverse(name, args=[imp.code])).content.decode()
        assert f'href="{import_url(imp)}"' in body
