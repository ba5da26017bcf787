"""The DuckDB connector opens exactly its datasource's files (no Django here, as in connectors/)."""

from __future__ import annotations

import duckdb
import pytest

from connectors import ConnectorError, get_connector
from connectors.duckdb import check_path


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "root" / "csvdir"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("id,name\n1,a\n")
    (folder / "b.csv").write_text("id,name\n2,b\n")
    (folder / "notes.txt").write_text("NOTES-MARKER")
    (tmp_path / "root" / "secrets").mkdir()
    (tmp_path / "root" / "secrets" / "key").write_text("KEY-MARKER")
    return tmp_path / "root"


def _connector(path, root, **extra):
    return get_connector(
        "duckdb",
        {
            "path": str(path),
            "allowed_roots": [str(root)],
            "forbidden_roots": [str(root / "secrets")],
        }
        | extra,
    )


@pytest.mark.parametrize(
    "path", ["/srv/*/exports/daily/*.csv", "/srv/exports/*/*.csv", "/a?/x.csv"]
)
def test_a_wildcard_above_the_file_name_is_refused(path):
    with pytest.raises(ConnectorError) as info:
        check_path(path)
    assert info.value.kind == "config"
    assert "Only the file name may contain a wildcard" in info.value.message


def test_dot_dot_and_symlinks_are_resolved_before_the_roots_are_checked(root, tmp_path):
    with pytest.raises(ConnectorError, match="outside the folders"):
        check_path(f"{root}/csvdir/../../elsewhere.csv", [str(root)])
    (tmp_path / "link").symlink_to("/etc", target_is_directory=True)
    with pytest.raises(ConnectorError, match="outside the folders"):
        check_path(str(tmp_path / "link" / "*.csv"), [str(tmp_path)])
    check_path(f"{root}/csvdir/../csvdir/*.csv", [str(root)])  # stays inside: accepted


def test_the_refusal_names_every_allowed_root(root, tmp_path):
    with pytest.raises(ConnectorError) as info:
        check_path("/etc/passwd", [str(root), str(tmp_path / "second")])
    assert str(root) in info.value.message and str(tmp_path / "second") in info.value.message


def test_a_forbidden_folder_inside_an_allowed_root_is_refused(root):
    with pytest.raises(ConnectorError, match="may not read"):
        check_path(str(root / "secrets" / "key"), [str(root)], [str(root / "secrets")])


def test_without_roots_a_path_anywhere_passes_the_check():
    check_path("/etc/passwd")  # connectors alone do not know the application's roots


def test_a_glob_reads_exactly_the_files_it_matched(root):
    with _connector(root / "csvdir" / "*.csv", root) as c:
        assert c.count("data") == 2
        for escape in (
            f"SELECT content FROM read_text('{root}/csvdir/notes.txt')",
            f"SELECT content FROM read_text('{root}/csvdir/a.csv/../notes.txt')",
            f"SELECT * FROM glob('{root}/csvdir/*')",
        ):
            with pytest.raises(ConnectorError) as info:
                c.preview(escape)
            assert info.value.kind == "permission"


def test_a_file_added_after_opening_is_not_readable(root):
    with _connector(root / "csvdir" / "*.csv", root) as c:
        c.test_connection()
        (root / "csvdir" / "c.csv").write_text("id,name\n3,c\n")
        with pytest.raises(ConnectorError) as info:
            c.preview(f"SELECT * FROM read_csv('{root}/csvdir/c.csv')")
        assert info.value.kind == "permission"


def test_a_duckdb_file_reads_nothing_else(root):
    path = root / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS id")
    with _connector(path, root) as c:
        assert c.count("t") == 1
        with pytest.raises(ConnectorError) as info:
            c.preview(f"SELECT content FROM read_text('{root}/csvdir/notes.txt')")
        assert info.value.kind == "permission"


def test_a_matched_symlink_into_a_forbidden_folder_is_refused(root):
    (root / "csvdir" / "z.csv").symlink_to(root / "secrets" / "key")
    with pytest.raises(ConnectorError, match="may not read"):
        _connector(root / "csvdir" / "*.csv", root).test_connection()
