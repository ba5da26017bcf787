"""Validation engine: mapping specs, the Error Reference rules, record verdicts, run health.

Pure Python, no Django. The public API:

    from validation import MappingSpec, FieldMapping, validate_record, validate_batch

    spec = MappingSpec(sync_type="profile", identity_column="user_id",
                       fields=[FieldMapping(column="mail", target="Email", type="String")])
    out = validate_record({"user_id": "u1", "mail": "a@b.co"}, spec)
    out.ok, out.identity, out.event_name, out.errors, out.payload, out.timestamp

See `validation.engine` for what an outcome holds, `validation.spec` for mappings,
`validation.errors` for the codes and the Error Reference, and `python -m validation check --help`
for the pre-flight CLI.
"""

from validation.engine import RecordOutcome, validate_batch, validate_record
from validation.errors import (
    ERROR_CODES,
    ERROR_RANK,
    ERROR_REFERENCE,
    MESSAGES,
    ErrorInfo,
    FieldError,
)
from validation.health import Health, compute_health
from validation.spec import (
    COMM_PREF_TARGETS,
    FIELD_TYPES,
    PROHIBITED_EVENT_CHARS,
    STANDARD_PROFILE_TARGETS,
    SYSTEM_EVENTS,
    FieldMapping,
    MappingError,
    MappingSpec,
)

__all__ = [
    "COMM_PREF_TARGETS",
    "ERROR_CODES",
    "ERROR_RANK",
    "ERROR_REFERENCE",
    "FIELD_TYPES",
    "MESSAGES",
    "PROHIBITED_EVENT_CHARS",
    "STANDARD_PROFILE_TARGETS",
    "SYSTEM_EVENTS",
    "ErrorInfo",
    "FieldError",
    "FieldMapping",
    "Health",
    "MappingError",
    "MappingSpec",
    "RecordOutcome",
    "compute_health",
    "validate_batch",
    "validate_record",
]
