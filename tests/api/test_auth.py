"""Who may call the API: tokens (unknown, revoked, expired, read-only, per role) and the
browser's session with CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from tests.api.conftest import ApiClient, assert_problem, token_for


def test_anonymous_gets_401_with_a_bearer_challenge(anonymous_api, imp):
    response = anonymous_api.get("/api/v1/imports")
    assert_problem(response, 401, "API token")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["nonsense", "ict_" + "x" * 43, "ict_"])
def test_an_unknown_token_is_401(token, db):
    assert_problem(ApiClient(token).get("/api/v1/imports"), 401, "unknown, revoked or expired")


def test_a_revoked_token_stops_working_at_once(editor, imp):
    row, token = tokens.issue_token(editor, "ci", read_only=False)
    assert ApiClient(token).get("/api/v1/imports").status_code == 200
    assert tokens.revoke(row)
    assert_problem(ApiClient(token).get("/api/v1/imports"), 401)


def test_an_expired_token_is_401(editor, imp):
    token = token_for(editor, expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(ApiClient(token).get("/api/v1/imports"), 401)


def test_the_token_of_a_deactivated_user_is_401(editor, imp):
    token = token_for(editor)
    editor.is_active = False
    editor.save()
    assert_problem(ApiClient(token).get("/api/v1/imports"), 401)


def test_a_bad_token_is_401_even_with_a_signed_in_session(editor_client, imp):
    api = ApiClient("ict_wrong", client=editor_client)
    assert_problem(api.get("/api/v1/imports"), 401)


def test_only_the_hash_of_a_token_is_stored(editor):
    row, token = tokens.issue_token(editor, "ci", read_only=True)
    stored = ApiToken.objects.values_list("name", "prefix", "key_hash", "access", named=True).get(
        pk=row.pk
    )
    assert token not in repr(stored)
    assert stored.key_hash == tokens.hash_token(token) and len(stored.key_hash) == 64
    assert token.startswith(stored.prefix) and len(stored.prefix) < len(token) // 3


def test_a_request_marks_the_token_used_at_most_once_a_minute(
    editor, imp, django_assert_num_queries
):
    row, token = tokens.issue_token(editor, "ci", read_only=False)
    api = ApiClient(token)
    assert api.get("/api/v1/imports").status_code == 200
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None and timezone.now() - first < timedelta(minutes=1)
    api.get("/api/v1/imports")
    row.refresh_from_db()
    assert row.last_used_at == first  # within the minute: no write
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=first - timedelta(minutes=2))
    api.get("/api/v1/imports")
    row.refresh_from_db()
    assert row.last_used_at > first


def test_an_outsider_token_is_403_for_known_and_unknown_codes(outsider_api, imp):
    for path in (
        f"/api/v1/imports/{imp.code}",
        "/api/v1/imports/00000000-0000-4000-8000-000000000000",
    ):
        body = assert_problem(outsider_api.get(path), 403, "no role")
        assert body["type"].endswith("/no-role")


def test_a_viewer_token_reads_but_cannot_trigger(viewer_api, imp):
    assert viewer_api.get(f"/api/v1/imports/{imp.code}").status_code == 200
    body = assert_problem(viewer_api.post(f"/api/v1/imports/{imp.code}/runs"), 403, "Editor role")
    assert body["type"].endswith("/editor-role-required")


def test_a_read_only_token_of_an_editor_cannot_trigger(read_only_api, imp):
    assert read_only_api.get(f"/api/v1/imports/{imp.code}").status_code == 200
    body = assert_problem(read_only_api.post(f"/api/v1/imports/{imp.code}/pause"), 403, "read-only")
    assert body["type"].endswith("/read-only-token")


# --- The browser's session -------------------------------------------------------------------


@pytest.fixture
def csrf_client(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    return client


def test_a_signed_in_browser_reads_with_its_session(csrf_client, imp):
    response = csrf_client.get("/api/v1/imports")
    assert response.status_code == 200
    assert [item["nickname"] for item in response.json()["items"]] == ["Nightly profiles"]


def test_a_session_post_without_the_csrf_token_is_403(csrf_client, imp):
    body = assert_problem(csrf_client.post(f"/api/v1/imports/{imp.code}/pause"), 403, "CSRF")
    assert body["type"].endswith("/csrf-failed")
    imp.refresh_from_db()
    assert imp.status == "scheduled"


def test_a_session_post_with_the_csrf_header_acts(csrf_client, imp):
    csrf_client.get("/settings/api-tokens/")  # any page sets the csrftoken cookie
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(f"/api/v1/imports/{imp.code}/pause", headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.content
    imp.refresh_from_db()
    assert imp.status == "paused"


def test_a_token_needs_no_csrf_token(editor, imp):
    client = Client(enforce_csrf_checks=True)
    response = ApiClient(token_for(editor), client=client).post(f"/api/v1/imports/{imp.code}/pause")
    assert response.status_code == 200
