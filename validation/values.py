"""Value rules shared by every field: text, identity, numbers and booleans.

Each `coerce_*` function takes one non-blank value (a text value already trimmed of WHITE_SPACE;
the caller drops blanks) and returns the normalised value, or `INVALID`. They never raise. They
dispatch on the exact type first (the common case from a warehouse driver or a CSV), then fall
back to `isinstance` checks for subclasses and number types such as `Decimal`.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from numbers import Integral, Real
from typing import Any, Final


class _Invalid:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()

# White space as DESIGN.md defines it: Unicode's White_Space property (PropList.txt), every
# character of it. Python's str.strip(), str.isspace(), str.split() and re's \s also take the
# control characters U+001C-U+001F, which are not white space here: trim with
# `text.strip(WHITE_SPACE)`, never with a bare `strip()`.
WHITE_SPACE: Final = (
    "\t\n\x0b\x0c\r"  # U+0009-U+000D
    " "  # U+0020
    "\x85"  # next line
    "\xa0"  # no-break space
    "\u1680"  # Ogham space mark
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"  # en quad to hair space
    "\u2028\u2029"  # line and paragraph separators
    "\u202f"  # narrow no-break space
    "\u205f"  # medium mathematical space
    "\u3000"  # ideographic space
)

IDENTITY_MAX_LENGTH = 1024
RESERVED_IDENTITIES = frozenset({"null", "undefined", "0", "n/a", "none"})

# Python refuses int <-> str conversions past this many digits (sys.int_info.default_max_str_digits);
# a number that long could not be written out as JSON either, so it is not accepted as a number.
MAX_INT_DIGITS = 4300

# A decimal numeric text: -12, 3.50, .5, 1e3. ASCII digits only: no "1_000", no "nan"/"inf".
_NUMERIC_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_BOOLEAN_TEXT = {"0": False, "1": True, "true": True, "false": False}


def _number_text(value: Any) -> str | None:
    """Text of a number as an identity or an event name sees it; None for NaN and infinities.

    Integral numbers become their integer text, so 0, 0.0 and Decimal("0.00") all read "0".
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        if value != value.to_integral_value():
            return str(value)
        if value and value.adjusted() >= MAX_INT_DIGITS:
            return None  # far past any identity or name length; not worth writing out
        return str(int(value))
    try:
        return str(int(value))
    except (ValueError, TypeError, OverflowError):
        return None


def as_text(value: Any) -> str | None:
    """A value as trimmed text for the identity and event-name rules, or None if it has none.

    Text is trimmed; numbers become their text (integral ones as integers); dates and datetimes
    their ISO form. Booleans, NaN, infinities, containers and anything else have no text.
    """
    if value.__class__ is str:
        return value.strip(WHITE_SPACE)
    if isinstance(value, str):
        return str.strip(value, WHITE_SPACE)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal, Integral)):
        return _number_text(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return None


def identity_text(value: Any) -> str | None:
    """The identity rule: the normalised identity, or None when the value is not a valid one."""
    if value is None:
        return None
    text = value.strip(WHITE_SPACE) if value.__class__ is str else as_text(value)
    if (
        not text
        or len(text) > IDENTITY_MAX_LENGTH
        or (len(text) <= 9 and text.lower() in RESERVED_IDENTITIES)
        # The store (PostgreSQL text) cannot hold NUL; dropping it would merge "a\0b" into the
        # profile "ab", so the identity is refused instead (invalid_identity).
        or "\x00" in text
    ):
        return None
    return text


def coerce_string(value: Any) -> Any:
    """Any value is a valid String: text as is, anything else written out as text."""
    if value.__class__ is str:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        # Binary columns as hexadecimal text ("00ff"), not Python's repr (b'\x00\xff').
        return bytes(value).hex()
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(value)
    try:
        return str(value)
    except ValueError:  # an int past MAX_INT_DIGITS
        return format(Decimal(value))


def coerce_integer(value: Any) -> Any:
    """Integer: a finite number or numeric text with no fractional part (3.0 yes, 3.5 no)."""
    cls = value.__class__
    if cls is str:
        if value.isdigit() and value.isascii() and len(value) <= MAX_INT_DIGITS:
            return int(value)
        return _integer_from_text(value)
    if cls is int:
        return value
    if cls is float:
        return int(value) if value.is_integer() else INVALID
    if isinstance(value, bool):
        return INVALID
    if isinstance(value, str):
        return _integer_from_text(str(value))
    if isinstance(value, Decimal):
        return _integer_from_decimal(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        value = float(value)
        return int(value) if value.is_integer() else INVALID
    return INVALID


def _integer_from_text(text: str) -> Any:
    if _NUMERIC_TEXT.fullmatch(text) is None:
        return INVALID
    try:
        return _integer_from_decimal(Decimal(text))
    except (InvalidOperation, ValueError):
        return INVALID


def _integer_from_decimal(value: Decimal) -> Any:
    if not value.is_finite() or value != value.to_integral_value():
        return INVALID
    if value and value.adjusted() >= MAX_INT_DIGITS:
        return INVALID
    return int(value)


def coerce_float(value: Any) -> Any:
    """Float: a finite number or numeric text. NaN, infinities and overflows are not numbers."""
    cls = value.__class__
    if cls is float:
        return value if math.isfinite(value) else INVALID
    if cls is str:
        # float() reads every decimal numeric text, and beyond it only "nan"/"inf" spellings
        # (not finite), "_" separators, non-ASCII digits and Python's white space around the
        # number (U+001C-U+001F are left by our trim): ruled out after, quicker than matching
        # _NUMERIC_TEXT first (test_number_rules_follow_their_definition holds both).
        try:
            number = float(value)
        except ValueError:
            return INVALID
        if (
            not math.isfinite(number)
            or "_" in value
            or not value.isascii()
            or value[0].isspace()
            or value[-1].isspace()
        ):
            return INVALID
        return number
    if cls is int:
        return _finite_float(value)
    if isinstance(value, bool):
        return INVALID
    if isinstance(value, str):
        return coerce_float(str(value))
    if isinstance(value, (Decimal, Real)):
        return _finite_float(value)
    return INVALID


def _finite_float(value: Any) -> Any:
    try:
        number = float(value)
    except (OverflowError, ValueError, InvalidOperation):
        return INVALID
    return number if math.isfinite(number) else INVALID


def coerce_boolean(value: Any) -> Any:
    """Boolean: a real boolean, a number equal to 0 or 1, or the text 0, 1, true, false (any case)."""
    cls = value.__class__
    if cls is str:
        result = _BOOLEAN_TEXT.get(value)
        if result is None and len(value) <= 5:
            result = _BOOLEAN_TEXT.get(value.lower())
        return INVALID if result is None else result
    if cls is bool:
        return value
    if cls is int:
        return True if value == 1 else False if value == 0 else INVALID
    if isinstance(value, str):
        return coerce_boolean(str(value))
    if isinstance(value, Decimal) and value.is_nan():
        return INVALID
    if isinstance(value, (int, float, Decimal, Real)):
        if value == 1:
            return True
        if value == 0:
            return False
    return INVALID
