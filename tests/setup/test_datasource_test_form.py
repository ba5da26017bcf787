"""Test connection before saving: every wrong field is marked and says what is wrong."""

from __future__ import annotations

import re

from django.urls import reverse

from imports.models import Datasource


def connection_test_url(partner: str) -> str:
    return reverse("datasources-test-form") + f"?partner={partner}"


def errors_by_field(body: str) -> dict[str, str]:
    """The out-of-band error slots that carry an error: field id → its message text."""
    slots = re.findall(
        r'<div id="(id_\w+)_error_slot" hx-swap-oob="true">(.*?)</div>', body, flags=re.S
    )
    return {fid: re.sub(r"<[^>]+>", "", html).strip() for fid, html in slots if html.strip()}


def test_empty_postgres_form_marks_each_required_field(editor_client):
    response = editor_client.post(connection_test_url("postgresql"), {}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and "Fix these fields first." in body
    marked = errors_by_field(body)
    for field in ("id_host", "id_port", "id_database", "id_user", "id_sslmode", "id_name"):
        assert marked[field] == "This field is required.", field
    # The summary names each field by its label, linked to the input.
    assert '<a href="#id_port">Port</a>: This field is required.' in body
    assert not Datasource.objects.exists()


def test_port_out_of_range_says_the_allowed_range(editor_client):
    data = {
        "name": "PG",
        "host": "127.0.0.1",
        "port": "99999999",
        "database": "d",
        "user": "u",
        "sslmode": "disable",
        "password": "pw",
    }
    body = editor_client.post(
        connection_test_url("postgresql"), data, HTTP_HX_REQUEST="true"
    ).content
    marked = errors_by_field(body.decode())
    assert marked == {"id_port": "Enter a port number from 1 to 65535."}


def test_empty_duckdb_form_marks_the_path(editor_client):
    body = editor_client.post(
        connection_test_url("duckdb"), {}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert errors_by_field(body)["id_path"] == "This field is required."


def test_a_passing_test_clears_earlier_marks(editor_client, warehouse_path):
    data = {"name": "x", "path": str(warehouse_path)}
    body = editor_client.post(
        connection_test_url("duckdb"), data, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Connection succeeded." in body
    assert 'id="id_path_error_slot" hx-swap-oob="true"></div>' in body
    assert errors_by_field(body) == {}


def test_without_javascript_the_form_comes_back_marked(editor_client):
    response = editor_client.post(connection_test_url("postgresql"), {"port": "99999999"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body and 'class="field field-port has-error"' in body
    assert "Enter a port number from 1 to 65535." in body


def test_viewer_and_anonymous_cannot_test(client, viewer):
    assert client.post(connection_test_url("duckdb"), {}).status_code == 302
    client.force_login(viewer)
    assert client.post(connection_test_url("duckdb"), {}, HTTP_HX_REQUEST="true").status_code == 403
