"""Issuing and checking API tokens.

A token is `ict_` and 43 URL-safe characters (256 random bits). The database keeps its SHA-256:
a fast hash is enough for a random secret of that length (no dictionary to try), and it lets a
request find its token with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from api.models import ApiToken
from imports import audit

PREFIX = "ict_"
# Shown in lists ("ict_Ab3dE9xq…"): enough to tell a user's tokens apart, useless to an attacker.
SHOWN_CHARS = len(PREFIX) + 8
# The last-used time moves at most this often: a busy token costs one UPDATE a minute, not one
# per request.
LAST_USED_STEP = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    user, name: str, read_only: bool, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the token, which is never stored."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=token[:SHOWN_CHARS],
        key_hash=hash_token(token),
        access=ApiToken.Access.READ_ONLY if read_only else ApiToken.Access.READ_WRITE,
        expires_at=expires_at,
    )
    return row, token


def find_active_token(token: str) -> ApiToken | None:
    """The token's row if it is active and its user may sign in; else None (unknown, revoked,
    expired or an inactive user all look the same to the caller)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(token), revoked_at__isnull=True)
        .first()
    )
    if row is None or row.is_expired or not row.user.is_active:
        return None
    return row


def mark_used(row: ApiToken, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_STEP:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now


def revoke(row: ApiToken) -> bool:
    """Revoke once; returns whether this call revoked it."""
    now = timezone.now()
    changed = ApiToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=now)
    if changed:
        audit.record_update(row, {"revoked_at": [None, audit.as_logged(now)]})
    return bool(changed)
