"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """Keep `django.request`'s one WARNING line for a 4xx ("Forbidden (Permission denied):
    /path") but drop the traceback Django attaches to it: a refused request is the answer
    working as designed, not an error, and its traceback buried real ones in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and status < 500 and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True


class OutageLoggedOnce(logging.Filter):
    """Drop `django.request`'s record of a 503 answered for a database or broker outage
    (`imports.middleware.mark_outage`): the outage itself is logged once when it starts, and a
    busy page would otherwise log a line, with a traceback, per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return not getattr(request, "answered_outage", False)
