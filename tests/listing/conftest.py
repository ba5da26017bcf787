"""Fixtures for the listing tests: a few imports across partners, statuses and health bands."""

from __future__ import annotations

import pytest

from imports.models import Import, ImportRun
from tests import factories


@pytest.fixture
def snowflake(db, editor):
    return factories.make_datasource(name="Snow Prod", partner="snowflake", created_by=editor)


@pytest.fixture
def bigquery(db, editor):
    return factories.make_datasource(name="BQ Events", partner="bigquery", created_by=editor)


@pytest.fixture
def catalogue(snowflake, bigquery, editor, viewer):
    """Five imports, one per status, with distinct health, partner and sync type."""
    green = factories.make_import(snowflake, "Green profiles", created_by=editor)
    factories.make_run(green, total=100, failed=0)
    yellow = factories.make_import(
        bigquery, "Yellow events", sync_type=Import.SyncType.EVENT, created_by=viewer
    )
    factories.make_run(yellow, total=100, failed=10)
    red = factories.make_import(snowflake, "Red paused", status=Import.Status.PAUSED)
    factories.make_run(red, total=100, failed=90)
    blank = factories.make_import(bigquery, "Blank stopped", status=Import.Status.STOPPED)
    factories.make_run(blank, state=ImportRun.State.FAILED, total=0, error="Invalid credentials")
    draft = factories.make_import(
        snowflake, "Draft one", status=Import.Status.DRAFT, schedule_kind="manual"
    )
    return {"green": green, "yellow": yellow, "red": red, "blank": blank, "draft": draft}


def make_running(imp: Import, processed: int = 40, expected: int = 100) -> ImportRun:
    run = factories.make_run(
        imp, state=ImportRun.State.RUNNING, total=processed, expected_total=expected
    )
    Import.objects.filter(pk=imp.pk).update(status=Import.Status.RUNNING, current_run=run)
    imp.refresh_from_db()
    return run


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The shared user fixtures set real passwords; the default PBKDF2 costs ~0.5 s per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
