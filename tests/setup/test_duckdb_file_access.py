"""A DuckDB datasource reads its own files and nothing else (issue 13, items 0 and 2).

Every escape is tried through the real pages as an Editor: the wizard's Preview, the datasource
form, Test connection, and a run. A marker stands in for each secret; it must never appear.
"""

from __future__ import annotations

import duckdb
import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from imports import pipeline, services, tasks
from imports.connections import check_duckdb_path
from imports.models import Datasource, ImportRun
from tests import factories

APP_SECRET = "APP-FERNET-KEY-MARKER"
SIBLING_SECRET = "SIBLING-SECRET-MARKER"
OUTSIDE_SECRET = "OUTSIDE-ROOT-MARKER"
REAL_VAR_DIR = django_settings.VAR_DIR
REFUSALS = (
    "The query tried to reach files outside the datasource.",
    # Statements other than SELECT are refused by Import Center before DuckDB sees them.
    "Import Center refused this source before sending it to the warehouse",
    # A bare file name is a table name to DuckDB; with file access off, no such table.
    "The table or view was not found.",
)


class Area:
    """An allowed root holding CSV and DuckDB warehouses, the application's var/secrets (the
    default root is var/, so secrets lie under an allowed root) and a sibling secret; and a
    secret outside the root."""

    def __init__(self, tmp_path):
        self.root = tmp_path / "allowed"
        self.csvdir = self.root / "csvdir"
        self.csvdir.mkdir(parents=True)
        (self.csvdir / "a.csv").write_text("user_id,email\nu1,a@example.com\n")
        (self.csvdir / "b.csv").write_text("user_id,email\nu2,b@example.com\n")
        daily = self.root / "exports" / "daily"
        daily.mkdir(parents=True)
        (daily / "d.csv").write_text("user_id,email\nu3,c@example.com\n")
        self.sibling = self.root / "secret.txt"
        self.sibling.write_text(SIBLING_SECRET)
        self.var = self.root / "var"
        (self.var / "secrets").mkdir(parents=True)
        self.key = self.var / "secrets" / "field_encryption_key"
        self.key.write_text(APP_SECRET)
        self.outside = tmp_path / "outside.txt"
        self.outside.write_text(OUTSIDE_SECRET)
        self.duckdb_file = self.root / "wh.duckdb"
        with duckdb.connect(str(self.duckdb_file)) as con:
            con.execute("CREATE TABLE profiles AS SELECT 'u1' AS user_id, 'a@example.com' AS email")
        self.other_duckdb = self.root / "other.duckdb"
        with duckdb.connect(str(self.other_duckdb)) as con:
            con.execute(f"CREATE TABLE loot AS SELECT '{SIBLING_SECRET}' AS x")


@pytest.fixture
def area(tmp_path, settings) -> Area:
    area = Area(tmp_path)
    settings.VAR_DIR = area.var
    settings.DUCKDB_ALLOWED_ROOTS = [str(area.root)]
    return area


def _preview(client, ds: Datasource, source: str, kind: str = "query") -> str:
    response = client.post(
        reverse("imports-preview"),
        {"datasource": str(ds.code), "source_kind": kind, "source": source},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    return response.content.decode()


def _assert_no_secret(body: str) -> None:
    for marker in (APP_SECRET, SIBLING_SECRET, OUTSIDE_SECRET):
        assert marker not in body
    assert django_settings.SECRET_KEY not in body
    for key in django_settings.FIELD_ENCRYPTION_KEYS:
        assert key not in body


def _saved(path) -> Datasource:
    """A datasource saved without the form's checks (as one saved before they existed)."""
    return factories.make_datasource(partner="duckdb", settings={"path": str(path)})


# --- Preview: the escapes of the issue ---------------------------------------------------------


@pytest.mark.parametrize("pattern", ["*/daily/*.csv", "exports/*/*.csv", "*/*/d.csv"])
def test_preview_refuses_a_wildcard_above_the_file_name(editor_client, area, pattern):
    ds = _saved(f"{area.root}/{pattern}")
    body = _preview(editor_client, ds, f"SELECT content FROM read_text('{area.key}')")
    _assert_no_secret(body)
    assert "Only the file name may contain a wildcard" in body


def test_preview_cannot_read_a_sibling_through_dot_dot(editor_client, area):
    ds = _saved(area.csvdir / "*.csv")
    body = _preview(
        editor_client, ds, f"SELECT content FROM read_text('{area.csvdir}/../secret.txt')"
    )
    _assert_no_secret(body)
    assert "The query tried to reach files outside the datasource." in body


def test_preview_of_a_csv_glob_still_shows_its_rows(editor_client, area):
    ds = _saved(area.csvdir / "*.csv")
    body = _preview(editor_client, ds, "data", kind="table")
    assert "a@example.com" in body and "b@example.com" in body


def _csv_escapes(area: Area) -> list[str]:
    key, sibling = area.key, area.sibling
    return [
        f"SELECT content FROM read_text('{key}')",
        f"SELECT content FROM read_text('{area.csvdir}/a.csv/../../var/secrets/{key.name}')",
        f"SELECT * FROM glob('{area.root}/*')",
        f"SELECT * FROM glob('{area.var}/secrets/*')",
        f"SELECT * FROM read_csv('{sibling}')",
        f"SELECT * FROM read_csv('{area.outside}')",
        f"SELECT * FROM read_csv(['{area.csvdir}/a.csv', '{key}'])",
        f"SELECT * FROM read_parquet('{sibling}')",
        f"SELECT * FROM read_json('{sibling}')",
        f"SELECT content FROM read_blob('{key}')",
        f"SELECT * FROM '{sibling}'",
        f"ATTACH '{area.other_duckdb}' AS loot",
        f"SELECT 1; ATTACH '{area.other_duckdb}' AS loot",
        f"COPY (SELECT 1) TO '{area.root}/written.csv'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SELECT 1; SET enable_external_access = true",
        "SELECT current_setting('enable_external_access') AS x FROM (SELECT 1) "
        f"WHERE (SELECT count(*) FROM read_text('{sibling}')) > 0",
    ]


@pytest.mark.parametrize("index", range(20))
def test_preview_of_a_csv_datasource_refuses_every_other_file(editor_client, area, index):
    source = _csv_escapes(area)[index]
    ds = _saved(area.csvdir / "*.csv")
    body = _preview(editor_client, ds, source)
    _assert_no_secret(body)
    assert any(refusal in body for refusal in REFUSALS)
    assert not (area.root / "written.csv").exists()


def test_the_escape_list_is_as_long_as_its_test(area):
    assert len(_csv_escapes(area)) == 20


@pytest.mark.parametrize(
    "source",
    [
        "SELECT content FROM read_text('{key}')",
        "SELECT content FROM read_blob('{sibling}')",
        "SELECT * FROM read_csv('{sibling}')",
        "SELECT * FROM glob('{root}/*')",
        "SELECT * FROM '{sibling}'",
        "ATTACH '{other}' AS loot",
        "COPY (SELECT 1) TO '{root}/written.csv'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
    ],
)
def test_preview_of_a_duckdb_file_reads_nothing_else(editor_client, area, source):
    ds = _saved(area.duckdb_file)
    text = source.format(
        key=area.key, sibling=area.sibling, root=area.root, other=area.other_duckdb
    )
    body = _preview(editor_client, ds, text)
    _assert_no_secret(body)
    assert any(refusal in body for refusal in REFUSALS)
    assert not (area.root / "written.csv").exists()


def test_preview_refuses_the_real_application_secrets(editor_client, area, settings):
    # The default root: the real var/, whose secrets folder holds SECRET_KEY and the Fernet key.
    settings.VAR_DIR = REAL_VAR_DIR
    settings.DUCKDB_ALLOWED_ROOTS = [str(REAL_VAR_DIR.resolve())]
    secrets = REAL_VAR_DIR / "secrets"
    for path in (secrets / "field_encryption_key", secrets / "*"):
        body = _preview(editor_client, _saved(path), "data", kind="table")
        _assert_no_secret(body)
        assert "may not read" in body or "wildcard selects Parquet or CSV" in body


def test_a_symlink_to_a_secret_is_refused(editor_client, area):
    (area.csvdir / "link.csv").symlink_to(area.key)
    body = _preview(editor_client, _saved(area.csvdir / "*.csv"), "data", kind="table")
    _assert_no_secret(body)
    assert "is in a folder that datasources may not read." in body


def test_a_symlink_out_of_the_root_is_refused(editor_client, area):
    (area.csvdir / "link.csv").symlink_to(area.outside)
    body = _preview(editor_client, _saved(area.csvdir / "link.csv"), "data", kind="table")
    _assert_no_secret(body)
    assert "outside the folders DuckDB datasources may read" in body


# --- the allowed roots: on save, on test connection, at run start -----------------------------


def _create(client, path: str):
    url = reverse("datasources-create") + "?partner=duckdb"
    return client.post(url, {"name": "Files", "path": path})


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "/usr/share/*.csv", "{root}/../outside.txt", "{root}/csvdir/../../outside.txt"],
)
def test_save_refuses_a_path_outside_the_roots_and_names_them(editor_client, area, path):
    response = _create(editor_client, path.format(root=area.root))
    body = response.content.decode()
    assert response.status_code == 200
    assert "outside the folders DuckDB datasources may read" in body
    assert str(area.root) in body
    assert not Datasource.objects.exists()


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("{root}/*/daily/*.csv", "Only the file name may contain a wildcard"),
        ("{root}/exports/*/*.csv", "Only the file name may contain a wildcard"),
        ("{var}/secrets/field_encryption_key", "may not read"),
        ("{var}/secrets/../secrets/x.csv", "may not read"),
        ("{root}/wh*.duckdb", "A wildcard selects Parquet or CSV files"),
        ("{root}/a\x00.csv", "Null characters are not allowed."),
    ],
)
def test_save_refuses_paths_that_reach_other_files(editor_client, area, path, needle):
    response = _create(editor_client, path.format(root=area.root, var=area.var))
    assert response.status_code == 200
    assert needle in response.content.decode()
    assert not Datasource.objects.exists()


def test_save_accepts_a_glob_under_the_root_and_says_where_files_may_be(editor_client, area):
    form = editor_client.get(reverse("datasources-create") + "?partner=duckdb")
    assert f"The files must lie under: {area.root}." in form.content.decode()
    response = _create(editor_client, f"{area.csvdir}/*.csv")
    assert response.status_code == 302
    assert Datasource.objects.get().settings == {"path": f"{area.csvdir}/*.csv"}


def test_test_connection_of_the_form_names_the_roots(editor_client, area):
    url = reverse("datasources-test-form") + "?partner=duckdb"
    response = editor_client.post(
        url, {"name": "x", "path": "/usr/share/*.csv"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    # Refused by the form's own path check, before any connection is tried.
    assert "Fix these fields first." in body and "Connection succeeded." not in body
    assert str(area.root) in body


def test_test_connection_refuses_a_datasource_saved_before_the_roots_changed(
    editor_client, area, settings, tmp_path
):
    ds = _saved(area.duckdb_file)
    ok = editor_client.post(reverse("datasources-test", args=[ds.code]), HTTP_HX_REQUEST="true")
    assert "Connection succeeded." in ok.content.decode()
    settings.DUCKDB_ALLOWED_ROOTS = [str(tmp_path / "elsewhere")]
    bad = editor_client.post(reverse("datasources-test", args=[ds.code]), HTTP_HX_REQUEST="true")
    body = bad.content.decode()
    assert "Connection failed." in body
    assert str(tmp_path / "elsewhere") in body


def _run(imp, django_capture_on_commit_callbacks) -> ImportRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_now(imp)
    pipeline.execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_a_run_of_a_datasource_outside_the_roots_fails_with_the_message(
    db, area, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks, "enqueue_run", lambda run_id: None)
    mapping = {
        "sync_type": "profile",
        "identity_column": "user_id",
        "identity_kind": "identity",
        "fields": [{"column": "email", "target": "Email", "type": "String"}],
    }
    imp = factories.make_import(_saved(area.duckdb_file), mapping=mapping)
    assert _run(imp, django_capture_on_commit_callbacks).state == ImportRun.State.COMPLETED
    settings.DUCKDB_ALLOWED_ROOTS = [str(tmp_path / "elsewhere")]
    run = _run(imp, django_capture_on_commit_callbacks)
    assert run.state == ImportRun.State.FAILED
    assert run.error_kind == "config"
    assert "outside the folders DuckDB datasources may read" in run.error
    assert str(tmp_path / "elsewhere") in run.error


def test_the_demo_warehouse_lies_under_the_default_root(settings):
    settings.VAR_DIR = REAL_VAR_DIR
    settings.DUCKDB_ALLOWED_ROOTS = [str(REAL_VAR_DIR.resolve())]
    check_duckdb_path(str(settings.DEMO_WAREHOUSE_PATH))  # raises when refused


@pytest.mark.parametrize("client_name", ["client", "viewer_client", "outsider_client"])
def test_only_editors_reach_the_preview(db, request, area, client_name):
    client = request.getfixturevalue(client_name)
    ds = _saved(area.csvdir / "*.csv")
    response = client.post(
        reverse("imports-preview"),
        {"datasource": str(ds.code), "source_kind": "table", "source": "data"},
    )
    assert response.status_code in (302, 403)
    assert "a@example.com" not in response.content.decode()


def test_roots_stored_in_a_datasource_are_ignored(editor_client, area):
    ds = factories.make_datasource(
        partner="duckdb",
        settings={"path": str(area.outside), "allowed_roots": ["/"], "forbidden_roots": []},
    )
    body = _preview(editor_client, ds, "data", kind="table")
    _assert_no_secret(body)
    assert "outside the folders DuckDB datasources may read" in body


def test_a_file_the_settings_read_a_secret_from_is_refused(editor_client, area, monkeypatch):
    # importcenter.env reads SECRET_KEY from the file named by SECRET_KEY_FILE, if set.
    secret_file = area.root / "secret_key.csv"
    secret_file.write_text(f"key\n{APP_SECRET}\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret_file))
    response = _create(editor_client, str(secret_file))
    assert "may not read" in response.content.decode()
    body = _preview(editor_client, _saved(area.root / "*.csv"), "data", kind="table")
    _assert_no_secret(body)
    assert "may not read" in body


# Only read by the path check here: no connection is opened with the overridden settings.
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_embedded_store_and_queue_are_never_datasource_files(settings, tmp_path):
    """var/ (the default root) also holds the SQLite store and the filesystem broker's queue."""
    from connectors import ConnectorError
    from imports.connections import check_duckdb_path

    settings.VAR_DIR = tmp_path
    settings.DUCKDB_ALLOWED_ROOTS = [str(tmp_path)]
    store = tmp_path / "importcenter.sqlite3"
    settings.DATABASES = {
        **settings.DATABASES,
        "default": {
            **settings.DATABASES["default"],
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(store),
        },
    }
    (tmp_path / "broker" / "queue").mkdir(parents=True)
    check_duckdb_path(str(tmp_path / "warehouse.duckdb"))  # the rest of var/ stays usable
    for path in (store, f"{store}-wal", tmp_path / "broker" / "queue" / "*.csv"):
        with pytest.raises(ConnectorError, match="may not read"):
            check_duckdb_path(str(path))
