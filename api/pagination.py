"""Keyset pagination: every list answers `{"items": [...], "next": <cursor or null>}`.

A cursor is the sort key of the last item sent, signed (so a client cannot forge one into an
arbitrary query) and tied to its list and sort. The next page is the rows strictly after that
key in the list's own order: page 400 costs what page 1 costs, and rows added meanwhile never
shift a page.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.core import signing
from django.db import connections
from django.db.models import Expression, F, OrderBy, Q, QuerySet

from api.problems import bad_parameters

DEFAULT_LIMIT = 50


def encode_cursor(kind: str, payload: dict) -> str:
    return signing.dumps(payload, salt=f"api-cursor:{kind}", compress=True)


def decode_cursor(kind: str, cursor: str, parameter: str = "cursor") -> dict:
    try:
        payload = signing.loads(cursor, salt=f"api-cursor:{kind}")
    except signing.BadSignature:
        payload = None
    if not isinstance(payload, dict):
        raise bad_parameters(
            {parameter: ["Not a cursor of this list: pass the `next` value of its last page."]}
        )
    return payload


def _plain(value: Any) -> Any:
    """A sort value as JSON; the field's to_python() reads the ISO text back in the filter."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


class Keyset:
    """The keyset of a queryset's own ORDER BY, read from the queryset (so it follows whatever
    ordering the list applies, expressions and NULLS placement included)."""

    def __init__(self, qs: QuerySet) -> None:
        vendor = connections[qs.db].vendor
        self.keys: list[
            tuple[Expression, bool, bool]
        ] = []  # (expression, descending, nulls_before)
        for item in qs.query.order_by:
            if isinstance(item, str):
                descending = item.startswith("-")
                item = OrderBy(F(item.lstrip("-")), descending=descending)
            if not isinstance(item, OrderBy):
                raise TypeError(f"cannot page through ordering {item!r}")
            if item.nulls_first or item.nulls_last:
                nulls_before = bool(item.nulls_first)
            else:
                # Each database's default: PostgreSQL sorts NULL as the largest value, SQLite
                # as the smallest.
                nulls_large = vendor == "postgresql"
                nulls_before = nulls_large == item.descending
            self.keys.append((item.expression, item.descending, nulls_before))
        self.names = [f"keyset_{i}" for i in range(len(self.keys))]

    def annotate(self, qs: QuerySet) -> QuerySet:
        return qs.annotate(**{n: k[0] for n, k in zip(self.names, self.keys, strict=True)})

    def values_of(self, row: tuple) -> list:
        return [_plain(v) for v in row]

    def after(self, values: list) -> Q:
        """Rows strictly after `values` (one per key) in the ordering."""
        if len(values) != len(self.keys):
            raise ValueError("cursor does not match the ordering")
        condition = Q(pk__in=[])  # nothing is after the last key alone
        for name, (_, descending, nulls_before), value in reversed(
            list(zip(self.names, self.keys, values, strict=True))
        ):
            if value is None:
                beyond = Q(**{f"{name}__isnull": False}) if nulls_before else Q(pk__in=[])
                same = Q(**{f"{name}__isnull": True})
            else:
                beyond = Q(**{f"{name}__lt" if descending else f"{name}__gt": value})
                if not nulls_before:
                    beyond |= Q(**{f"{name}__isnull": True})
                same = Q(**{name: value})
            condition = beyond | (same & condition)
        return condition

    def page(
        self, qs: QuerySet, kind: str, tag: str, cursor: str | None, limit: int
    ) -> tuple[list, str | None]:
        """The primary keys of one page, in order, and the cursor of the next (None on the last page).

        `tag` ties a cursor to what it pages through (the sort, the import), so a cursor of
        another list or sort answers 400 instead of a wrong page."""
        qs = self.annotate(qs)
        if cursor:
            payload = decode_cursor(kind, cursor)
            if payload.get("t") != tag:
                raise bad_parameters({"cursor": ["This cursor belongs to another sort or list."]})
            qs = qs.filter(self.after(payload["k"]))
        rows = list(qs.values_list("pk", *self.names)[: limit + 1])
        next_cursor = None
        if len(rows) > limit:
            last = self.values_of(rows[limit - 1][1:])
            next_cursor = encode_cursor(kind, {"t": tag, "k": last})
        return [row[0] for row in rows[:limit]], next_cursor
