"""`/healthz`: whether this web process can reach its database and its Celery broker.

Unauthenticated and cheap (one `SELECT 1` on the request's own connection, one broker ping), for
load balancers and docker-compose health checks. 200 when both answer, 503 naming what is down
by its error class only: an error message may name hosts or users, never something to publish.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from imports.middleware import OutageLog, database_log, mark_outage

BROKER_TIMEOUT_SECONDS = 2
broker_log = OutageLog("broker")


def check_database() -> Exception | None:
    conn = connections[DEFAULT_DB_ALIAS]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        # A broken persistent connection would fail every later check too: drop it.
        conn.close()
        return exc
    return None


def check_broker() -> Exception | None:
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith("filesystem://"):
            folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
            if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
                raise PermissionError("the broker folder is missing or not writable")
        elif url.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
                socket_timeout=BROKER_TIMEOUT_SECONDS,
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            from importcenter.celery import app

            with app.connection_for_read(url) as broker:
                broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:
        return exc
    return None


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    database, broker = check_database(), check_broker()
    for outage_log, error in ((database_log, database), (broker_log, broker)):
        if error is None:
            outage_log.came_back()
        else:
            outage_log.went_down(error)
    body = {
        "status": "ok" if database is None and broker is None else "down",
        "database": "ok" if database is None else f"down: {type(database).__name__}",
        "broker": "ok" if broker is None else f"down: {type(broker).__name__}",
    }
    if body["status"] == "ok":
        return JsonResponse(body)
    # Polled every few seconds: the outage is logged once above, not once per poll.
    mark_outage(request)
    return JsonResponse(body, status=503)
