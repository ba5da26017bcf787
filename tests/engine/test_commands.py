"""run_import and import_status management commands."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from imports import tasks
from imports.models import ImportRun
from tests.engine.conftest import make_profile_import


def test_run_import_queues_a_run_by_nickname_and_status_lists_it(
    wh_datasource, monkeypatch, capsys
):
    monkeypatch.setattr(tasks, "enqueue_run", lambda run_id: None)
    imp = make_profile_import(wh_datasource, nickname="Nightly CRM")
    call_command("run_import", "nightly crm")
    assert ImportRun.objects.filter(import_obj=imp, state="queued").count() == 1
    call_command("import_status")
    out = capsys.readouterr().out
    assert "queued" in out and "Nightly CRM" in out and "Running" in out


def test_run_import_refuses_unknown_imports_and_runs_in_progress(wh_datasource, monkeypatch):
    monkeypatch.setattr(tasks, "enqueue_run", lambda run_id: None)
    with pytest.raises(CommandError, match="No import"):
        call_command("run_import", "nope")
    imp = make_profile_import(wh_datasource)
    call_command("run_import", str(imp.code))
    with pytest.raises(CommandError, match="already in progress"):
        call_command("run_import", str(imp.code))
