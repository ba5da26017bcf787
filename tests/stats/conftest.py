"""Fixtures of the Stats tests: an import with runs in every state and records with errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from imports.models import Import, ImportRun, RecordResult, RunErrorCount
from tests import factories
from validation.errors import ERROR_REFERENCE


def error(field: str, code: str) -> dict:
    return {"field": field, "code": code, "message": ERROR_REFERENCE[code].message}


def make_records(run: ImportRun, specs: list[tuple[str, list[dict]]], event: str = "") -> None:
    """Records numbered from 1, in order: (identity, errors) each; no errors means success."""
    RecordResult.objects.bulk_create(
        RecordResult(
            run=run,
            row_number=i,
            success=not errs,
            identity=identity,
            event_name=event,
            errors=errs,
            error_keys=("|" + "|".join(f"{e['field']}:{e['code']}" for e in errs) + "|")
            if errs
            else "",
        )
        for i, (identity, errs) in enumerate(specs, start=1)
    )
    counts: dict[tuple[str, str], int] = {}
    for _identity, errs in specs:
        for e in errs:
            counts[(e["field"], e["code"])] = counts.get((e["field"], e["code"]), 0) + 1
    RunErrorCount.objects.bulk_create(
        RunErrorCount(run=run, field=f, code=c, count=n) for (f, c), n in counts.items()
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Users are created per test; the production hasher costs a second each on a busy box.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def imp(datasource):
    return factories.make_import(datasource, nickname="Nightly profiles")


@pytest.fixture
def event_imp(datasource):
    return factories.make_import(
        datasource,
        nickname="App events",
        sync_type=Import.SyncType.EVENT,
        event_name_column="event",
        timestamp_column="ts",
    )


@pytest.fixture
def yellow_run(imp):
    """10 records, 3 failed: an identity error, a bad email, and a bad email + bad phone."""
    run = factories.make_run(
        imp, total=10, failed=3, created_at=timezone.now() - timedelta(hours=1)
    )
    specs = [(f"user{i}@example.com", []) for i in range(1, 11)]
    specs[1] = ("null", [error("user_id", "invalid_identity")])
    specs[4] = ("user5", [error("email", "invalid_email")])
    specs[7] = ("user8", [error("email", "invalid_email"), error("phone", "invalid_phone")])
    make_records(run, specs)
    return run
