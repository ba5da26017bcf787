"""What a failed record keeps of its source (issue 17): the value each error rejected, and the
mapped columns of its source row, which "Retry failed records" validates again.

`IMPORT_KEEP_FAILED_VALUES` decides, for runs written from then on:
- `full` (default): each error keeps its value as text (at most VALUE_LIMIT characters, `cut`
  when longer), and the record keeps its source row (at most ROW_LIMIT bytes of JSON; a larger
  row keeps only its size, so the pages can say why it cannot be retried).
- `masked`: each error keeps only the value's shape (`mask`); no source row (a row that could
  be retried would be the personal data the operator chose not to keep).
- `off`: nothing.

Successful records keep nothing. The values go with their records (retention purge, a failed
event run's withdrawal) and are never logged. NUL characters: PostgreSQL's jsonb cannot hold
one, so a value shows it as U+2400 (␀, the symbol for NUL); the source row is JSON in a text
column, which keeps it as the escape `\\u0000`, so a retry sees the very value that failed.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings

FULL, MASKED, OFF = "full", "masked", "off"
VALUE_LIMIT = 200
ROW_LIMIT = 16 * 1024

MODE_NOTES = {
    FULL: "Rejected values are kept in full for failed records (IMPORT_KEEP_FAILED_VALUES=full).",
    MASKED: "Rejected values are kept masked: their shape only (IMPORT_KEEP_FAILED_VALUES=masked).",
    OFF: "Rejected values are not kept (IMPORT_KEEP_FAILED_VALUES=off).",
}


def mode() -> str:
    return settings.IMPORT_KEEP_FAILED_VALUES


def mode_note() -> str:
    return MODE_NOTES[mode()]


# --- The rejected value ----------------------------------------------------------------------


def as_text(value: Any) -> str | None:
    """A source value as text, as the warehouse returned it (None stays None: NULL)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.([^@\s.]+)")
_PHONE = re.compile(r"\+?[0-9 ().\-]+")


def mask(text: str) -> str:
    """The shape of a value, keeping nothing that identifies it. The first rule that fits:

    1. An e-mail address (`local@domain.tld`, one `@`, no white space): the local part's first
       character, `***@***.` and the last label of the domain: `alice@example.com` →
       `a***@***.com`.
    2. A phone number (only digits, spaces and `+ - ( ) .`, at least 7 digits): `+` if it
       starts with one, the first two digits, a `*` for each digit in between, the last two
       digits; separators dropped: `+91 98765 410` → `+91******10`.
    3. Anything else, character by character: an upper-case letter → `A`, any other letter →
       `a`, a digit → `9`; everything else (white space, punctuation, symbols) stays, so blank
       and white space only values keep their shape: `John 42` → `Aaaa 99`.
    """
    email = _EMAIL.fullmatch(text)
    if email:
        return f"{text[0]}***@***.{email.group(1)}"
    if _PHONE.fullmatch(text):
        digits = [c for c in text if c.isdigit()]
        if len(digits) >= 7:
            plus = "+" if text.lstrip().startswith("+") else ""
            return f"{plus}{''.join(digits[:2])}{'*' * (len(digits) - 4)}{''.join(digits[-2:])}"
    return "".join(
        ("A" if c.isupper() else "a") if c.isalpha() else "9" if c.isdigit() else c for c in text
    )


def kept_value(value: Any, how: str) -> tuple[str | None, bool]:
    """(text, cut) an error keeps of `value` under mode `how` (not OFF)."""
    text = as_text(value)
    if text is None:
        return None, False
    if how == MASKED:
        text = mask(text)
    cut = len(text) > VALUE_LIMIT
    if cut:
        text = text[:VALUE_LIMIT]
    if "\x00" in text:
        text = text.replace("\x00", "\u2400")
    return text, cut


def error_dicts(errors, row: dict, how: str) -> list[dict]:
    """The JSON of a failed record's errors, each with its rejected value when kept."""
    if how == OFF:
        return [{"field": e.field, "code": e.code, "message": e.message} for e in errors]
    out = []
    for e in errors:
        value = row.get(e.field)
        # The usual case, a short text kept in full, without a call (hot path: `prepare_batch`).
        if how == FULL and type(value) is str and len(value) <= VALUE_LIMIT and "\x00" not in value:
            text, cut = value, False
        else:
            text, cut = kept_value(value, how)
        item = {"field": e.field, "code": e.code, "message": e.message, "value": text}
        if cut:
            item["cut"] = True
        out.append(item)
    return out


# --- The source row --------------------------------------------------------------------------

# Values JSON has no type for are kept tagged, `{"$t": kind, "v": text}`, and turned back into
# the same Python value for a retry (a Decimal that failed as not numeric must fail or pass
# again as a Decimal, not as a float). Nested values of a dict or list keep orjson's text.
_PLAIN = (str, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)
_INT64 = 2**63


def _tagged(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else {"$t": "int", "v": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$t": "float", "v": repr(value)}
    if isinstance(value, datetime):
        return {"$t": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"$t": "date", "v": value.isoformat()}
    if isinstance(value, time):
        return {"$t": "time", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$t": "decimal", "v": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$t": "bytes", "v": bytes(value).hex()}
    if isinstance(value, dict | list | tuple):
        return {"$t": "json", "v": value}
    return {"$t": "str", "v": str(value)}


_UNTAG = {
    "int": int,
    "float": float,
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "decimal": Decimal,
    "bytes": bytes.fromhex,
    "json": lambda v: v,
    "str": str,
}


def _default(value: Any) -> Any:
    return str(value)


def encode_row(row: dict, columns: tuple[str, ...]) -> str:
    """The kept source row: a JSON object of `columns` (those the mapping reads), or, when its
    JSON is larger than ROW_LIMIT bytes, that size as a JSON number (not kept)."""
    get = row.get
    data = orjson.dumps(
        # Texts (most source values) skip the call: one set lookup each.
        {c: v if type(v) in _PLAIN_TYPES else _tagged(v) for c in columns for v in (get(c),)},
        default=_default,
        option=orjson.OPT_NON_STR_KEYS,
    )
    if len(data) > ROW_LIMIT:
        return str(len(data))
    return data.decode()


def decode_row(text: str | None) -> dict | None:
    """The source row `encode_row` kept, or None when none was (NULL, or too large)."""
    if not text or not text.startswith("{"):
        return None
    data = orjson.loads(text)
    return {
        k: _UNTAG[v["$t"]](v["v"]) if isinstance(v, dict) and "$t" in v else v
        for k, v in data.items()
    }


def mapped_columns(spec) -> tuple[str, ...]:
    """The source columns a mapping reads: what a failed record keeps of its row."""
    names = [spec.identity_column, spec.event_name_column, spec.timestamp_column]
    names += [f.column for f in spec.fields]
    names.append(spec.event_key_column)
    return tuple(dict.fromkeys(n for n in names if n))
