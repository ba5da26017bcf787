"""Datasources under Settings > Partners: list, create per partner, edit, delete, test."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imports.models import Datasource
from tests import factories

LIST = "datasources-list"
SECRET = "s3cr3t-Pa55word-do-not-show"


def _create_url(partner: str) -> str:
    return reverse("datasources-create") + f"?partner={partner}"


def pg_form(**overrides: str) -> dict:
    """What the PostgreSQL datasource form posts, with `overrides`."""
    data = {"name": "PG", "host": "db", "port": "5432", "database": "d", "user": "u"}
    return {**data, "sslmode": "prefer", "password": SECRET, **overrides}


def _assert_never_rendered(response, *secrets: str) -> None:
    body = response.content.decode()
    for secret in secrets:
        assert secret not in body


# --- access ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client):
    for url in (reverse(LIST), _create_url("duckdb"), reverse("datasources-test-form")):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("login") in response["Location"]


def test_outsider_gets_403(outsider_client, datasource):
    assert outsider_client.get(reverse(LIST)).status_code == 403
    assert (
        outsider_client.get(reverse("datasources-edit", args=[datasource.code])).status_code == 403
    )


def test_viewer_sees_list_but_cannot_change(viewer_client, datasource):
    response = viewer_client.get(reverse(LIST))
    assert response.status_code == 200
    assert datasource.name in response.content.decode()
    assert "New datasource" not in response.content.decode()
    assert viewer_client.get(_create_url("duckdb")).status_code == 403
    assert viewer_client.get(reverse("datasources-edit", args=[datasource.code])).status_code == 403
    delete = viewer_client.post(reverse("datasources-delete", args=[datasource.code]))
    assert delete.status_code == 403
    assert Datasource.objects.filter(pk=datasource.pk).exists()
    test = viewer_client.post(reverse("datasources-test", args=[datasource.code]))
    assert test.status_code == 403


def test_unknown_code_is_404(editor_client):
    code = "00000000-0000-0000-0000-000000000000"
    assert editor_client.get(reverse("datasources-edit", args=[code])).status_code == 404
    assert editor_client.post(reverse("datasources-delete", args=[code])).status_code == 404
    assert editor_client.post(reverse("datasources-test", args=[code])).status_code == 404
    assert editor_client.get("/settings/partners/datasources/not-a-uuid/edit/").status_code == 404


def test_unknown_partner_is_400(editor_client):
    assert editor_client.get(_create_url("oracle")).status_code == 400
    assert editor_client.get(_create_url("x" * 5000)).status_code == 400


def test_picker_lists_every_partner(editor_client):
    body = editor_client.get(reverse("datasources-create")).content.decode()
    for label in ("Snowflake", "BigQuery", "PostgreSQL", "DuckDB"):
        assert label in body


def test_list_has_tabs_to_the_import_center(editor_client, datasource):
    body = editor_client.get(reverse(LIST)).content.decode()
    assert reverse("imports-listing") in body
    assert 'aria-current="page">Datasources' in body


# --- create per partner ----------------------------------------------------------------------


def test_create_duckdb(editor_client, editor, warehouse_path):
    response = editor_client.post(
        _create_url("duckdb"), {"name": "Demo", "path": str(warehouse_path)}
    )
    assert response.status_code == 302
    ds = Datasource.objects.get(name="Demo")
    assert ds.partner == "duckdb"
    assert ds.settings == {"path": str(warehouse_path)}
    assert not ds.has_secret
    assert ds.created_by == editor


def test_create_postgres_stores_exact_keys_and_encrypts_password(editor_client):
    response = editor_client.post(
        _create_url("postgresql"),
        {
            "name": "PG",
            "host": "db.internal",
            "port": "5432",
            "database": "analytics",
            "user": "reader",
            "password": SECRET,
            "sslmode": "require",
        },
    )
    assert response.status_code == 302
    ds = Datasource.objects.get(name="PG")
    assert ds.settings == {
        "host": "db.internal",
        "port": 5432,
        "database": "analytics",
        "user": "reader",
        "sslmode": "require",
    }
    assert ds.get_secret() == {"password": SECRET}
    assert SECRET not in ds.secret_encrypted


def test_create_snowflake_with_password(editor_client):
    data = {
        "name": "SF",
        "account": "xy12345.eu-west-1",
        "user": "loader",
        "password": SECRET,
        "warehouse": "COMPUTE_WH",
        "database": "ANALYTICS",
        "schema": "PUBLIC",
        "role": "READER",
    }
    assert editor_client.post(_create_url("snowflake"), data).status_code == 302
    ds = Datasource.objects.get(name="SF")
    assert set(ds.settings) == {"account", "user", "warehouse", "database", "schema", "role"}
    assert ds.get_secret() == {"password": SECRET}


def test_create_snowflake_needs_password_or_key(editor_client):
    data = {"name": "SF", "account": "acc", "user": "u", "warehouse": "W", "database": "D"}
    response = editor_client.post(_create_url("snowflake"), data)
    assert response.status_code == 200
    assert "Enter a password or a private key." in response.content.decode()
    assert not Datasource.objects.filter(name="SF").exists()


def test_create_snowflake_with_private_key_not_echoed_on_error(editor_client):
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg-very-secret\n-----END PRIVATE KEY-----"
    data = {"name": "", "account": "acc", "user": "u", "warehouse": "W", "database": "D"}
    response = editor_client.post(_create_url("snowflake"), {**data, "private_key": key})
    assert response.status_code == 200
    _assert_never_rendered(response, "very-secret", "MIIEvQIBADANBg")
    data["name"] = "SF key"
    assert (
        editor_client.post(_create_url("snowflake"), {**data, "private_key": key}).status_code
        == 302
    )
    assert Datasource.objects.get(name="SF key").get_secret() == {"private_key": key}


def _key_file(content: dict | str) -> SimpleUploadedFile:
    raw = content if isinstance(content, str) else json.dumps(content)
    return SimpleUploadedFile("key.json", raw.encode(), content_type="application/json")


SA_KEY = {
    "type": "service_account",
    "project_id": "proj",
    "client_email": "loader@proj.iam.gserviceaccount.com",
    "private_key": "-----BEGIN PRIVATE KEY-----\nbq-top-secret\n-----END PRIVATE KEY-----\n",
}


def test_create_bigquery_with_key_file(editor_client):
    response = editor_client.post(
        _create_url("bigquery"),
        {
            "name": "BQ",
            "project": "proj",
            "dataset": "crm",
            "service_account_json": _key_file(SA_KEY),
        },
    )
    assert response.status_code == 302
    ds = Datasource.objects.get(name="BQ")
    assert ds.settings == {"project": "proj", "dataset": "crm"}
    assert json.loads(ds.get_secret()["service_account_json"]) == SA_KEY


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json at all", "not valid JSON"),
        (
            {"type": "authorized_user", "client_email": "x", "private_key": "y"},
            "not a service-account key",
        ),
        ({"type": "service_account"}, "not a service-account key"),
        ("\udcff", "not valid JSON"),
    ],
)
def test_bigquery_rejects_bad_key_files(editor_client, content, message):
    if content == "\udcff":
        upload = SimpleUploadedFile("key.json", b"\xff\xfe\x00bad", content_type="application/json")
    else:
        upload = _key_file(content)
    response = editor_client.post(
        _create_url("bigquery"),
        {"name": "BQ", "project": "proj", "dataset": "crm", "service_account_json": upload},
    )
    assert response.status_code == 200
    assert message in response.content.decode()


def test_bigquery_requires_key_file_on_create(editor_client):
    response = editor_client.post(
        _create_url("bigquery"), {"name": "BQ", "project": "p", "dataset": "d"}
    )
    assert "Upload the service-account JSON key file." in response.content.decode()


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "x" * 5000),
        ("name", "   "),
        ("port", "99999"),
        ("port", "5432; DROP TABLE users"),
        ("host", "db.internal; rm -rf /"),
        ("host", "x" * 5000),
        ("sslmode", "yolo"),
        ("database", "a\x00b"),
    ],
)
def test_postgres_bad_inputs_are_field_errors(editor_client, field, value):
    data = pg_form(**{field: value})
    response = editor_client.post(_create_url("postgresql"), data)
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()
    assert not Datasource.objects.filter(name="PG").exists()
    _assert_never_rendered(response, SECRET)


def test_unicode_name_is_fine(editor_client, warehouse_path):
    name = "Entrepôt 数据 🦆"
    response = editor_client.post(
        _create_url("duckdb"), {"name": name, "path": str(warehouse_path)}
    )
    assert response.status_code == 302
    assert Datasource.objects.filter(name=name).exists()


def test_duplicate_name_case_insensitive(editor_client, datasource):
    response = editor_client.post(
        _create_url("duckdb"), {"name": datasource.name.upper(), "path": "/x.duckdb"}
    )
    assert "already exists" in response.content.decode()


def test_create_requires_csrf(editor, warehouse_path):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    response = client.post(_create_url("duckdb"), {"name": "x", "path": str(warehouse_path)})
    assert response.status_code == 403


# --- edit: secrets are write-only -------------------------------------------------------------


def _pg(editor):
    ds = factories.make_datasource(
        name="PG",
        partner="postgresql",
        settings={"host": "db", "port": 5432, "database": "d", "user": "u", "sslmode": "prefer"},
        created_by=editor,
    )
    ds.set_secret({"password": SECRET})
    ds.save()
    return ds


def test_edit_form_never_renders_secret(editor_client, editor):
    ds = _pg(editor)
    response = editor_client.get(reverse("datasources-edit", args=[ds.code]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "leave blank to keep" in body
    _assert_never_rendered(response, SECRET)
    assert ds.secret_encrypted not in body


def test_edit_blank_secret_keeps_it_and_created_by_stays(editor_client, editor, superuser):
    ds = _pg(editor)
    editor_client.force_login(superuser)
    data = pg_form(name="PG2", host="db2", port="5433", password="")
    response = editor_client.post(reverse("datasources-edit", args=[ds.code]), data)
    assert response.status_code == 302
    ds.refresh_from_db()
    assert ds.name == "PG2" and ds.settings["port"] == 5433
    assert ds.get_secret() == {"password": SECRET}
    assert ds.created_by == editor and ds.updated_by == superuser


def test_edit_new_secret_replaces_it(editor_client, editor):
    ds = _pg(editor)
    data = pg_form(password="new-one")
    editor_client.post(reverse("datasources-edit", args=[ds.code]), data)
    ds.refresh_from_db()
    assert ds.get_secret() == {"password": "new-one"}


def test_edit_with_errors_does_not_echo_new_secret(editor_client, editor):
    ds = _pg(editor)
    data = pg_form(name="", password="fresh-secret-value")
    response = editor_client.post(reverse("datasources-edit", args=[ds.code]), data)
    assert response.status_code == 200
    _assert_never_rendered(response, "fresh-secret-value", SECRET)


def test_snowflake_key_replaces_password(editor_client, editor):
    ds = factories.make_datasource(
        name="SF",
        partner="snowflake",
        settings={"account": "a", "user": "u", "warehouse": "w", "database": "d"},
    )
    ds.set_secret({"password": SECRET})
    ds.save()
    key = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"
    data = {
        "name": "SF",
        "account": "a",
        "user": "u",
        "warehouse": "w",
        "database": "d",
        "private_key": key,
    }
    assert editor_client.post(reverse("datasources-edit", args=[ds.code]), data).status_code == 302
    ds.refresh_from_db()
    assert ds.get_secret() == {"private_key": key}


# --- delete ----------------------------------------------------------------------------------


def test_delete_unused_datasource(editor_client, datasource):
    response = editor_client.post(reverse("datasources-delete", args=[datasource.code]))
    assert response.status_code == 302
    assert not Datasource.objects.filter(pk=datasource.pk).exists()


def test_delete_refused_while_imports_use_it(editor_client, datasource):
    factories.make_import(datasource, nickname="Orders daily")
    factories.make_import(datasource, nickname="Signups")
    response = editor_client.post(reverse("datasources-delete", args=[datasource.code]))
    assert response.status_code == 409
    body = response.content.decode()
    assert "Orders daily" in body and "Signups" in body
    assert Datasource.objects.filter(pk=datasource.pk).exists()


def test_delete_needs_post(editor_client, datasource):
    response = editor_client.get(reverse("datasources-delete", args=[datasource.code]))
    assert response.status_code == 405


# --- test connection -------------------------------------------------------------------------


def test_test_connection_ok_htmx(editor_client, duck):
    response = editor_client.post(
        reverse("datasources-test", args=[duck.code]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Connection succeeded." in body
    assert "<html" not in body


def test_test_connection_failure_shows_connector_message(editor_client, tmp_path):
    ds = factories.make_datasource(settings={"path": str(tmp_path / "missing.duckdb")})
    response = editor_client.post(
        reverse("datasources-test", args=[ds.code]), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "Connection failed." in body
    from connectors import ConnectorError, get_connector

    with pytest.raises(ConnectorError) as caught:
        with get_connector("duckdb", ds.settings, None) as c:
            c.test_connection()
    assert caught.value.message in body.replace("&#x27;", "'").replace("&quot;", '"')


def test_test_connection_without_htmx_redirects_with_message(editor_client, duck):
    response = editor_client.post(reverse("datasources-test", args=[duck.code]), follow=True)
    assert "Connection succeeded." in response.content.decode()


def test_test_connection_of_unsaved_form(editor_client, warehouse_path, tmp_path):
    url = reverse("datasources-test-form") + "?partner=duckdb"
    ok = editor_client.post(url, {"name": "x", "path": str(warehouse_path)}, HTTP_HX_REQUEST="true")
    assert "Connection succeeded." in ok.content.decode()
    bad = editor_client.post(url, {"name": "x", "path": ""}, HTTP_HX_REQUEST="true")
    assert "Fix these fields first." in bad.content.decode()
    assert "File path or glob" in bad.content.decode()
    assert not Datasource.objects.exists()


def test_test_connection_postgres_unreachable_reports_and_hides_password(editor_client):
    url = reverse("datasources-test-form") + "?partner=postgresql"
    data = {
        "name": "PG",
        "host": "127.0.0.1",
        "port": "1",
        "database": "d",
        "user": "u",
        "sslmode": "disable",
        "password": SECRET,
    }
    response = editor_client.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Connection failed." in response.content.decode()
    _assert_never_rendered(response, SECRET)


def test_test_form_uses_stored_secret_when_blank(editor_client, editor, monkeypatch):
    ds = _pg(editor)
    seen = {}

    def fake_get_connector(partner, settings, secret):
        seen["secret"] = secret
        from connectors import ConnectorError

        raise ConnectorError("auth")

    monkeypatch.setattr("connectors.get_connector", fake_get_connector)
    url = reverse("datasources-test-form") + f"?partner=postgresql&datasource={ds.code}"
    data = pg_form(password="")
    response = editor_client.post(url, data, HTTP_HX_REQUEST="true")
    assert seen["secret"] == {"password": SECRET}
    assert "Connection failed." in response.content.decode()
    _assert_never_rendered(response, SECRET)


def test_test_form_bad_query_string(editor_client):
    url = reverse("datasources-test-form")
    assert editor_client.post(url + "?partner=nope").status_code == 400
    assert editor_client.post(url + "?partner=duckdb&datasource=zzz").status_code == 404
    unknown = "00000000-0000-0000-0000-000000000000"
    assert editor_client.post(url + f"?partner=duckdb&datasource={unknown}").status_code == 404


def test_test_form_of_another_partners_datasource_is_400(editor_client, datasource):
    url = reverse("datasources-test-form") + f"?partner=postgresql&datasource={datasource.code}"
    assert editor_client.post(url, {"name": "x"}).status_code == 400


def test_a_refused_edit_keeps_the_saved_name_in_the_heading(editor_client, duck):
    url = reverse("datasources-edit", args=[duck.code])
    response = editor_client.post(url, {"name": "Renamed", "path": ""})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Edit datasource “Local duck”" in body
    assert 'value="Renamed"' in body


def test_list_query_count_stays_flat(editor_client, django_assert_max_num_queries):
    for i in range(3):
        factories.make_import(factories.make_datasource(name=f"DS {i}"))
    with django_assert_max_num_queries(8) as few:
        editor_client.get(reverse(LIST))
    for i in range(3, 30):
        factories.make_import(factories.make_datasource(name=f"DS {i}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = editor_client.get(reverse(LIST))
    assert response.content.decode().count("Test connection") == 30
