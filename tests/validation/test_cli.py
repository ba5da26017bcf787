"""`python -m validation check --spec spec.json FILE`, as users and outside checks call it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from validation import FieldMapping, MappingSpec
from validation.cli import main

ROOT = Path(__file__).resolve().parents[2]

PROFILE = MappingSpec(
    sync_type="profile",
    identity_column="user_id",
    fields=[
        FieldMapping("mail", "Email"),
        FieldMapping("age", "age", "Integer"),
        FieldMapping("sms_ok", "MSG-sms", "Boolean"),
    ],
)
EVENT = MappingSpec(
    sync_type="event", identity_column="uid", event_name_column="event", timestamp_column="ts"
)
CSV = "user_id,mail,age,sms_ok\nu1,a@b.co,42,true\nnull,not-an-email,3.5,maybe\nu3, C@D.EU ,,\n"


@pytest.fixture
def files(tmp_path):
    def write(name: str, text: str | bytes) -> str:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return str(path)

    write.spec = lambda spec: write("spec.json", json.dumps(spec.to_dict()))
    return write


def run(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "validation", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_csv_file(files):
    result = run("check", "--spec", files.spec(PROFILE), files("in.csv", CSV))
    assert result.returncode == 0
    assert lines(result.stdout) == [
        {"row": 1, "ok": True, "identity": "u1", "event_name": None, "errors": []},
        {
            "row": 2,
            "ok": False,
            "identity": "null",
            "event_name": None,
            "errors": [
                {
                    "field": "user_id",
                    "code": "invalid_identity",
                    "message": "Invalid identity or CleverTap ID",
                },
                {"field": "mail", "code": "invalid_email", "message": "Email is not valid"},
                {
                    "field": "age",
                    "code": "not_numeric",
                    "message": "Value should be an Integer or a Float, but a different data type was received",
                },
                {
                    "field": "sms_ok",
                    "code": "invalid_comm_pref",
                    "message": "Communication preferences contain unsupported values",
                },
            ],
        },
        {"row": 3, "ok": True, "identity": "u3", "event_name": None, "errors": []},
    ]
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary == {
        "total": 3,
        "successful": 2,
        "failed": 1,
        "health": "66.66%",
        "health_band": "yellow",
    }


def test_runs_from_any_directory(files, tmp_path):
    # `make install` puts the project on the venv's path (import_center.pth).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run("check", "--spec", files.spec(PROFILE), files("in.csv", CSV), cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert [row["ok"] for row in lines(done.stdout)] == [True, False, True]


def test_json_lines_on_stdin(files):
    stdin = '{"uid": "u1", "event": "Charged", "ts": 1700000000}\n\n{"uid": 7, "event": "App Launched", "ts": "soon"}\n'
    result = run("check", "--spec", files.spec(EVENT), "-", stdin=stdin)
    assert result.returncode == 0
    out = lines(result.stdout)
    assert [row["row"] for row in out] == [1, 2]
    assert out[0] == {"row": 1, "ok": True, "identity": "u1", "event_name": "Charged", "errors": []}
    assert out[1]["identity"] == "7" and out[1]["event_name"] == "App Launched"
    assert [e["code"] for e in out[1]["errors"]] == ["system_event", "invalid_timestamp"]
    assert json.loads(result.stderr)["health"] == "50.00%"


def test_csv_on_stdin_is_sniffed(files):
    result = run("check", "--spec", files.spec(PROFILE), "-", stdin=CSV)
    assert result.returncode == 0 and len(lines(result.stdout)) == 3


def test_all_good_is_green_and_empty_is_blank(files):
    spec = files.spec(PROFILE)
    good = run("check", "--spec", spec, files("good.jsonl", '{"user_id": "u1"}\n'))
    assert json.loads(good.stderr) == {
        "total": 1,
        "successful": 1,
        "failed": 0,
        "health": "100%",
        "health_band": "green",
    }
    empty = run("check", "--spec", spec, files("empty.csv", "user_id,mail,age,sms_ok\n"))
    assert empty.returncode == 0 and empty.stdout == ""
    assert json.loads(empty.stderr)["health"] == "Blank"


@pytest.mark.parametrize(
    ("spec_text", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"sync_type": "event", "identity_column": "uid"}', "event name column"),
        (
            '{"sync_type": "profile", "identity_column": "id", "fields": [{"column": "a", "target": "a", "type": "Money"}]}',
            "unknown data type",
        ),
        ("[]", "JSON object"),
    ],
)
def test_bad_spec_exits_2_with_one_line(files, spec_text, reason):
    result = run("check", "--spec", files("spec.json", spec_text), files("in.csv", CSV))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and reason in result.stderr


def test_unreadable_file_exits_2(files, tmp_path):
    spec = files.spec(PROFILE)
    for path in (str(tmp_path / "missing.csv"), str(tmp_path)):
        result = run("check", "--spec", spec, path)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    not_utf8 = run("check", "--spec", spec, files("latin1.csv", b"user_id\n\xe9t\xe9\n"))
    assert not_utf8.returncode == 2 and "cannot read" in not_utf8.stderr


def test_missing_spec_argument_exits_2_with_one_line(files):
    result = run("check", files("in.csv", CSV))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_malformed_json_line_exits_2(files, capsys):
    code = main(
        ["check", "--spec", files.spec(PROFILE), files("in.jsonl", '{"user_id": "u1"}\n[1, 2]\n')]
    )
    assert code == 2
    assert "line 2 is not a JSON object" in capsys.readouterr().err


def test_missing_columns_are_a_warning(files, capsys):
    assert main(["check", "--spec", files.spec(PROFILE), files("in.csv", "user_id\nu1\n")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: ") and err[0].endswith(
        "in.csv has no column mail, age, sms_ok"
    )
    assert json.loads(err[-1])["health"] == "100%"


def test_bom_huge_cells_and_odd_text(files, capsys):
    huge = "a" * 300_000
    text = "\ufeffuser_id,mail\n" + f"{huge},x@y.com\n" + 'u2,"line\nbreak@x.com"\n'
    assert main(["check", "--spec", files.spec(PROFILE), files("in.csv", text)]) == 0
    out = lines(capsys.readouterr().out)
    assert [row["ok"] for row in out] == [False, False]
    assert out[0]["errors"][0]["code"] == "invalid_identity" and out[0]["identity"] == huge


def test_format_override(files, capsys):
    path = files("rows.txt", '{"user_id": "u1"}\n')
    assert main(["check", "--spec", files.spec(PROFILE), "--format", "jsonl", path]) == 0
    assert lines(capsys.readouterr().out)[0]["ok"] is True
