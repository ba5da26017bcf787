"""Who may do what: the Viewer and Editor groups, and superusers.

A signed-in user in neither group (an "outsider") may see nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

VIEWER_GROUP = "Viewer"
EDITOR_GROUP = "Editor"


def _group_names(user) -> set[str]:
    # Cached on the user object: a page asks several times, the database answers once.
    cached = getattr(user, "_import_center_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._import_center_groups = cached
    return cached


def can_view(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or bool(_group_names(user) & {VIEWER_GROUP, EDITOR_GROUP})


def can_edit(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or EDITOR_GROUP in _group_names(user)
