"""Error codes, their exact messages, and the Error Reference as data.

Messages, causes and resolutions are copied character for character from the Error Reference of
the product documentation (`spec/import-listing-and-stats.txt`); the pages show them as they are.
The one code the reference does not list (`missing_event_name`, from DESIGN.md) has a cause and
a resolution written in the same voice.
"""

from __future__ import annotations

from typing import NamedTuple

INVALID_IDENTITY = "invalid_identity"
NOT_NUMERIC = "not_numeric"
INVALID_BOOLEAN = "invalid_boolean"
INVALID_DATE = "invalid_date"
INVALID_EMAIL = "invalid_email"
INVALID_PHONE = "invalid_phone"
INVALID_COMM_PREF = "invalid_comm_pref"
PROHIBITED_EVENT_CHAR = "prohibited_event_char"
SYSTEM_EVENT = "system_event"
MISSING_EVENT_NAME = "missing_event_name"
INVALID_TIMESTAMP = "invalid_timestamp"

# Groups, as the reference sorts its tables.
COMMON, PROFILE, EVENT = "common", "profile", "event"


class ErrorInfo(NamedTuple):
    code: str
    message: str  # what a failed record shows, exact
    cause: str
    resolution: str
    group: str  # COMMON, PROFILE or EVENT


class FieldError(NamedTuple):
    """One error of one record: the source column, the code and its exact message."""

    field: str
    code: str
    message: str


_REFERENCE = (
    ErrorInfo(
        INVALID_IDENTITY,
        "Invalid identity or CleverTap ID",
        "The Identity or CleverTap ID contains an invalid or reserved value (for example, null, "
        "undefined, 0, or empty) or exceeds 1024 characters.",
        "Remove or replace invalid values in the identity column. Ensure each value is valid and "
        "within the character limit.",
        COMMON,
    ),
    ErrorInfo(
        NOT_NUMERIC,
        "Value should be an Integer or a Float, but a different data type was received",
        "A field mapped as Integer or Float contains a non-numeric value.",
        "Ensure the source column contains only numeric values or remap the field to the correct "
        "data type.",
        COMMON,
    ),
    ErrorInfo(
        INVALID_BOOLEAN,
        "Value for Boolean data type needs to be 0, 1, true, or false",
        "A Boolean field contains unsupported values.",
        "Use only 0, 1, true, or false in the source column.",
        COMMON,
    ),
    ErrorInfo(
        INVALID_DATE,
        "Field mapped as Date contains invalid values",
        "A field mapped as Date contains non-date values.",
        "Ensure the source column contains valid date values or remap the field to the correct "
        "data type.",
        COMMON,
    ),
    ErrorInfo(
        INVALID_EMAIL,
        "Email is not valid",
        "The email value is missing required components or is incorrectly formatted.",
        "Ensure all email values follow a valid format (for example, include an \u201c@\u201d and "
        "a domain).",
        PROFILE,
    ),
    ErrorInfo(
        INVALID_PHONE,
        "Phone number must start with a valid country code and contain more than 4 digits",
        "The phone number is missing a country code or has fewer than 4 digits.",
        "Store phone numbers in E.164 format (for example, +91XXXXXXXXXX).",
        PROFILE,
    ),
    ErrorInfo(
        INVALID_COMM_PREF,
        "Communication preferences contain unsupported values",
        "A communication preference field contains values other than 0, 1, true, or false.",
        "Standardize values in the source column to 0, 1, true, or false.",
        PROFILE,
    ),
    ErrorInfo(
        PROHIBITED_EVENT_CHAR,
        "Event name contains a prohibited character",
        "The event name contains one or more prohibited characters, including percent, greater "
        "than, less than, exclamation point, pipe, ampersand, dot, colon, semicolon, dollar sign, "
        "single quote, double quote, backslash, or hash.",
        "Remove or replace prohibited characters in the event name column of the source data.",
        EVENT,
    ),
    ErrorInfo(
        SYSTEM_EVENT,
        "The system event name cannot be processed from the data source",
        "A record in the event name column contains the name of a CleverTap system event, such as "
        "App Launched, which cannot be imported from external sources.",
        "Exclude system event names from the event name column or filter them out in the source "
        "query before the import runs.",
        EVENT,
    ),
    ErrorInfo(
        MISSING_EVENT_NAME,
        "Event name is missing",
        # Not in the reference: written for this product in the reference's voice.
        "The event name column is empty for this record.",
        "Ensure every row has a value in the event name column or filter out rows without one in "
        "the source query.",
        EVENT,
    ),
    ErrorInfo(
        INVALID_TIMESTAMP,
        "Timestamp value is in an unsupported format or data type",
        "The Created On field contains a value that does not match any of the supported date "
        "formats.",
        "Use one of the supported formats: Epoch seconds, Epoch milliseconds, or a recognized date "
        "string such as dd/MM/yyyy HH:mm:ss or yyyy/MM/dd. If the field is blank, CleverTap will "
        "use the processing timestamp instead.",
        EVENT,
    ),
)

# code -> ErrorInfo(code, message, cause, resolution, group)
ERROR_REFERENCE: dict[str, ErrorInfo] = {info.code: info for info in _REFERENCE}

# Every code, identity errors first (a record without a usable identity is unusable), then the
# reference's order. Sort error summaries with ERROR_RANK.
ERROR_CODES: tuple[str, ...] = tuple(info.code for info in _REFERENCE)
ERROR_RANK: dict[str, int] = {code: rank for rank, code in enumerate(ERROR_CODES)}


def error_summary_key(code: str, count: int, field: str = "") -> tuple:
    """Sort key of an error summary row, the same on the dry run and a run's Stats: identity
    errors first (a record without a usable identity is unusable), then the most frequent, then
    the reference's order; an unknown code after the known ones."""
    return (code != INVALID_IDENTITY, -count, ERROR_RANK.get(code, len(ERROR_RANK)), field)


MESSAGES: dict[str, str] = {info.code: info.message for info in _REFERENCE}
