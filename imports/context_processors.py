"""Template context shared by every page."""

from imports.roles import can_edit, can_view


def roles(request):
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"user_can_view": can_view(user), "user_can_edit": can_edit(user)}
