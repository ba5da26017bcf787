"""The Error Reference as data: exact texts, codes ordered identity first."""

from __future__ import annotations

from pathlib import Path

import pytest

from validation import ERROR_CODES, ERROR_RANK, ERROR_REFERENCE, MESSAGES
from validation.errors import error_summary_key

# DESIGN.md "Validation rules": code -> message, character for character.
DESIGN_MESSAGES = {
    "invalid_identity": "Invalid identity or CleverTap ID",
    "not_numeric": "Value should be an Integer or a Float, but a different data type was received",
    "invalid_boolean": "Value for Boolean data type needs to be 0, 1, true, or false",
    "invalid_date": "Field mapped as Date contains invalid values",
    "invalid_email": "Email is not valid",
    "invalid_phone": "Phone number must start with a valid country code and contain more than 4 digits",
    "invalid_comm_pref": "Communication preferences contain unsupported values",
    "prohibited_event_char": "Event name contains a prohibited character",
    "system_event": "The system event name cannot be processed from the data source",
    "missing_event_name": "Event name is missing",
    "invalid_timestamp": "Timestamp value is in an unsupported format or data type",
}

# The product documentation, where a checkout keeps it beside the repository (shared/spec/).
SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "import-listing-and-stats.txt"


def test_messages_match_design():
    assert MESSAGES == DESIGN_MESSAGES
    assert {code: info.message for code, info in ERROR_REFERENCE.items()} == DESIGN_MESSAGES


def test_identity_errors_rank_first():
    assert ERROR_CODES[0] == "invalid_identity"
    assert set(ERROR_CODES) == set(DESIGN_MESSAGES)
    assert sorted(["invalid_timestamp", "invalid_identity", "not_numeric"], key=ERROR_RANK.get)[
        0
    ] == ("invalid_identity")


def test_error_summaries_put_identity_first_then_the_most_frequent_then_reference_order():
    rows = [
        ("invalid_email", 5, "email"),
        ("not_numeric", 5, "age"),
        ("invalid_date", 9, "born"),
        ("invalid_identity", 1, "user_id"),
        ("from_the_future", 5, "x"),
    ]
    ordered = [code for code, _, _ in sorted(rows, key=lambda r: error_summary_key(*r))]
    assert ordered == [
        "invalid_identity",
        "invalid_date",
        "not_numeric",
        "invalid_email",
        "from_the_future",
    ]


def test_every_entry_is_complete():
    for code, info in ERROR_REFERENCE.items():
        assert info.code == code and info.cause and info.resolution
        assert info.group in ("common", "profile", "event")


@pytest.mark.skipif(not SPEC.exists(), reason="shared/spec is not beside this checkout")
def test_texts_are_the_reference_rows_verbatim():
    rows = set(SPEC.read_text(encoding="utf-8").splitlines())
    for code, info in ERROR_REFERENCE.items():
        if code == "missing_event_name":  # DESIGN.md's own addition; not in the reference
            continue
        assert info.message + info.cause + info.resolution in rows, code
