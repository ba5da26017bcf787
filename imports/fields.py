"""Encryption of datasource secrets at rest (Fernet, keys from FIELD_ENCRYPTION_KEY)."""

from __future__ import annotations

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


class SecretUnreadable(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""


def encrypt_json(value: dict) -> str:
    return _fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str) -> dict:
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretUnreadable(
            "The stored secret cannot be decrypted with the configured FIELD_ENCRYPTION_KEY."
        ) from None
