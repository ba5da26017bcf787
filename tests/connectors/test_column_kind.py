"""`Column.kind`: the type family that pre-fills a column's data type in the wizard."""

from __future__ import annotations

import pytest

from connectors.base import Column


@pytest.mark.parametrize(
    ("type_name", "kind"),
    [
        # Integers as each warehouse names them.
        ("int4", "integer"),
        ("int8", "integer"),
        ("INTEGER", "integer"),
        ("BIGINT", "integer"),
        ("HUGEINT", "integer"),
        ("UTINYINT", "integer"),
        ("INT64", "integer"),
        ("BYTEINT", "integer"),
        ("bigserial", "integer"),
        ("FIXED", "integer"),
        ("NUMBER(38,0)", "integer"),
        ("NUMBER(38,2)", "decimal"),
        ("numeric", "decimal"),
        ("float8", "float"),
        ("double precision", "float"),
        # Names that only contain INT or BYTE are not integers.
        ("interval", "other"),
        ("INTERVAL", "other"),
        ("point", "other"),
        ("bytea", "other"),
        ("int4[]", "other"),
        ("numeric[]", "other"),
        ("DOUBLE[3]", "other"),
        ("varchar", "string"),
        ("timestamptz", "datetime"),
        ("DATE", "date"),
        ("time", "time"),
        ("BOOLEAN", "boolean"),
    ],
)
def test_kind(type_name, kind):
    assert Column("c", type_name).kind == kind
