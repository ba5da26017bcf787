"""`store.dumps`: the JSON text written for payloads and error lists."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from imports import store


def test_plain_payload_round_trips_compactly():
    payload = {"amount": 12.37, "quantity": 5, "vip": True, "name": "Zoë \u2028", "none": None}
    text = store.dumps(payload)
    assert json.loads(text) == payload
    assert ", " not in text and ": " not in text


def test_dates_and_decimals_use_the_store_conventions():
    text = store.dumps({"at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "day": date(2024, 1, 2)})
    assert json.loads(text) == {"at": "2024-01-02T03:04:05+00:00", "day": "2024-01-02"}
    assert json.loads(store.dumps({"price": Decimal("1.25")})) == {"price": 1.25}


def test_integers_beyond_64_bits_are_written_exactly():
    big = 2**70 + 1
    assert json.loads(store.dumps({"n": big, "m": -big})) == {"n": big, "m": -big}


def test_nul_characters_are_dropped_as_copy_drops_them_from_text():
    assert json.loads(store.dumps({"k\x00ey": ["a\x00b", {"n": "\x00"}]})) == {
        "key": ["ab", {"n": ""}]
    }
    # An escaped backslash before "u0000" is not a NUL: the text stays as it was.
    assert json.loads(store.dumps({"path": "C:\\u0000"})) == {"path": "C:\\u0000"}


def test_dumps_each_is_dumps_of_every_value():
    plain = [{"a": 1}, {"b": "x"}, {}]
    odd = [{"n": 2**70}, {"s": "a\x00b"}, {"at": date(2024, 1, 2)}, {"path": "C:\\u0000"}]
    for values in (plain, odd, plain + odd, []):
        assert store.dumps_each(values) == [store.dumps(v) for v in values]
