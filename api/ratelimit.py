"""Per-token rate limit of the endpoints that start work (a run): a fixed window in Redis.

Redis when the broker is Redis, as in every multi-process deployment (docker-compose), so the
limit holds across all web processes; the embedded set-up (filesystem broker, one web process)
counts in Django's cache instead. Either way one counter per caller and window: `SET NX EX`
opens the window, `INCR` counts, and the key's TTL is the `Retry-After`.
"""

from __future__ import annotations

import math
import time
from functools import cache

from django.conf import settings
from django.core.cache import cache as django_cache
from django.http import HttpRequest

from api.problems import Problem

WINDOW_SECONDS = 60
KEY_PREFIX = "ic:api-rate:"


@cache
def _redis(url: str):
    import redis

    # Short timeouts: a Redis that does not answer must not hang the request (it is let through).
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _hit_redis(url: str, key: str) -> tuple[int, float]:
    pipe = _redis(url).pipeline()
    pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
    pipe.incr(key)
    pipe.ttl(key)
    _, count, ttl = pipe.execute()
    return int(count), float(ttl if ttl and ttl > 0 else WINDOW_SECONDS)


def _hit_cache(key: str) -> tuple[int, float]:
    window = int(time.time() // WINDOW_SECONDS)
    windowed = f"{key}:{window}"
    django_cache.add(windowed, 0, WINDOW_SECONDS + 1)
    try:
        count = django_cache.incr(windowed)
    except ValueError:  # expired between add and incr
        django_cache.set(windowed, 1, WINDOW_SECONDS + 1)
        count = 1
    return count, (window + 1) * WINDOW_SECONDS - time.time()


def caller_key(request: HttpRequest) -> str:
    token = getattr(request, "api_token", None)
    return f"token:{token.code}" if token is not None else f"user:{request.user.pk}"


def check_trigger_rate(request: HttpRequest) -> None:
    """429 with `Retry-After` past API_TRIGGER_RATE_LIMIT trigger requests in the caller's
    current minute (refused ones count too: a loop retrying a 409 is what this stops)."""
    limit = settings.API_TRIGGER_RATE_LIMIT
    key = KEY_PREFIX + "trigger:" + caller_key(request)
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        import redis

        try:
            count, remaining = _hit_redis(broker, key)
        except redis.RedisError:
            return  # the broker is down: the run itself will fail visibly; do not also refuse
    else:
        count, remaining = _hit_cache(key)
    if count > limit:
        wait = max(1, math.ceil(remaining))
        raise Problem(
            429,
            f"At most {limit} trigger requests a minute per token (or signed-in user); "
            f"try again in {wait} s.",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
