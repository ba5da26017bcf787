"""Who is calling: an API token (`Authorization: Bearer ict_…`) or the browser's session.

Either way `request.user` is the acting user, so the access helpers of `imports.access` and
the role checks below read one thing. A token acts with its user's role and never more: a
read-write token of a Viewer still cannot trigger a run.

A request that sends a token is judged by that token alone: a bad one is 401 even when a
session cookie rides along. A session request that changes something must carry the CSRF
token (the `X-CSRFToken` header, as htmx sends it), exactly as the pages' forms do.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from api import tokens
from api.problems import Problem
from imports.roles import can_edit, can_view

BEARER_CHALLENGE = 'Bearer realm="Import Center"'


def unauthenticated(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": BEARER_CHALLENGE})


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        row = tokens.find_active_token(token.strip())
        if row is None:
            raise unauthenticated("The API token is unknown, revoked or expired.")
        tokens.mark_used(row)
        request.user = row.user
        request.api_token = row
        return row


class SessionAuth(APIKeyCookie):
    """Django's session, with Django's CSRF check on unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)  # also makes the docs page send the CSRF token

    def _get_key(self, request: HttpRequest) -> str | None:
        # The base class checks CSRF before knowing whether anyone is signed in; an anonymous
        # request should hear 401, not a CSRF failure, so the check waits for authenticate().
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise Problem(
                403,
                "CSRF check failed: a signed-in browser must send the csrftoken cookie's value "
                "in the X-CSRFToken header. Programs should use an API token instead.",
                slug="csrf-failed",
            )
        request.api_token = None
        return user


NO_ROLE = (
    "Your account has no role in Import Center: ask an administrator to add it to the "
    "Viewer or Editor group."
)


def require_read(request: HttpRequest) -> None:
    if not can_view(request.user):
        raise Problem(403, NO_ROLE, slug="no-role")


def require_write(request: HttpRequest) -> None:
    """An Editor (or superuser), through the session or a read-write token."""
    require_read(request)
    token = getattr(request, "api_token", None)
    if token is not None and token.read_only:
        raise Problem(
            403,
            "This API token is read-only: create a read-write token to change imports.",
            slug="read-only-token",
        )
    if not can_edit(request.user):
        raise Problem(
            403,
            "This needs the Editor role; your account is a Viewer.",
            slug="editor-role-required",
        )
