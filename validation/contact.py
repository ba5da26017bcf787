"""Email and phone rules: the library calls, and fast paths that agree with them.

`email_library` / `phone_library` are the plain path: `email-validator` (syntax only, no DNS) and
`phonenumbers` decide, exactly as DESIGN.md says. `email_fast` / `phone_fast` give the same answer
for every input in a few microseconds: they settle the common shapes themselves (plain ASCII
addresses; `+` and digits) and hand anything unusual to the library, whose answers are cached.
tests/validation/test_properties.py proves the agreement on generated and adversarial inputs.

All four take a trimmed, non-empty value (anything but text is read as text first, see
`values.as_text`) and return the normalised value (the email with its domain lower-cased, as
`ValidatedEmail.normalized`; the phone in E.164) or INVALID.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import ATEXT, CASE_INSENSITIVE_MAILBOX_NAMES
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, NumberParseException, PhoneMetadata

from validation.values import INVALID, WHITE_SPACE, as_text

# --- email -------------------------------------------------------------------------------------

# Every address longer than this is rejected by email-validator (its length check covers the
# whole address as given, and an address with a display name is rejected anyway), so the length
# alone settles it without walking a huge string character by character.
EMAIL_MAX_LENGTH = 254


def email_library(text: Any) -> Any:
    """The Email rule as email-validator decides it (check_deliverability=False)."""
    if text.__class__ is not str and not (text := as_text(text)):
        return INVALID
    if len(text) > EMAIL_MAX_LENGTH:
        return INVALID
    try:
        return validate_email(text, check_deliverability=False).normalized
    except (EmailNotValidError, ValueError):
        return INVALID


# Bounded: at most 254 characters a key, a few MB in all.
_email_library_cached = lru_cache(maxsize=8192)(email_library)

# email_validator.SPECIAL_USE_DOMAIN_NAMES (a test keeps the two the same): all single labels,
# so the last label of a domain decides.
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")

# A plain ASCII address. The local part is email-validator's DOT_ATOM_TEXT, built from its ATEXT;
# the domain is labels of letters, digits and inner hyphens, 1 to 63 characters each, at least
# two, the last one ending with a letter and not a special-use name (DOT_ATOM_TEXT_HOSTNAME,
# DNS_LABEL_LENGTH_LIMIT, "It should have a period", DOMAIN_NAME_REGEX). The domain's length
# limit (253) needs no check: the whole address is at most 254 characters.
_ATEXT = f"[{ATEXT}]"
_PLAIN_EMAIL = re.compile(
    rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@"
    r"((?:(?!-)[a-zA-Z0-9-]{1,63}(?<!-)\.)+"
    rf"(?!(?i:{'|'.join(SPECIAL_USE_DOMAINS)})\Z)(?!-)[a-zA-Z0-9-]{{0,62}}[a-zA-Z])",
    re.ASCII,
)
_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def email_fast(text: Any) -> Any:
    """Same verdict and normalised value as `email_library`, fast for plain ASCII addresses.

    Non-ASCII text, a quote or an angle bracket (quoted local parts, display names) and "--"
    (Punycode and reserved R-LDH labels) go to the library.
    """
    if text.__class__ is not str and not (text := as_text(text)):
        return INVALID
    if len(text) > EMAIL_MAX_LENGTH:
        return INVALID
    match = _PLAIN_EMAIL.fullmatch(text)
    if match is None:
        # Not a plain address: invalid, unless it is one of the shapes only the library judges.
        if not text.isascii() or '"' in text or "<" in text or "--" in text:
            return _email_library_cached(text)
        return INVALID
    local, domain = match.groups()
    if "--" in domain:
        return _email_library_cached(text)
    if len(local) <= 10 and local.lower() in _MAILBOX_NAMES:
        local = local.lower()
    return local + "@" + domain.lower()


# --- phone -------------------------------------------------------------------------------------

# Removed before the rule looks at a phone: white space (WHITE_SPACE, so not U+001C-U+001F, which
# `\s` would take), ASCII dashes, dots and parentheses.
_PHONE_SEPARATORS = re.compile("[" + re.escape(WHITE_SPACE + "-.()") + "]+")
PHONE_MAX_DIGITS = 15  # E.164
PHONE_MIN_NATIONAL_DIGITS = 5  # "more than 4 digits" after the country code


def _phone_digits(text: str) -> str | None:
    """The digits after the leading + once separators are removed, or None if the shape is wrong:
    no leading +, a non-digit (or non-ASCII digit) after it, or more than 15 digits."""
    # str.replace for the usual separators is several times quicker than the pattern; the pattern
    # runs only when something else (a tab, a no-break space) is left.
    compact = text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    compact = compact.replace(".", "")
    digits = compact[1:]
    if compact[:1] != "+" or not digits.isdigit():
        compact = _PHONE_SEPARATORS.sub("", compact)
        digits = compact[1:]
        if compact[:1] != "+" or not digits.isdigit():
            return None
    if not digits.isascii() or len(digits) > PHONE_MAX_DIGITS:
        return None
    return digits


def phone_library(text: Any) -> Any:
    """The Phone rule with phonenumbers deciding the country code and writing the E.164 form."""
    if text.__class__ is not str and not (text := as_text(text)):
        return INVALID
    digits = _phone_digits(text)
    if digits is None:
        return INVALID
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return INVALID
    if len(digits) - len(str(number.country_code)) < PHONE_MIN_NATIONAL_DIGITS:
        return INVALID
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_phone_library_cached = lru_cache(maxsize=8192)(phone_library)


# A few digits after the + -> (length of the country code, the national prefix pattern and
# whether it has a transform rule), or None when phonenumbers knows no such country code.
_PhonePlan = tuple[int, "re.Pattern[str] | None", bool]
_phone_plans: dict[str, _PhonePlan | None] = {}


def _phone_plan(lead: str) -> _PhonePlan | None:
    """What phonenumbers does with a number starting with these 3 digits (memoised)."""
    plan = _phone_plans.get(lead, False)
    if plan is not False:
        return plan
    code = 0
    if lead[0] != "0":  # phonenumbers' _extract_country_code: the first 1 to 3 digits it knows
        for size in (1, 2, 3):
            if int(lead[:size]) in COUNTRY_CODE_TO_REGION_CODE:
                code = int(lead[:size])
                break
    plan = None
    if code:
        region = phonenumbers.region_code_for_country_code(code)
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        pattern = metadata.national_prefix_for_parsing if metadata is not None else None
        plan = (
            len(str(code)),
            re.compile(pattern) if pattern else None,
            bool(pattern and metadata.national_prefix_transform_rule),
        )
    _phone_plans[lead] = plan
    return plan


def phone_fast(text: Any) -> Any:
    """Same verdict and E.164 value as `phone_library`.

    The verdict needs only the country code table. The E.164 form is "+" and the digits, unless
    the number after the country code starts with what phonenumbers may strip as a national
    prefix (a "0" after +44, say): those few go to the library.
    """
    if text.__class__ is not str and not (text := as_text(text)):
        return INVALID
    digits = _phone_digits(text)
    # A country code has 1 to 3 digits and the national number more than 4.
    if digits is None or len(digits) <= PHONE_MIN_NATIONAL_DIGITS:
        return INVALID
    plan = _phone_plan(digits[:3])
    if plan is None:
        return INVALID
    size, prefix, transforms = plan
    if len(digits) - size < PHONE_MIN_NATIONAL_DIGITS:
        return INVALID
    if prefix is not None:
        match = prefix.match(digits[size:])
        # An empty match strips nothing, unless a transform rule would insert digits.
        if match is not None and (
            match.end() > 0
            or (transforms and match.re.groups and match.group(match.re.groups) is not None)
        ):
            return _phone_library_cached(text)
    return "+" + digits
