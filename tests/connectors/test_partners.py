"""Partner-specific behaviour: credentials, settings and file sources."""

from __future__ import annotations

import json

import pytest

from connectors import ConnectorError, get_connector


def test_unknown_partner_is_a_config_error():
    with pytest.raises(ConnectorError) as info:
        get_connector("oracle", {})
    assert info.value.kind == "config"


@pytest.mark.postgres
def test_postgres_unknown_user_is_an_auth_error(postgres_warehouse):
    # The local server trusts every password, so a user it does not know is the rejection
    # it can show; the password must not leak into the message or the log text.
    settings = {**postgres_warehouse.settings, "user": "no_such_loader"}
    with pytest.raises(ConnectorError) as info:
        get_connector("postgresql", settings, {"password": "hunter2-secret"}).test_connection()
    assert info.value.kind == "auth"
    assert "hunter2-secret" not in str(info.value) + (info.value.detail or "")


@pytest.mark.postgres
def test_postgres_closed_port_is_a_network_error(postgres_warehouse):
    settings = {**postgres_warehouse.settings, "port": 1}
    with pytest.raises(ConnectorError) as info:
        get_connector("postgresql", settings, None).test_connection()
    assert info.value.kind == "network"


def test_snowflake_wrong_password_is_an_auth_error(snowflake_warehouse):
    c = get_connector("snowflake", snowflake_warehouse.settings, {"password": "rotated-pw-123"})
    with pytest.raises(ConnectorError) as info:
        c.test_connection()
    assert info.value.kind == "auth"
    assert "rotated" in str(info.value)  # tells the user what to check
    assert "rotated-pw-123" not in str(info.value) + (info.value.detail or "")


def test_snowflake_unreadable_private_key_is_refused_before_login(snowflake_warehouse):
    c = get_connector("snowflake", snowflake_warehouse.settings, {"private_key": "not a key"})
    with pytest.raises(ConnectorError) as info:
        c.test_connection()
    assert info.value.kind == "config"
    assert "not a key" not in str(info.value)


def test_snowflake_key_pair_login_connects(snowflake_warehouse):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with get_connector("snowflake", snowflake_warehouse.settings, {"private_key": pem}) as c:
        assert c.count("users") > 0


@pytest.mark.parametrize(
    ("secret", "needle"),
    [
        ({"service_account_json": "{not json"}, "not valid JSON"),
        ({"service_account_json": json.dumps({"type": "service_account"})}, "lacks"),
        ({}, "JSON key"),
    ],
)
def test_bigquery_bad_key_is_a_config_error(secret, needle):
    with pytest.raises(ConnectorError) as info:
        get_connector("bigquery", {"project": "p", "dataset": "d"}, secret)
    assert info.value.kind == "config"
    assert needle in str(info.value)


def test_duckdb_missing_file_is_not_found(tmp_path):
    with pytest.raises(ConnectorError) as info:
        get_connector("duckdb", {"path": str(tmp_path / "nope.duckdb")}).test_connection()
    assert info.value.kind == "not_found"


@pytest.mark.parametrize("name", ["u.parquet", "u.csv", "*.parquet"])
def test_duckdb_reads_parquet_and_csv_paths_as_data(duckdb_warehouse, name):
    path = str(duckdb_warehouse.extra["folder"] / name)
    with get_connector("duckdb", {"path": path}) as c:
        assert c.count("data") == 1000
        assert sum(len(b) for b in c.iter_batches("SELECT id FROM data", 300)) == 1000


def test_duckdb_query_cannot_read_other_files(duckdb_warehouse):
    with duckdb_warehouse.connect() as c, pytest.raises(ConnectorError) as info:
        c.preview("SELECT * FROM read_csv('/etc/passwd')")
    assert info.value.kind == "permission"
