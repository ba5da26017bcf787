"""PostgreSQL: Test connection warns when the datasource's user may do more than read.

The read-only transaction stops INSERT and friends, not functions: a superuser's SELECT can read
server files or end other sessions. These tests use real roles on the test server (trust auth):
the superuser the suite connects as, and roles made here with exactly the rights under test.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest

from connectors import ConnectorError, get_connector

from .conftest import PG_URL, Warehouse

pytestmark = pytest.mark.postgres


@pytest.fixture
def make_role(postgres_warehouse: Warehouse) -> Iterator[Callable[..., Warehouse]]:
    """``make_role(*grants)``: a LOGIN role that may connect to the test warehouse and use
    schema public, plus ``grants`` (SQL with ``{role}`` for its name); the warehouse as it."""
    database = postgres_warehouse.settings["database"]
    made: list[str] = []

    def make(*grants: str) -> Warehouse:
        role = f"ic_test_role_{secrets.token_hex(4)}"
        made.append(role)
        with psycopg.connect(PG_URL, dbname=database, autocommit=True) as admin:
            admin.execute(f'CREATE ROLE "{role}" LOGIN')
            admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
            admin.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
            for grant in grants:
                admin.execute(grant.format(role=f'"{role}"'))
        return Warehouse(
            "postgresql",
            {**postgres_warehouse.settings, "user": role},
            postgres_warehouse.secret,
        )

    yield make
    with psycopg.connect(PG_URL, dbname=database, autocommit=True) as admin:
        for role in made:
            admin.execute(f'DROP OWNED BY "{role}"')  # its grants, here and on the database
            admin.execute(f'DROP ROLE "{role}"')


def warnings_of(warehouse: Warehouse) -> list[str]:
    with warehouse.connect() as c:
        c.test_connection()
        return c.privilege_warnings()


def test_superuser_is_warned_with_the_read_only_role_advice(postgres_warehouse):
    with psycopg.connect(PG_URL) as conn:
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()[0]
    warnings = warnings_of(postgres_warehouse)
    assert len(warnings) == 2
    assert warnings[0].startswith("This user is a PostgreSQL superuser: an import's query could")
    database = postgres_warehouse.settings["database"]
    assert warnings[1].startswith("Imports only need to read: connect as a read-only role")
    assert "CREATE ROLE importcenter_reader LOGIN PASSWORD" in warnings[1]
    assert f'GRANT CONNECT ON DATABASE "{database}" TO importcenter_reader;' in warnings[1]
    assert "GRANT SELECT ON ALL TABLES IN SCHEMA public TO importcenter_reader;" in warnings[1]


def test_select_only_role_gets_no_warning_and_reads(make_role):
    reader = make_role("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    assert warnings_of(reader) == []
    with reader.connect() as c:
        assert c.count("SELECT * FROM users WHERE name LIKE 'user\\_1%'") > 0


def test_role_that_can_write_or_create_is_warned(make_role):
    writer = make_role(
        "GRANT SELECT, INSERT ON users TO {role}",
        "GRANT CREATE ON SCHEMA public TO {role}",
        "ALTER ROLE {role} CREATEDB",
    )
    warnings = warnings_of(writer)
    assert warnings[0] == (
        "This user can do more than read: it can write to public.users; create tables in "
        "schema public; create databases."
    )
    assert warnings[1].startswith("Imports only need to read")
    assert len(warnings) == 2


def test_member_of_powerful_builtin_roles_is_warned(make_role):
    member = make_role(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT pg_signal_backend TO {role}",
        "GRANT pg_read_server_files TO {role}",
    )
    warnings = warnings_of(member)
    assert warnings[0] == (
        "This user is a member of pg_read_server_files (read files on the database server); "
        "pg_signal_backend (cancel or end other sessions): an import's query could use these "
        "rights, because the read-only transaction does not stop functions."
    )
    assert len(warnings) == 2


@pytest.mark.parametrize(
    "call",
    [
        "pg_read_file('/etc/hostname')",
        "pg_ls_dir('.')",
        "pg_reload_conf()",
        "pg_terminate_backend({superuser_pid})",
    ],
)
def test_select_only_role_is_refused_what_the_superuser_may_do(make_role, call):
    """What the advice buys: the functions a superuser's import could call are refused."""
    reader = make_role("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    with psycopg.connect(PG_URL) as superuser_session:
        sql = f"SELECT {call.format(superuser_pid=superuser_session.info.backend_pid)} AS x"
        with reader.connect() as c, pytest.raises(ConnectorError) as info:
            c.preview(sql)
        assert info.value.kind == "permission"
        assert info.value.detail.startswith("InsufficientPrivilege: ")
        assert not superuser_session.closed
        assert superuser_session.execute("SELECT 1").fetchone() == (1,)


def test_other_partners_have_no_privilege_check(duckdb_warehouse):
    with get_connector("duckdb", duckdb_warehouse.settings) as c:
        assert c.privilege_warnings() == []


def test_write_grant_in_a_schema_the_role_cannot_use_is_not_a_warning(
    make_role, postgres_warehouse
):
    database = postgres_warehouse.settings["database"]
    with psycopg.connect(PG_URL, dbname=database, autocommit=True) as admin:
        admin.execute("CREATE SCHEMA IF NOT EXISTS hidden")
        admin.execute("CREATE TABLE IF NOT EXISTS hidden.t (x int)")
    role = make_role("GRANT INSERT ON hidden.t TO {role}")
    assert warnings_of(role) == []


def test_a_server_without_the_catalogs_gets_a_true_sentence(postgres_warehouse, monkeypatch):
    from connectors import postgresql

    monkeypatch.setattr(postgresql, "_PRIVILEGES_SQL", "SELECT * FROM no_such_catalog")
    with postgres_warehouse.connect() as c:
        assert c.privilege_warnings() == [
            "Import Center could not check whether this user can do more than read."
        ]
        assert c.count("users") > 0  # the connection is still usable
