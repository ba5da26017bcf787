"""The source's columns as each run read them, and how they changed since the previous run.

A run records its source's columns and warehouse types when it opens the source
(`record_source_columns`, the pipeline's one call), before counting or reading a row. When they
differ from the previous run's, the run records the difference (`diff_columns`): columns added,
removed, retyped, and pairs that look like a rename. A mapped column that is missing fails the
run at once with a message naming it, instead of every row failing (or a warehouse error).

`diff_columns` and `SchemaChange` are plain Python, table-tested in tests/engine/test_schema.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from connectors import ConnectorError

Columns = list[tuple[str, str]]  # (name, warehouse type), in the source's order


def _type_key(warehouse_type: str) -> str:
    """Types compared as the warehouse spells them, apart from case and spacing."""
    return " ".join(warehouse_type.upper().split())


def _name_key(name: str) -> str:
    """A name with case and separators dropped: `signupDate`, `SIGNUP_DATE` and `signup date`
    look like one column renamed."""
    return re.sub(r"[\W_]+", "", name.casefold())


@dataclass(frozen=True)
class SchemaChange:
    """What changed between two reads of a source's columns."""

    added: tuple[tuple[str, str], ...] = ()  # (name, type)
    removed: tuple[tuple[str, str], ...] = ()  # (name, type)
    renamed: tuple[tuple[str, str, str, str], ...] = ()  # (old, new, old type, new type)
    retyped: tuple[tuple[str, str, str], ...] = ()  # (name, old type, new type)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.retyped)

    def to_json(self) -> dict[str, list]:
        return {
            "added": [list(c) for c in self.added],
            "removed": [list(c) for c in self.removed],
            "renamed": [list(c) for c in self.renamed],
            "retyped": [list(c) for c in self.retyped],
        }

    @classmethod
    def from_json(cls, data: Any) -> SchemaChange:
        if not isinstance(data, dict):
            return cls()
        return cls(
            added=tuple(tuple(c) for c in data.get("added") or ()),
            removed=tuple(tuple(c) for c in data.get("removed") or ()),
            renamed=tuple(tuple(c) for c in data.get("renamed") or ()),
            retyped=tuple(tuple(c) for c in data.get("retyped") or ()),
        )

    def phrases(self) -> list[str]:
        """Each difference as a clause that reads after "the first run after …"."""
        out = [
            f"the source column `{name}` changed type from {old} to {new}"
            for name, old, new in self.retyped
        ]
        for old, new, old_type, new_type in self.renamed:
            typed = "" if _type_key(old_type) == _type_key(new_type) else f" ({new_type})"
            out.append(f"the source column `{old}` looks renamed to `{new}`{typed}")
        out += [f"the source column `{name}` ({kind}) was removed" for name, kind in self.removed]
        out += [f"the source column `{name}` ({kind}) was added" for name, kind in self.added]
        return out

    def items(self) -> list[str]:
        """Each difference, short, for a list under the heading "Source columns changed"."""
        out = [f"`{name}`: {old} → {new}" for name, old, new in self.retyped]
        out += [f"`{old}` → `{new}` (looks renamed)" for old, new, _, _ in self.renamed]
        out += [f"`{name}` ({kind}) removed" for name, kind in self.removed]
        out += [f"`{name}` ({kind}) added" for name, kind in self.added]
        return out


def diff_columns(before: Columns, after: Columns) -> SchemaChange:
    """How `after` differs from `before`. Order alone is no change (rows are read by name).

    A removed and an added column are paired as "looks renamed" when their names match apart
    from case and separators, or else when both have the same type at the same position (a
    column renamed in place). Each column pairs at most once, earliest first."""
    old_types = {name: kind for name, kind in before}
    new_types = {name: kind for name, kind in after}
    removed = [(i, name, kind) for i, (name, kind) in enumerate(before) if name not in new_types]
    added = [(i, name, kind) for i, (name, kind) in enumerate(after) if name not in old_types]
    retyped = tuple(
        (name, old_types[name], kind)
        for name, kind in after
        if name in old_types and _type_key(old_types[name]) != _type_key(kind)
    )
    renamed = []
    for same in (
        lambda r, a: _name_key(r[1]) == _name_key(a[1]),
        lambda r, a: r[0] == a[0] and _type_key(r[2]) == _type_key(a[2]),
    ):
        for r in list(removed):
            match = next((a for a in added if same(r, a)), None)
            if match is not None:
                renamed.append((r[1], match[1], r[2], match[2]))
                removed.remove(r)
                added.remove(match)
    return SchemaChange(
        added=tuple((name, kind) for _, name, kind in added),
        removed=tuple((name, kind) for _, name, kind in removed),
        renamed=tuple(renamed),
        retyped=retyped,
    )


def mapped_columns(snap: dict[str, Any]) -> list[str]:
    """The source columns a run's rows are read by: identity, event name, timestamp and each
    mapped field, in that order, once each. (The incremental column is resolved, case-
    insensitively, by the connector, which names it when it is missing.)"""
    mapping = snap.get("mapping") if isinstance(snap.get("mapping"), dict) else {}
    names = [
        snap.get("identity_column"),
        snap.get("event_name_column"),
        snap.get("timestamp_column"),
    ]
    names += [f.get("column") for f in mapping.get("fields") or () if isinstance(f, dict)]
    return list(dict.fromkeys(name for name in names if name))


def missing_message(missing: list[str], before: Columns | None, read_at: str) -> str:
    """The failed run's message: the mapped columns the source lacks, by name."""
    names = ", ".join(f"`{name}`" for name in missing)
    column = "column" if len(missing) == 1 else "columns"
    was = {name for name, _ in before or ()}
    if was and all(name in was for name in missing):
        return (
            f"The mapped {column} {names} {'is' if len(missing) == 1 else 'are'} no longer in "
            f"the source (the run of {read_at} read {'it' if len(missing) == 1 else 'them'}). "
            "Edit the import's mapping, or restore the column in the warehouse."
        )
    return (
        f"The mapped {column} {names} {'is' if len(missing) == 1 else 'are'} not among the "
        "source's columns. Edit the import's mapping, or restore the column in the warehouse."
    )


MISSING_COLUMN_KIND = "schema"


class MappedColumnsMissing(ConnectorError):
    """The source lacks a mapped column. A ConnectorError, so the pipeline fails the run with
    its message as it does any source problem, but with its own kind ("schema"), whose advice
    the Stats row gives (stats.queries.FAILURE_ADVICE)."""

    def __init__(self, message: str):
        super().__init__("config", message)
        self.kind = MISSING_COLUMN_KIND  # type: ignore[assignment]


def record_source_columns(run, conn) -> None:
    """Read the source's columns (one LIMIT 0 query), record them and their difference from
    the previous run's on `run`, and raise `MappedColumnsMissing`, naming them, when a mapped
    column is missing (the pipeline fails the run with it)."""
    from django.utils import timezone

    from imports.models import ImportRun

    snap = run.spec_snapshot
    columns = [(c.name, c.type) for c in conn.columns(snap["source"])]
    previous = (
        ImportRun.objects.filter(
            import_obj_id=run.import_obj_id,
            created_at__lte=run.created_at,
            source_columns__isnull=False,
        )
        .exclude(pk=run.pk)
        .order_by("-created_at", "-id")
        .values_list("source_columns", "created_at")
        .first()
    )
    before = [tuple(c) for c in previous[0]] if previous else None
    change = diff_columns(before, columns) if before is not None else SchemaChange()
    ImportRun.objects.filter(pk=run.pk).update(
        source_columns=[list(c) for c in columns],
        schema_change=change.to_json() if change else None,
    )
    present = {name for name, _ in columns}
    missing = [name for name in mapped_columns(snap) if name not in present]
    if missing:
        read_at = ""
        if previous:
            local = timezone.localtime(previous[1])
            read_at = f"{local.day} {local:%b %Y %H:%M}"
        raise MappedColumnsMissing(missing_message(missing, before, read_at))
