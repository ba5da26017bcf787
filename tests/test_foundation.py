"""The foundation: settings helpers, encrypted secrets, roles, models and health denormalising."""

import pytest
from django.db import IntegrityError

from importcenter.env import ImproperlyConfiguredEnv, envbool, envint
from imports.models import Import, ImportRun
from imports.roles import can_edit, can_view
from tests import factories


@pytest.mark.parametrize(
    "raw, expected", [("1", True), ("true", True), ("Yes", True), ("0", False), ("off", False)]
)
def test_envbool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert envbool("SOME_FLAG") is expected


def test_envbool_fails_loudly_on_nonsense(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfiguredEnv, match="SOME_FLAG"):
        envbool("SOME_FLAG")


def test_envint_enforces_minimum_and_type(monkeypatch):
    monkeypatch.setenv("SOME_INT", "5")
    with pytest.raises(ImproperlyConfiguredEnv, match="at least 15"):
        envint("SOME_INT", 30, minimum=15)
    monkeypatch.setenv("SOME_INT", "five")
    with pytest.raises(ImproperlyConfiguredEnv, match="not an integer"):
        envint("SOME_INT", 30)


def test_env_value_can_come_from_a_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "n"
    secret_file.write_text("42\n")
    monkeypatch.setenv("SOME_INT_FILE", str(secret_file))
    assert envint("SOME_INT", 1) == 42


def test_datasource_secret_is_encrypted_at_rest(datasource):
    datasource.set_secret({"password": "s3cr3t-value"})
    datasource.save()
    datasource.refresh_from_db()
    assert "s3cr3t-value" not in datasource.secret_encrypted
    assert datasource.get_secret() == {"password": "s3cr3t-value"}
    assert datasource.has_secret


def test_nickname_is_unique_case_insensitively(datasource):
    factories.make_import(datasource, nickname="Daily Users")
    with pytest.raises(IntegrityError):
        factories.make_import(datasource, nickname="daily users")


def test_roles(editor, viewer, outsider, superuser):
    assert can_edit(editor) and can_view(editor)
    assert can_view(viewer) and not can_edit(viewer)
    assert not can_view(outsider) and not can_edit(outsider)
    assert can_edit(superuser)


def test_import_health_follows_latest_health_carrying_run(datasource):
    imp = factories.make_import(datasource)
    assert imp.health.band == "none"
    factories.make_run(imp, total=100_000, failed=1)
    assert imp.health.label == "99.99%" and imp.health.band == "yellow"
    factories.make_run(imp, state=ImportRun.State.STOPPED, total=10, failed=0)
    imp.refresh_from_db()
    assert imp.health.label == "99.99%"  # stopped runs carry no health
    factories.make_run(imp, state=ImportRun.State.FAILED, total=0, failed=0)
    imp.refresh_from_db()
    assert imp.health.band == "blank"  # a failed run that kept nothing: no data processed
    factories.make_run(imp, total=10)
    factories.make_run(imp, state=ImportRun.State.FAILED, total=5, failed=1)
    imp.refresh_from_db()
    assert imp.health.label == "100%"  # a failed run that kept rows gives no percentage


def test_status_choices_are_the_reference_ones():
    assert [label for _, label in Import.Status.choices] == [
        "Draft",
        "Scheduled",
        "Running",
        "Paused",
        "Stopped",
    ]
