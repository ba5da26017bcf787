"""Test connection on a PostgreSQL datasource warns when its user may do more than read."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from django.urls import reverse

from imports.models import Datasource
from tests import factories

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SUPERUSER_WARNING = "This user is a PostgreSQL superuser: an import&#x27;s query could read files"
ADVICE = "Imports only need to read: connect as a read-only role instead."


def _pg_datasource(user: str | None = None) -> Datasource:
    info = psycopg.conninfo.conninfo_to_dict(PG_URL)
    ds = factories.make_datasource(
        name=f"PG as {user or 'superuser'}",
        partner="postgresql",
        settings={
            "host": info.get("host", "127.0.0.1"),
            "port": int(info.get("port", 5432)),
            "database": info.get("dbname", "postgres"),
            "user": user or info.get("user", "postgres"),
            "sslmode": "disable",
        },
    )
    ds.set_secret({"password": info.get("password") or "unused-with-trust-auth"})
    ds.save()
    return ds


@pytest.fixture
def reader() -> Iterator[str]:
    """A LOGIN role that may connect and read schema public, and nothing more."""
    role = f"ic_test_reader_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        database = admin.info.dbname
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
        admin.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    yield role
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP OWNED BY "{role}"')
        admin.execute(f'DROP ROLE "{role}"')


def test_superuser_datasource_test_shows_the_warning_and_advice(editor_client):
    ds = _pg_datasource()
    response = editor_client.post(
        reverse("datasources-test", args=[ds.code]), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Connection succeeded." in body
    assert 'class="test-result test-warn"' in body
    assert SUPERUSER_WARNING in body
    assert ADVICE in body
    assert "CREATE ROLE importcenter_reader LOGIN PASSWORD" in body


def test_superuser_warning_also_reaches_the_list_without_htmx(editor_client):
    ds = _pg_datasource()
    response = editor_client.post(reverse("datasources-test", args=[ds.code]), follow=True)
    body = response.content.decode()
    assert "Connection succeeded." in body
    assert SUPERUSER_WARNING in body
    assert ADVICE in body


def test_read_only_role_gets_no_warning(editor_client, reader):
    ds = _pg_datasource(reader)
    response = editor_client.post(
        reverse("datasources-test", args=[ds.code]), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "Connection succeeded." in body
    assert "test-warn" not in body
    assert "superuser" not in body


def test_unsaved_form_test_warns_too(editor_client):
    info = psycopg.conninfo.conninfo_to_dict(PG_URL)
    data = {
        "name": "PG form",
        "host": info.get("host", "127.0.0.1"),
        "port": str(info.get("port", 5432)),
        "database": info.get("dbname", "postgres"),
        "user": info.get("user", "postgres"),
        "sslmode": "disable",
        "password": info.get("password") or "unused-with-trust-auth",
    }
    url = reverse("datasources-test-form") + "?partner=postgresql"
    body = editor_client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
    assert "Connection succeeded." in body
    assert SUPERUSER_WARNING in body
