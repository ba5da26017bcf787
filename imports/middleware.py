"""Project-wide middleware: the viewer's time zone, and pages while the database is down.

`UserTimezoneMiddleware` shows dates in the viewer's own time zone. The browser reports its IANA
zone in the `tz` cookie (set by static/js/app.js); an unknown or missing value falls back to
settings.TIME_ZONE.

`DatabaseOutageMiddleware` answers a styled 503 page (problem-details JSON for API clients) when
the database cannot be reached, instead of a 500, and logs each outage once.
"""

from __future__ import annotations

import logging
import sys
import threading
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.views import defaults

log = logging.getLogger(__name__)

OUTAGE_TITLE = "Import Center cannot reach its database right now"
OUTAGE_DETAIL = (
    "Pages work again by themselves as soon as the database answers; try again in a minute."
)
# RFC 9457 allows a non-resolvable type URI and names the tag scheme (RFC 4151) for it.
OUTAGE_TYPE = "tag:import-center,2026:problems/database-unavailable"
RETRY_AFTER_SECONDS = 30


class UserTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = unquote(request.COOKIES.get("tz", ""))
        zone = None
        if name and len(name) < 64:
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                zone = None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        return self.get_response(request)


class OutageLog:
    """One log line when an outage of `what` begins and one when it ends, per process, however
    many requests fail in between (a busy page would otherwise log a line per request)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        self.down = False

    def went_down(self, exc: BaseException) -> None:
        with self._lock:
            if self.down:
                return
            self.down = True
        # The class and the first line only: psycopg's and redis' messages name host and port,
        # never the password, and a traceback says nothing an operator can act on.
        lines = str(exc).strip().splitlines()
        log.error(
            "%s is unreachable: %s: %s", self.what, type(exc).__name__, lines[0] if lines else ""
        )

    def came_back(self) -> None:
        with self._lock:
            if not self.down:
                return
            self.down = False
        log.warning("%s is reachable again", self.what)


database_log = OutageLog("database")


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` means the default database cannot be reached (server down, connection
    refused or broken), as opposed to an error of one query (a lock, a timeout) on a connection
    that still works. A broken connection is closed here, so the next request connects afresh
    instead of reusing it for CONN_MAX_AGE seconds."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.connection is None:
        return True  # connecting failed
    if conn.is_usable():
        return False
    # Django also drops it at the next request's start (close_old_connections); doing it now
    # does not depend on those signals, which the test client, for one, switches off.
    conn.close()
    return True


def wants_problem_json(request: HttpRequest) -> bool:
    if request.path.startswith("/api/"):
        return True
    # A browser's "*/*" prefers the first type, HTML; only a client that names JSON gets it.
    preferred = request.get_preferred_type(
        ["text/html", "application/problem+json", "application/json"]
    )
    return preferred in {"application/problem+json", "application/json"}


def mark_outage(request: HttpRequest) -> None:
    """Mark a request answered with an outage: `django.request` logs every 5xx answer (with its
    traceback when one was raised), and an outage is already logged once by `OutageLog`, so
    `importcenter.logfilters.OutageLoggedOnce` drops those records."""
    request.answered_outage = True


def outage_response(request: HttpRequest) -> HttpResponse:
    """The 503 answer. It is rendered without the request, so no context processor runs: they
    read `request.user`, which needs the session, which needs the database."""
    if wants_problem_json(request):
        response = JsonResponse(
            {"type": OUTAGE_TYPE, "title": OUTAGE_TITLE, "status": 503, "detail": OUTAGE_DETAIL},
            status=503,
            content_type="application/problem+json",
        )
    else:
        body = render_to_string("503.html", {"title": OUTAGE_TITLE, "detail": OUTAGE_DETAIL})
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"  # a proxy must not keep serving the outage page
    response.database_outage = True
    mark_outage(request)
    return response


class DatabaseOutageMiddleware:
    """First in MIDDLEWARE. `process_exception` catches what views, templates and context
    processors raise; errors raised by other middleware (a session saved after the view) never
    reach it and go to `server_error` (handler500) instead."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if database_log.down and not getattr(response, "database_outage", False):
            # Only a request that used the database says it is back: a static file does not.
            conn = connections[DEFAULT_DB_ALIAS]
            if conn.connection is not None and conn.is_usable():
                database_log.came_back()
        return response

    def process_exception(self, request, exception):
        if not database_unreachable(exception):
            return None
        database_log.went_down(exception)
        return outage_response(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the outage page for a database error raised outside a view, Django's plain
    500 for anything else."""
    exc = sys.exc_info()[1]
    if exc is None or not database_unreachable(exc):
        return defaults.server_error(request)
    database_log.went_down(exc)
    return outage_response(request)
