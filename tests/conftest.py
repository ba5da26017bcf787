"""Shared fixtures: users of every role, signed-in clients, and small model factories.

Tests marked `postgres` / `redis` need those servers. They skip when the server is absent,
unless `CI` is set: in CI a missing service is a failure, never a silent skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from urllib.parse import urlparse

import pytest
from django.db import connections

from tests import factories


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    in_ci = bool(os.environ.get("CI"))
    postgres_url = os.environ.get(
        "TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    if not redis_url.startswith("redis"):
        redis_url = "redis://127.0.0.1:6379/0"
    checks = {
        "postgres": lambda: _reachable(postgres_url, 5432),
        "redis": lambda: _reachable(redis_url, 6379),
        "browser": lambda: (
            shutil.which("chromium") is not None or os.path.exists("/usr/bin/chromium")
        ),
    }
    answers: dict[str, bool] = {}
    for item in items:
        for marker, check in checks.items():
            if marker in item.keywords:
                if marker not in answers:
                    answers[marker] = check()
                # Conditional: under CI a missing service must fail the run, never skip it.
                item.add_marker(
                    pytest.mark.skipif(
                        not answers[marker] and not in_ci, reason=f"{marker} not available here"
                    )
                )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skipped test is a failure: CI must run every test it has."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"Skipped under CI, which must run every test: {reason}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The default hasher costs ~0.5 s per user; tests check roles, not hashing strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _duckdb_reads_test_folders(settings, tmp_path_factory):
    # The warehouses of tests are DuckDB files in pytest's temporary folders, outside var/.
    settings.DUCKDB_ALLOWED_ROOTS = [
        *settings.DUCKDB_ALLOWED_ROOTS,
        str(tmp_path_factory.getbasetemp().resolve()),
    ]


@pytest.fixture
def editor(db):
    return factories.make_user("editor", role="Editor")


@pytest.fixture
def viewer(db):
    return factories.make_user("viewer", role="Viewer")


@pytest.fixture
def outsider(db):
    return factories.make_user("outsider", role=None)


@pytest.fixture
def superuser(db):
    return factories.make_user("root", role=None, superuser=True)


def _client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def editor_client(client, editor):
    return _client_for(client, editor)


@pytest.fixture
def viewer_client(client, viewer):
    return _client_for(client, viewer)


@pytest.fixture
def outsider_client(client, outsider):
    return _client_for(client, outsider)


@pytest.fixture
def datasource(db, editor):
    return factories.make_datasource(created_by=editor)


# --- Browser tests (Playwright, headless Chromium) ---------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="session")
def _chromium():
    """One headless Chromium for the whole session, and the event loop Playwright drives it on.

    Playwright's sync API marks its loop as this thread's running loop after every call. Left
    so, every later test in the process would look async to Django (SynchronousOnlyOperation,
    and connections kept apart per context): the loop is marked only while a test uses the
    browser (see `browser`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        loop = asyncio.get_running_loop()
        asyncio._set_running_loop(None)
        yield chromium, loop
        asyncio._set_running_loop(loop)
        chromium.close()
    asyncio._set_running_loop(None)


@pytest.fixture
def browser(_chromium, monkeypatch):
    """The session's Chromium, for this test."""
    chromium, loop = _chromium
    # The test's ORM calls are plain blocking calls made between browser steps, never from
    # inside the loop's callbacks; Django only sees a running loop.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    asyncio._set_running_loop(loop)
    yield chromium
    # Django's connections opened while the loop was marked running belong to that context, and
    # nothing else would close them: PostgreSQL could not drop the test database at the end.
    connections.close_all()
    asyncio._set_running_loop(None)


@pytest.fixture
def browser_context_args() -> dict:
    """Options of the page's browser context; a module overrides this fixture for its own."""
    return {"viewport": {"width": 1400, "height": 900}}


@pytest.fixture
def page(browser, browser_context_args, live_server):
    """A fresh page (its own cookies) in the session's Chromium, for the live server."""
    context = browser.new_context(base_url=live_server.url, **browser_context_args)
    yield context.new_page()
    context.close()


@pytest.fixture
def role_groups_survive_flush(django_db_blocker):
    """A transactional test ends with a flush, which also removes the role groups that a data
    migration created; put them back so later tests in this process still find them.
    Request it before `transactional_db` (first), so this teardown runs after the flush."""
    from django.contrib.auth.models import Group

    from imports.roles import EDITOR_GROUP, VIEWER_GROUP

    yield
    with django_db_blocker.unblock():
        for name in (VIEWER_GROUP, EDITOR_GROUP):
            Group.objects.get_or_create(name=name)
