"""What the change history records for each kind of change: who, when, from where (page, API,
admin, command), and what changed field by field, with secrets only as "changed"."""

from __future__ import annotations

import json

import duckdb
import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from imports.models import Datasource, Import
from tests import factories
from tests.api.conftest import ApiClient, token_for
from tests.history.conftest import changes_of, fields_of
from tests.setup.test_datasources import SECRET, _pg, pg_form
from tests.setup.test_wizard import EVENT_COLUMNS, EVENT_ROWS, mapping_post, source_data, step_url

pytestmark = pytest.mark.django_db


def test_creating_an_import_in_the_wizard_is_recorded_from_the_page(editor_client, duck, editor):
    response = editor_client.post(reverse("imports-create"), source_data(duck, draft="1"))
    assert response.status_code == 302
    imp = Import.objects.get(nickname="Purchases")
    [created] = changes_of(imp)
    assert (created.action, created.who, created.origin) == (
        "Created",
        "editor",
        "in Import Center",
    )
    fields = fields_of(created)
    assert fields["Nickname"] == ("—", "Purchases")
    assert fields["Datasource"] == ("—", "Local duck")  # names, not ids
    assert fields["Source"] == ("—", "events")
    assert "Status" in fields


def test_a_mapping_edit_is_listed_per_column(editor_client, mapped, editor):
    rows = {**EVENT_ROWS, "amount": {"target": "amount_usd", "data_type": "integer"}}
    response = editor_client.post(
        step_url(mapped, "mapping"), mapping_post(EVENT_COLUMNS, rows=rows)
    )
    assert response.status_code == 302
    change = changes_of(mapped)[-1]
    assert (change.action, change.who, change.origin) == ("Changed", "editor", "in Import Center")
    assert fields_of(change)["Mapping"] == [
        "amount: target amount → amount_usd; type Float → Integer"
    ]
    assert change.kinds == ("mapping",)
    assert change.phrase == "the mapping was edited"


def test_a_column_added_to_and_removed_from_the_mapping(editor_client, mapped, warehouse_path):
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute("ALTER TABLE events ADD COLUMN currency VARCHAR")
    columns = [*EVENT_COLUMNS, "currency"]
    rows = {**EVENT_ROWS, "amount": {"include": None}}
    rows["currency"] = {"target": "currency", "data_type": "string"}
    response = editor_client.post(step_url(mapped, "mapping"), mapping_post(columns, rows=rows))
    assert response.status_code == 302, response.content.decode()[:2000]
    lines = fields_of(changes_of(mapped)[-1])["Mapping"]
    assert lines == [
        "currency: added (target currency, type String)",
        "amount: no longer mapped (was target amount, type Float)",
    ]


def test_saving_unchanged_settings_records_nothing(editor_client, mapped):
    before = len(changes_of(mapped))
    response = editor_client.post(
        step_url(mapped, "mapping"), mapping_post(EVENT_COLUMNS, rows=EVENT_ROWS)
    )
    assert response.status_code == 302
    assert len(changes_of(mapped)) == before


def test_pause_from_the_listing_and_from_the_api(editor_client, editor, datasource):
    imp = factories.make_import(datasource, nickname="Nightly")
    editor_client.post(reverse("imports-pause", args=[imp.code]))
    api = ApiClient(token_for(editor))
    assert api.post(f"/api/v1/imports/{imp.code}/resume").status_code == 200
    *_, paused, resumed = changes_of(imp)
    assert fields_of(paused) == {"Status": ("Scheduled", "Paused")}
    assert (paused.who, paused.origin) == ("editor", "in Import Center")
    assert fields_of(resumed) == {"Status": ("Paused", "Scheduled")}
    token = ApiToken.objects.get(user=editor)
    assert resumed.who == "editor"
    assert resumed.origin == f"through the API (token {token})"
    # Refused (already scheduled): nothing happened, nothing recorded.
    api.post(f"/api/v1/imports/{imp.code}/resume")
    assert changes_of(imp)[-1].id == resumed.id


def test_run_bookkeeping_is_not_recorded(datasource):
    imp = factories.make_import(datasource)
    count = len(changes_of(imp))
    factories.make_run(imp)  # moves last run, health: the engine's, not a person's
    imp.refresh_from_db()
    imp.save()
    assert len(changes_of(imp)) == count


def test_deleting_an_import_is_recorded_with_its_name(editor_client, datasource):
    imp = factories.make_import(datasource, nickname="Old sync")
    editor_client.post(reverse("imports-delete", args=[imp.code]), {"confirmed": "1"})
    assert not Import.objects.filter(pk=imp.pk).exists()
    deleted = changes_of(imp)[-1]
    assert (deleted.action, deleted.name, deleted.who) == ("Deleted", "Old sync", "editor")
    assert deleted.fields == []


def test_datasource_credentials_are_recorded_only_as_changed(editor_client, editor):
    ds = _pg(editor)
    assert fields_of(changes_of(ds)[-1]) == {"Credentials": ("", "set")}
    recorded = len(changes_of(ds))
    # The same password typed again, and a blank one (keep): no credential change.
    editor_client.post(reverse("datasources-edit", args=[ds.code]), pg_form(password=SECRET))
    editor_client.post(reverse("datasources-edit", args=[ds.code]), pg_form(password=""))
    assert len(changes_of(ds)) == recorded
    editor_client.post(
        reverse("datasources-edit", args=[ds.code]), pg_form(host="db2", password="rotated-1")
    )
    change = changes_of(ds)[-1]
    fields = fields_of(change)
    assert fields["Credentials"] == ("", "changed")
    assert fields["Connection settings"] == ["host: db → db2"]
    assert change.kinds == ("credentials", "connection")
    assert change.phrase == (
        "the datasource's credentials were changed and the datasource's connection settings "
        "were changed"
    )
    stored = json.dumps([e.changes for e in LogEntry.objects.all()])
    ds.refresh_from_db()
    for secret in (SECRET, "rotated-1", ds.secret_encrypted, ds.secret_encrypted[-20:]):
        assert secret not in stored


def test_datasource_changed_in_the_admin(client, superuser, datasource):
    client.force_login(superuser)
    url = reverse("admin:imports_datasource_change", args=[datasource.pk])
    data = {
        "name": "Renamed in admin",
        "partner": "duckdb",
        "settings": json.dumps(datasource.settings),
        "created_by": "",
        "updated_by": "",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    change = changes_of(datasource)[-1]
    assert fields_of(change) == {"Name": (datasource.name, "Renamed in admin")}
    assert (change.who, change.origin) == ("root", "in the admin")


def test_import_deleted_in_the_admin(client, superuser, datasource):
    imp = factories.make_import(datasource, nickname="Via admin")
    client.force_login(superuser)
    response = client.post(reverse("admin:imports_import_delete", args=[imp.pk]), {"post": "yes"})
    assert response.status_code == 302
    deleted = changes_of(imp)[-1]
    assert (deleted.action, deleted.who, deleted.origin) == ("Deleted", "root", "in the admin")


def test_api_token_created_and_revoked_on_its_page(editor_client, editor):
    response = editor_client.post(reverse("api-tokens"), {"name": "Airflow", "access": "write"})
    assert response.status_code == 200
    row = ApiToken.objects.get(name="Airflow")
    editor_client.post(reverse("api-token-revoke", args=[row.code]))
    created, revoked = changes_of(row)
    fields = fields_of(created)
    assert fields["Name"] == ("—", "Airflow")
    assert fields["Access"] == ("—", "Read-write")
    assert fields["User"] == ("—", "editor")
    assert all("hash" not in label.lower() for label in fields)
    assert created.who == revoked.who == "editor"
    label, (before, after) = next(iter(fields_of(revoked).items()))
    assert (label, before) == ("Revoked", "—") and after.endswith(" UTC")


def test_api_token_created_by_the_command(editor):
    call_command("create_api_token", "editor", "--name", "cron")
    [created] = changes_of(ApiToken.objects.get(name="cron"))
    assert created.origin == "with the create_api_token command"
    assert created.who == "System"  # run by an operator, not a signed-in user


def test_seed_demo_changes_are_the_commands(settings, tmp_path, monkeypatch):
    from imports import demo
    from imports.management.commands import seed_demo

    monkeypatch.setattr(demo, "build_demo_warehouse", lambda path: False)
    for role in ("Viewer", "Editor"):  # a transactional test before may have flushed them
        Group.objects.get_or_create(name=role)
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--quiet-credentials")
    ds = Datasource.objects.get(name=seed_demo.DATASOURCE_NAME)
    [created] = changes_of(ds)
    assert created.origin == "with the seed_demo command"
    imp = Import.objects.get(nickname="Daily profile sync")
    assert changes_of(imp)[0].origin == "with the seed_demo command"


def test_alert_rules_and_channels_are_recorded_with_the_secret_only_as_set(db):
    from alerts.models import Channel, ImportAlerts

    imp = factories.make_import(factories.make_datasource(), "Alerted")
    rules = ImportAlerts.objects.create(
        import_obj=imp, follows_defaults=False, evaluated_since=timezone.now()
    )
    rules.health_threshold = ImportAlerts.HealthThreshold.YELLOW
    rules.save()
    changed = LogEntry.objects.get_for_object(rules).filter(action=LogEntry.Action.UPDATE).get()
    assert set(changed.changes_dict) == {"health_threshold"}

    channel = Channel(kind=Channel.Kind.WEBHOOK, name="ops hook")
    channel.set_secret({"url": "http://127.0.0.1:9/hook", "signing_secret": "whsec_abc123"})
    channel.save()
    [created] = LogEntry.objects.get_for_object(channel)
    text = json.dumps(created.changes_dict)
    assert "ops hook" in text
    assert "127.0.0.1" not in text and "whsec_abc123" not in text
