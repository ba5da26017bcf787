"""The API tokens page and `manage.py create_api_token`."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from tests import factories
from tests.api.conftest import ApiClient

PAGE = "/settings/api-tokens/"
TOKEN_RE = re.compile(r"ict_[A-Za-z0-9_-]{43}")


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_user_without_a_role_is_refused(outsider_client):
    assert outsider_client.get(PAGE).status_code == 403
    assert outsider_client.post(PAGE, {"name": "x", "access": "read"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_the_user_menu_links_to_the_page(viewer_client):
    html = viewer_client.get("/settings/partners/import-center/").content.decode()
    assert f'href="{PAGE}"' in html


def test_creating_a_token_shows_it_once(viewer_client, viewer):
    response = viewer_client.post(PAGE, {"name": "Airflow DAG", "access": "read"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    token = TOKEN_RE.search(html).group(0)
    assert "shown only once" in html
    row = ApiToken.objects.get(user=viewer)
    assert (row.name, row.access, row.expires_at) == ("Airflow DAG", "read", None)
    assert row.key_hash == tokens.hash_token(token)
    # The token works, as the viewer, and is never shown again.
    assert ApiClient(token).get("/api/v1/imports").status_code == 200
    again = viewer_client.get(PAGE).content.decode()
    assert token not in again and row.prefix in again


def test_an_expiry_date_ends_the_token_that_day(editor_client, editor):
    day = timezone.localdate() + timedelta(days=30)
    response = editor_client.post(
        PAGE, {"name": "ci", "access": "write", "expires_on": day.isoformat()}
    )
    assert response.status_code == 200
    row = ApiToken.objects.get(user=editor)
    assert row.access == "write"
    assert timezone.localtime(row.expires_at).date() == day


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "   ", "access": "read"}, "This field is required."),
        ({"name": "x", "access": "admin"}, "Select a valid choice."),
        ({"name": "x", "access": "read", "expires_on": "2001-01-01"}, "Pick today or a later day."),
        ({"name": "x", "access": "read", "expires_on": "9999-12-31"}, "within three years"),
        ({"name": "x" * 101, "access": "read"}, "at most 100 characters"),
    ],
)
def test_an_invalid_form_is_400_and_creates_nothing(editor_client, data, message):
    response = editor_client.post(PAGE, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_page_lists_only_the_users_own_tokens_with_last_use(editor_client, editor, viewer):
    mine, _ = tokens.issue_token(editor, "mine <b>", read_only=True)
    tokens.issue_token(viewer, "theirs", read_only=True)
    ApiToken.objects.filter(pk=mine.pk).update(last_used_at=timezone.now())
    html = editor_client.get(PAGE).content.decode()
    assert "mine &lt;b&gt;" in html and "theirs" not in html
    assert html.count("<time") >= 2  # created and last used


def test_revoking_a_token_needs_post_and_csrf(editor, db):
    row, token = tokens.issue_token(editor, "ci", read_only=False)
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    url = f"{PAGE}{row.code}/revoke/"
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    row.refresh_from_db()
    assert row.revoked_at is None


def test_revoking_a_token_ends_it(editor_client, editor, imp):
    row, token = tokens.issue_token(editor, "ci", read_only=False)
    response = editor_client.post(f"{PAGE}{row.code}/revoke/", follow=True)
    assert "Revoked “ci”" in response.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is not None and row.state_label == "Revoked"
    assert ApiClient(token).get("/api/v1/imports").status_code == 401


def test_a_user_cannot_revoke_anothers_token(viewer_client, editor):
    row, _ = tokens.issue_token(editor, "ci", read_only=False)
    assert viewer_client.post(f"{PAGE}{row.code}/revoke/").status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


# --- manage.py create_api_token --------------------------------------------------------------


def _create(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_prints_the_token_alone_on_its_last_line(editor, imp):
    out, _ = _create("editor", "--name", "Dagster")
    last = out.rstrip("\n").splitlines()[-1]
    assert TOKEN_RE.fullmatch(last)
    row = ApiToken.objects.get(user=editor)
    assert (row.name, row.access) == ("Dagster", "write")
    assert ApiClient(last).post(f"/api/v1/imports/{imp.code}/pause").status_code == 200


def test_the_command_makes_read_only_and_expiring_tokens(editor, imp):
    out, _ = _create("editor", "--name", "Grafana", "--read-only", "--expires-days", "7")
    token = out.splitlines()[-1]
    row = ApiToken.objects.get(user=editor)
    assert row.read_only and row.expires_at > timezone.now() + timedelta(days=6)
    assert ApiClient(token).post(f"/api/v1/imports/{imp.code}/pause").status_code == 403


def test_the_command_warns_when_the_user_has_no_role(outsider):
    _, err = _create("outsider", "--name", "x")
    assert "no role" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (("ghost", "--name", "x"), "No user named 'ghost'"),
        (("editor", "--name", "  "), "--name must be"),
        (("editor", "--name", "x", "--expires-days", "0"), "at least 1"),
    ],
)
def test_the_command_refuses_bad_input(editor, args, message):
    with pytest.raises(CommandError, match=message):
        _create(*args)
    assert not ApiToken.objects.exists()


def test_the_command_refuses_an_inactive_user(db):
    factories.make_user("gone").__class__.objects.filter(username="gone").update(is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        _create("gone", "--name", "x")
