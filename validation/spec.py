"""The mapping spec: which source column goes to which target, with which type.

A spec is checked when it is built: a mapping that cannot work raises MappingError, a
configuration error shown to whoever wrote the mapping, never a per-record failure.
`MappingSpec.from_dict(d)` / `spec.to_dict()` are the JSON form stored in `Import.mapping`
and read by `python -m validation check --spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from validation.dates import compile_date_format
from validation.values import WHITE_SPACE

PROFILE, EVENT = "profile", "event"
SYNC_TYPES = (PROFILE, EVENT)
IDENTITY, CLEVERTAP_ID = "identity", "clevertap_id"
IDENTITY_KINDS = (IDENTITY, CLEVERTAP_ID)

FIELD_TYPES = ("String", "Integer", "Float", "Boolean", "Date")
_FIELD_TYPE_BY_LOWER = {name.lower(): name for name in FIELD_TYPES}

# Communication preferences: any target starting with "MSG-" follows their rule; these are the
# ones the mapping wizard offers.
COMM_PREF_PREFIX = "MSG-"
COMM_PREF_TARGETS = (
    "MSG-email",
    "MSG-push",
    "MSG-sms",
    "MSG-whatsapp",
    "MSG-dndPhone",
    "MSG-dndEmail",
    "MSG-dndSMS",
    "MSG-dndWhatsApp",
)
STANDARD_PROFILE_TARGETS = ("Identity", "Name", "Email", "Phone", "Gender", "DOB")
# The type each standard target is validated as, whatever type the mapping declares.
STANDARD_TARGET_RULES = {
    "Identity": "identity",
    "Name": "String",
    "Email": "email",
    "Phone": "phone",
    "Gender": "String",
    "DOB": "Date",
}

SYSTEM_EVENTS = (
    "App Installed",
    "App Launched",
    "App Uninstalled",
    "App Version Changed",
    "UTM Visited",
    "Notification Sent",
    "Notification Viewed",
    "Notification Clicked",
    "Notification Delivered",
    "Notification Replied",
    "Notification Bounced",
    "Push Impressions",
    "Reply Sent",
    "State Transitioned",
    "Session Concluded",
    "Geocluster Entered",
    "Geocluster Exited",
    "Channel Unsubscribed",
    "Stayed",
    "Experiment Rendered",
    "Reachable By",
    "Identity Set",
    "Identity Reset",
    "Identity Error",
)

# The characters the reference prohibits in event names; property keys may not hold them either.
PROHIBITED_EVENT_CHARS = "%><!|&.:;$'\"\\#"
PROHIBITED_KEY_CHARS = PROHIBITED_EVENT_CHARS
PROPERTY_KEY_MAX_LENGTH = 120


class MappingError(ValueError):
    """A mapping that cannot work. `field` names the source column (or spec key) at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _require_text(value: Any, what: str, field: str | None = None) -> str:
    if not isinstance(value, str) or not value.strip(WHITE_SPACE):
        raise MappingError(f"{what} must be a non-empty text, not {value!r}.", field)
    return value


@dataclass(frozen=True)
class FieldMapping:
    """One source column onto one target (a standard profile target or a custom property)."""

    column: str
    target: str
    type: str = "String"
    date_format: str | None = None  # an explicit format such as "MM/dd/yyyy", for Date values

    def __post_init__(self) -> None:
        column = _require_text(self.column, "A field's source column")
        name = f"Field {column!r}"
        target = _require_text(self.target, f"{name}: the target", column)
        if not isinstance(self.type, str) or self.type.lower() not in _FIELD_TYPE_BY_LOWER:
            raise MappingError(
                f"{name}: unknown data type {self.type!r} (use one of {', '.join(FIELD_TYPES)}).",
                column,
            )
        object.__setattr__(self, "type", _FIELD_TYPE_BY_LOWER[self.type.lower()])
        if target not in STANDARD_TARGET_RULES and not target.startswith(COMM_PREF_PREFIX):
            if len(target) > PROPERTY_KEY_MAX_LENGTH:
                raise MappingError(
                    f"{name}: the property key is {len(target)} characters long; the limit is "
                    f"{PROPERTY_KEY_MAX_LENGTH}.",
                    column,
                )
            bad = sorted({c for c in target if c in PROHIBITED_KEY_CHARS})
            if bad:
                raise MappingError(
                    f"{name}: the property key {target!r} contains the prohibited character"
                    f"{'s' if len(bad) > 1 else ''} {' '.join(bad)}.",
                    column,
                )
        if self.date_format is not None:
            if self.type != "Date" and self.target != "DOB":
                raise MappingError(
                    f"{name}: a date format applies only to Date fields, not {self.type}.", column
                )
            try:
                compile_date_format(_require_text(self.date_format, f"{name}: the date format"))
            except ValueError as error:
                raise MappingError(f"{name}: {error}.", column) from None

    @property
    def profile_rule(self) -> str:
        """The rule its values follow in a profile import: a standard target's own rule
        ("identity", "email", "phone", "comm_pref", "String" or "Date"), else its data type."""
        if self.target.startswith(COMM_PREF_PREFIX):
            return "comm_pref"
        return STANDARD_TARGET_RULES.get(self.target, self.type)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "target": self.target,
            "type": self.type,
            "date_format": self.date_format,
        }


@dataclass(frozen=True)
class MappingSpec:
    """How one import's source rows become profiles or events.

    The identity, event-name and timestamp columns need not appear in `fields`. For a profile,
    the identity is the Identity (or CleverTap ID) itself; a field mapping the identity column
    onto "Identity" is the same thing and adds nothing. Standard targets (Email, Phone, DOB,
    MSG-...) follow their own rule only in profile imports; in event imports every field is an
    event property validated by its type.
    """

    sync_type: str
    identity_column: str
    identity_kind: str = IDENTITY
    event_name_column: str | None = None
    timestamp_column: str | None = None  # the event's "Created On"
    fields: tuple[FieldMapping, ...] = field(default_factory=tuple)
    timestamp_format: str | None = None  # an explicit format for the timestamp column
    # Events only: the column whose value is the event's key within the import (blank: a hash
    # of identity, event name, timestamp and properties). See `imports.pipeline.event_keys`.
    event_key_column: str | None = None

    def __post_init__(self) -> None:
        if self.sync_type not in SYNC_TYPES:
            raise MappingError(
                f"Unknown sync type {self.sync_type!r} (use {PROFILE!r} or {EVENT!r}).",
                "sync_type",
            )
        _require_text(self.identity_column, "The identity column", "identity_column")
        if self.identity_kind not in IDENTITY_KINDS:
            raise MappingError(
                f"Unknown identity kind {self.identity_kind!r} (use {IDENTITY!r} or "
                f"{CLEVERTAP_ID!r}).",
                "identity_kind",
            )
        if self.sync_type == EVENT:
            if self.event_name_column is None:
                raise MappingError(
                    "An event import needs an event name column.", "event_name_column"
                )
            _require_text(self.event_name_column, "The event name column", "event_name_column")
        if self.timestamp_column is not None:
            _require_text(self.timestamp_column, "The timestamp column", "timestamp_column")
        if self.timestamp_format is not None:
            try:
                compile_date_format(
                    _require_text(self.timestamp_format, "The timestamp format", "timestamp_format")
                )
            except ValueError as error:
                raise MappingError(f"Timestamp format: {error}.", "timestamp_format") from None
        if isinstance(self.fields, (str, bytes, dict)) or not hasattr(self.fields, "__iter__"):
            raise MappingError("Fields must be a list of field mappings.", "fields")
        fields = tuple(self.fields)
        object.__setattr__(self, "fields", fields)
        targets: dict[str, str] = {}
        for mapping in fields:
            if not isinstance(mapping, FieldMapping):
                raise MappingError(f"Not a field mapping: {mapping!r}.", "fields")
            if mapping.target in targets:
                raise MappingError(
                    f"Fields {targets[mapping.target]!r} and {mapping.column!r} both map onto "
                    f"the target {mapping.target!r}.",
                    mapping.column,
                )
            targets[mapping.target] = mapping.column
            if (
                self.sync_type == PROFILE
                and self.identity_kind == IDENTITY
                and mapping.target == "Identity"
                and mapping.column != self.identity_column
            ):
                raise MappingError(
                    f"Field {mapping.column!r} maps onto Identity, but the identity column is "
                    f"{self.identity_column!r}.",
                    mapping.column,
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sync_type": self.sync_type,
            "identity_column": self.identity_column,
            "identity_kind": self.identity_kind,
            "event_name_column": self.event_name_column,
            "timestamp_column": self.timestamp_column,
            "timestamp_format": self.timestamp_format,
            "fields": [mapping.to_dict() for mapping in self.fields],
            # Only when chosen: specs saved before event keys keep their exact form.
            **({"event_key_column": self.event_key_column} if self.event_key_column else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> MappingSpec:
        """Build a spec from its JSON form; unknown keys and wrong shapes raise MappingError."""
        if not isinstance(data, dict):
            raise MappingError("A mapping spec must be a JSON object.")
        _reject_unknown(data, cls.__dataclass_fields__, "mapping spec")
        if "sync_type" not in data or "identity_column" not in data:
            raise MappingError("A mapping spec needs a sync_type and an identity_column.")
        raw_fields = data.get("fields") or []
        if not isinstance(raw_fields, list):
            raise MappingError("Fields must be a list of field mappings.", "fields")
        fields = []
        for position, item in enumerate(raw_fields, 1):
            if not isinstance(item, dict):
                raise MappingError(f"Field #{position} must be a JSON object.", "fields")
            _reject_unknown(item, FieldMapping.__dataclass_fields__, f"field #{position}")
            if "column" not in item or "target" not in item:
                raise MappingError(f"Field #{position} needs a column and a target.", "fields")
            fields.append(FieldMapping(**item))
        return cls(**{**data, "fields": tuple(fields)})


def _reject_unknown(data: dict[str, Any], known: Any, what: str) -> None:
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise MappingError(
            f"Unknown key{'s' if len(unknown) > 1 else ''} in {what}: {', '.join(unknown)}."
        )
