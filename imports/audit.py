"""Who changed what, when and from where: the audit log (django-auditlog) as the write side
records it.

The models are registered with auditlog in `history.apps` (its signals record every create,
change and delete made through the ORM, field by field). This module holds what the write side
adds to that:

- where a change came from: `AuditContextMiddleware` tags changes made by a request as the
  page's, the admin's or the API's (with the API token's name), and `from_command` tags those
  of a management command or its background task;
- `record_update`: a change made by a conditional UPDATE (pause, resume, stop, publish, a
  token's revocation), which sends no signal, recorded through auditlog's own manager;
- `config_change_for`: the configuration version a run starts with, i.e. the newest recorded
  change of what the run reads (`IMPORT_RUN_FIELDS` of its import, `DATASOURCE_RUN_FIELDS` of
  its datasource).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from auditlog.context import set_extra_data
from auditlog.middleware import AuditlogMiddleware
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from imports.models import Import

# What a run reads of its import (`runs.snapshot`) and of its datasource (where and as whom it
# connects). A change to any of these gives the import's next run a new configuration version.
IMPORT_RUN_FIELDS = Import.CONFIG_FIELDS
DATASOURCE_RUN_FIELDS = ("partner", "settings", "secret_encrypted")

# Where a change came from (LogEntry.additional_data["origin"]).
PAGE, API, ADMIN, COMMAND = "page", "api", "admin", "command"


def _origin(request: HttpRequest) -> dict[str, str]:
    """Read when an entry is saved, not when the request comes in: the API's token is known
    only once its authentication ran."""
    if request.path.startswith("/api/"):
        token = getattr(request, "api_token", None)
        return {"origin": API, "token": str(token)} if token is not None else {"origin": API}
    if request.path.startswith(reverse("admin:index")):
        return {"origin": ADMIN}
    return {"origin": PAGE}


class AuditContextMiddleware(AuditlogMiddleware):
    """auditlog's middleware, with the origin, and the acting user read lazily: an API token
    replaces `request.user` after this runs, and a request that changes nothing (most) should
    not pay for loading its user here."""

    def get_extra_data(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "remote_addr": self._get_remote_addr(request),
            "remote_port": self._get_remote_port(request),
            # auditlog sets the entry's actor only when this is a user (isinstance sees
            # through the lazy object): an anonymous request records none.
            "actor": SimpleLazyObject(lambda: request.user),
            "additional_data": lambda: _origin(request),
        }


@contextmanager
def from_command(name: str, actor=None) -> Iterator[None]:
    """Tag the changes made inside the block as made by management command `name`."""
    with set_extra_data(
        context_data={"actor": actor, "additional_data": {"origin": COMMAND, "command": name}}
    ):
        yield


def record_update(instance: Model, changes: dict[str, list]) -> None:
    """Record a change made with `QuerySet.update()` (no signal reaches auditlog), as
    {field: [before, after]}, with the current origin and actor like any other entry."""
    LogEntry.objects.log_create(instance, action=LogEntry.Action.UPDATE, changes=changes)


def as_logged(at: datetime) -> str:
    """A time as auditlog writes a DateTimeField's value: naive UTC, `str()`."""
    return str(at.astimezone(UTC).replace(tzinfo=None))


def config_change_for(imp) -> int | None:
    """The id of the newest recorded change of what `imp`'s runs read: its own run fields or
    its datasource's connection. None when nothing was recorded (an import older than the
    audit log). One query, by the log's object_id index."""
    from imports.models import Datasource, Import

    entries = LogEntry.objects.filter(
        Q(
            content_type=ContentType.objects.get_for_model(Import),
            object_id=imp.pk,
            changes__has_any_keys=IMPORT_RUN_FIELDS,
        )
        | Q(
            content_type=ContentType.objects.get_for_model(Datasource),
            object_id=imp.datasource_id,
            changes__has_any_keys=DATASOURCE_RUN_FIELDS,
        )
    )
    return entries.order_by("-pk").values_list("pk", flat=True).first()
