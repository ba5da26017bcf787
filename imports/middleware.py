"""Show dates in the viewer's own time zone.

The browser reports its IANA zone in the `tz` cookie (set by static/js/app.js); an unknown or
missing value falls back to settings.TIME_ZONE.
"""

from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone


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
