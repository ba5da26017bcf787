"""MappingSpec and FieldMapping: a mapping that cannot work is a MappingError naming the field."""

from __future__ import annotations

import json

import pytest

from validation import (
    COMM_PREF_TARGETS,
    FIELD_TYPES,
    STANDARD_PROFILE_TARGETS,
    FieldMapping,
    MappingError,
    MappingSpec,
)
from validation.spec import PROHIBITED_KEY_CHARS


def test_wizard_constants():
    assert FIELD_TYPES == ("String", "Integer", "Float", "Boolean", "Date")
    assert STANDARD_PROFILE_TARGETS == ("Identity", "Name", "Email", "Phone", "Gender", "DOB")
    assert COMM_PREF_TARGETS[:4] == ("MSG-email", "MSG-push", "MSG-sms", "MSG-whatsapp")
    assert {"MSG-dndPhone", "MSG-dndEmail", "MSG-dndSMS", "MSG-dndWhatsApp"} <= set(
        COMM_PREF_TARGETS
    )


def test_event_import_needs_an_event_name_column():
    with pytest.raises(MappingError, match="event name column") as caught:
        MappingSpec(sync_type="event", identity_column="uid")
    assert caught.value.field == "event_name_column"


def test_two_fields_onto_one_target():
    with pytest.raises(MappingError, match="'mail'.*'mail2'.*'Email'") as caught:
        MappingSpec(
            sync_type="profile",
            identity_column="id",
            fields=[FieldMapping("mail", "Email"), FieldMapping("mail2", "Email")],
        )
    assert caught.value.field == "mail2"


@pytest.mark.parametrize("bad_type", ["Number", "int", "", None, "Datetime"])
def test_unknown_type(bad_type):
    with pytest.raises(MappingError, match="'age'.*unknown data type") as caught:
        FieldMapping("age", "age", bad_type)
    assert caught.value.field == "age"


@pytest.mark.parametrize("spelling", ["integer", "INTEGER", "Integer"])
def test_type_names_are_case_insensitive(spelling):
    assert FieldMapping("age", "age", spelling).type == "Integer"


def test_property_key_length():
    FieldMapping("c", "k" * 120)
    with pytest.raises(MappingError, match="'c'.*121 characters") as caught:
        FieldMapping("c", "k" * 121)
    assert caught.value.field == "c"


@pytest.mark.parametrize("char", list(PROHIBITED_KEY_CHARS))
def test_prohibited_key_character(char):
    with pytest.raises(MappingError, match="'col'.*prohibited character"):
        FieldMapping("col", f"my{char}key")


@pytest.mark.parametrize(
    "target", [*STANDARD_PROFILE_TARGETS, *COMM_PREF_TARGETS, "Created On", "a-b_c 1"]
)
def test_allowed_targets(target):
    FieldMapping("col", target)


@pytest.mark.parametrize("target", ["", "   ", None])
def test_blank_target(target):
    with pytest.raises(MappingError):
        FieldMapping("col", target)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sync_type": "users"},
        {"identity_column": ""},
        {"identity_kind": "email"},
        {"identity_column": None},
    ],
)
def test_bad_spec_keys(kwargs):
    with pytest.raises(MappingError):
        MappingSpec(**{"sync_type": "profile", "identity_column": "id", **kwargs})


def test_identity_target_must_be_the_identity_column():
    with pytest.raises(MappingError, match="'other'.*Identity"):
        MappingSpec(
            sync_type="profile", identity_column="id", fields=[FieldMapping("other", "Identity")]
        )
    MappingSpec(sync_type="profile", identity_column="id", fields=[FieldMapping("id", "Identity")])


@pytest.mark.parametrize(
    "fmt", ["foo", "yyyy-MM", "dd/MM/yy", "hh:mm a dd/MM/yyyy", "yyyy-MM-dd-dd", ""]
)
def test_bad_date_format(fmt):
    with pytest.raises(MappingError, match="'d'") as caught:
        FieldMapping("d", "d", "Date", date_format=fmt)
    assert caught.value.field == "d"


def test_date_format_only_for_dates():
    with pytest.raises(MappingError, match="only to Date"):
        FieldMapping("n", "n", "Integer", date_format="dd/MM/yyyy")
    FieldMapping("dob", "DOB", "String", date_format="dd/MM/yyyy")  # DOB is a date


def test_bad_timestamp_format():
    with pytest.raises(MappingError) as caught:
        MappingSpec(
            sync_type="event", identity_column="u", event_name_column="e", timestamp_format="xx"
        )
    assert caught.value.field == "timestamp_format"


def test_round_trip_through_json():
    spec = MappingSpec(
        sync_type="event",
        identity_column="uid",
        identity_kind="clevertap_id",
        event_name_column="evt",
        timestamp_column="ts",
        timestamp_format="MM/dd/yyyy HH:mm",
        fields=[
            FieldMapping("amount", "amount", "float"),
            FieldMapping("d", "d", "Date", "yyyyMMdd"),
        ],
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert MappingSpec.from_dict(data) == spec
    assert data["fields"][0] == {
        "column": "amount",
        "target": "amount",
        "type": "Float",
        "date_format": None,
    }


def test_from_dict_defaults():
    spec = MappingSpec.from_dict({"sync_type": "profile", "identity_column": "id"})
    assert spec.identity_kind == "identity" and spec.fields == ()


@pytest.mark.parametrize(
    "data",
    [
        [],
        "spec",
        {"identity_column": "id"},
        {"sync_type": "profile", "identity_column": "id", "colour": "red"},
        {"sync_type": "profile", "identity_column": "id", "fields": {"a": "b"}},
        {"sync_type": "profile", "identity_column": "id", "fields": ["a"]},
        {"sync_type": "profile", "identity_column": "id", "fields": [{"column": "a"}]},
        {
            "sync_type": "profile",
            "identity_column": "id",
            "fields": [{"column": "a", "target": "b", "kind": 1}],
        },
    ],
)
def test_from_dict_rejects_bad_shapes(data):
    with pytest.raises(MappingError):
        MappingSpec.from_dict(data)


def test_specs_are_hashable_and_immutable():
    spec = MappingSpec(sync_type="profile", identity_column="id", fields=[FieldMapping("a", "a")])
    assert isinstance(spec.fields, tuple) and hash(spec) == hash(
        MappingSpec.from_dict(spec.to_dict())
    )
    with pytest.raises(AttributeError):
        spec.sync_type = "event"
