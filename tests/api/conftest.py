"""Fixtures of the API tests: a real token for every role, a client that sends one, and an
import with runs and records in every state the endpoints distinguish."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from api import tokens
from imports.models import Import, ImportRun
from tests import factories

# The engine's fixtures (a DuckDB warehouse, a real Celery worker) for test_worker_api.py.
from tests.engine.conftest import (  # noqa: F401
    isolated_broker,
    start_worker,
    warehouse,
    wh_datasource,
)
from tests.stats.conftest import error, make_records

State = ImportRun.State


class ApiClient:
    """Django's test client sending `Authorization: Bearer <token>` on every request."""

    def __init__(self, token: str | None = None, client: Client | None = None) -> None:
        self.token = token
        self.client = client or Client()

    def _headers(self, headers: dict | None) -> dict:
        sent = dict(headers or {})
        if self.token:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        return sent

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, headers: dict | None = None):
        return self.client.post(path, headers=self._headers(headers))


def token_for(user, read_only: bool = False, **kwargs) -> str:
    return tokens.issue_token(user, f"{user.username} token", read_only, **kwargs)[1]


@pytest.fixture
def editor_api(editor):
    return ApiClient(token_for(editor))


@pytest.fixture
def read_only_api(editor):
    """An Editor's read-only token."""
    return ApiClient(token_for(editor, read_only=True))


@pytest.fixture
def viewer_api(viewer):
    """A Viewer's read-write token: it still acts as a Viewer."""
    return ApiClient(token_for(viewer))


@pytest.fixture
def outsider_api(outsider):
    return ApiClient(token_for(outsider))


@pytest.fixture
def anonymous_api():
    return ApiClient()


def assert_problem(response, status: int, *words: str) -> dict:
    """An RFC 9457 problem-details answer with `status`, whose detail holds each of `words`."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("tag:import-center,2026:problems/")
    assert body["title"] and body["instance"] == response.wsgi_request.path
    for word in words:
        assert word in body["detail"], body
    return body


@pytest.fixture
def imp(datasource, editor):
    return factories.make_import(
        datasource,
        nickname="Nightly profiles",
        created_by=editor,
        updated_by=editor,
        mapping={
            "sync_type": "profile",
            "identity_column": "user_id",
            "fields": [{"column": "mail", "target": "Email", "type": "String"}],
        },
    )


@pytest.fixture
def run_with_records(imp, editor):
    """A completed run of 5 records, 3 of them failed, triggered by the editor."""
    run = factories.make_run(imp, total=5, failed=3, triggered_by=editor)
    make_records(
        run,
        [
            ("u1", []),
            ("null", [error("user_id", "invalid_identity")]),
            ("u3", [error("mail", "invalid_email")]),
            ("u4", []),
            ("u5", [error("mail", "invalid_email"), error("age", "not_numeric")]),
        ],
    )
    return run


@pytest.fixture
def stopped_run(imp):
    return factories.make_run(
        imp, state=State.STOPPED, total=10, failed=1, partial=True, update_import=False
    )


@pytest.fixture
def old_run(imp):
    return factories.make_run(
        imp, created_at=timezone.now() - timedelta(days=45), update_import=False
    )


@pytest.fixture
def running_import(datasource):
    imp = factories.make_import(datasource, nickname="Busy", status=Import.Status.RUNNING)
    run = factories.make_run(imp, state=State.RUNNING, total=0, update_import=False)
    Import.objects.filter(pk=imp.pk).update(current_run=run, last_run=run)
    imp.refresh_from_db()
    return imp
