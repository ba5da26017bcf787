"""What failed records keep of the source (issue 17, item 1): the rejected value of each error,
the source row, the masking rule, and how every page renders a value."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from imports import failed_values
from imports.models import RecordResult
from imports.templatetags.imports_tags import rejected_value
from tests.engine.conftest import T0, make_profile_import
from tests.engine.test_engine import run_inline


@pytest.fixture
def run_once(request, django_capture_on_commit_callbacks):
    """Run an import now, in this process (test_engine's `run_inline`)."""
    captured = request.getfixturevalue("queue")
    return lambda imp: run_inline(imp, django_capture_on_commit_callbacks, captured)


# --- The masking rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("alice@example.com", "a***@***.com"),
        ("A.B+tag@mail.example.co.uk", "A***@***.uk"),
        ("+91 98765 410", "+91******10"),
        ("+9198765410", "+91******10"),
        ("(555) 123-4567", "55******67"),
        ("John 42", "Aaaa 99"),
        ("Ünïcødé ß 𝔘", "Aaaaaaa a A"),  # letters of any script
        ("12345", "99999"),  # too few digits for a phone: a number's shape
        ("not@an email", "aaa@aa aaaaa"),  # white space: not an e-mail address
        ("   ", "   "),
        ("", ""),
        ("tab\there", "aaa\taaaa"),
        ("100%", "999%"),
    ],
)
def test_masking_keeps_the_shape_only(value, shape):
    assert failed_values.mask(value) == shape


def test_kept_value_cuts_at_200_and_marks_it_and_shows_nul_as_its_symbol():
    assert failed_values.kept_value("x" * 200, "full") == ("x" * 200, False)
    assert failed_values.kept_value("x" * 1024, "full") == ("x" * 200, True)
    assert failed_values.kept_value("a\x00b", "full") == ("a\u2400b", False)
    assert failed_values.kept_value(None, "masked") == (None, False)
    assert failed_values.kept_value(Decimal("1.50"), "full") == ("1.50", False)
    assert failed_values.kept_value(float("nan"), "full") == ("nan", False)
    assert failed_values.kept_value("bob@x.org", "masked") == ("b***@***.org", False)


def test_a_source_row_keeps_its_types_and_only_a_size_when_larger_than_16_kb():
    row = {
        "a": "text\x00\t\u00a0",
        "b": Decimal("12.30"),
        "c": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "d": date(2024, 1, 2),
        "e": float("inf"),
        "f": 2**80,
        "g": {"$t": "date", "v": "not a tag"},  # a source's JSON value that looks like a tag
        "h": None,
        "unmapped": "left out",
    }
    columns = tuple(k for k in row if k != "unmapped")
    back = failed_values.decode_row(failed_values.encode_row(row, columns))
    assert back == {k: row[k] for k in columns}
    assert type(back["b"]) is Decimal and type(back["c"]) is datetime
    big = failed_values.encode_row({"a": "x" * 20_000}, ("a",))
    assert big == "20008" and failed_values.decode_row(big) is None
    assert failed_values.decode_row(None) is None


# --- Rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "html"),
    [
        ({"value": None}, '<span class="value value-null">NULL</span>'),
        ({"value": "NULL"}, '<code class="value">NULL</code>'),
        ({"value": ""}, '<span class="value value-blank">(blank)</span>'),
        ({}, '<span class="value value-none">value not kept</span>'),
        (
            {"value": "<script>'&\""},
            '<code class="value">&lt;script&gt;&#x27;&amp;&quot;</code>',
        ),
        ({"value": "x" * 200, "cut": True}, "cut at 200 characters"),
    ],
)
def test_rejected_value_says_what_it_is_in_words_and_escapes(error, html):
    assert html in rejected_value(error)


def test_white_space_tabs_nul_and_no_break_spaces_are_made_visible():
    spaces = rejected_value({"value": "  "})
    assert "white space only" in spaces and spaces.count('title="space"') == 2
    odd = rejected_value({"value": " a\tb\u00a0c\u2400d\u200b "})
    for name in ("space", "tab", "no-break space", "NUL", "U+200B"):
        assert f'title="{name}"' in odd, name
    assert "\t" not in odd and "\u00a0" not in odd and "\u200b" not in odd
    assert "white space only" not in odd
    assert rejected_value({"value": "\u00a0\t"}).count('class="ws"') == 2


# --- A run -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["full", "masked", "off"])
def test_failed_records_keep_values_and_rows_as_the_setting_says(
    run_once,
    mode,
    wh_datasource,
    warehouse,
    django_capture_on_commit_callbacks,
    settings,
    caplog,
):
    settings.IMPORT_KEEP_FAILED_VALUES = mode
    odd = "old\x00\t\u00a0" + "y" * 300
    warehouse.insert_profile_rows(
        [
            (1, "u1", "ok@example.com", "33", T0),
            (2, "u2", "bob@example.com", odd, T0),
            (3, "null", "  ", "41", T0),
        ]
    )
    imp = make_profile_import(wh_datasource)
    with caplog.at_level(logging.DEBUG):
        run = run_once(imp)
    assert (run.successful, run.failed) == (1, 2)
    records = {r.row_number: r for r in RecordResult.objects.filter(run=run)}
    assert records[1].source_row is None and records[1].errors == []

    age, identity = records[2].errors[0], records[3].errors[0]
    if mode == "off":
        assert "value" not in age and records[2].source_row is None
    elif mode == "masked":
        assert age["value"] == "aaa\u2400\t\u00a0" + "a" * 194 and age["cut"] is True
        assert identity["value"] == "aaaa"
        assert records[2].source_row is None
    else:
        assert age["value"] == odd[:200].replace("\x00", "\u2400") and age["cut"] is True
        assert identity["value"] == "null" and "cut" not in identity
        kept = failed_values.decode_row(records[2].source_row)
        assert kept == {"user_id": "u2", "email": "bob@example.com", "age": odd}  # "id" unmapped
    assert "bob@example.com" not in caplog.text and "yyyy" not in caplog.text
