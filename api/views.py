"""The API tokens page (Settings › API tokens): create, see once, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from api import tokens
from api.forms import TokenForm
from api.models import ApiToken
from imports.access import require_viewer


def _page(request: HttpRequest, form: TokenForm, status: int = 200, **extra) -> HttpResponse:
    context = {
        "nav": "api-tokens",
        "form": form,
        "tokens": ApiToken.objects.filter(user=request.user),
        **extra,
    }
    response = render(request, "api/tokens.html", context, status=status)
    # The page may show a new token: no cache, proxy or Back button may keep it.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    require_viewer(request)
    if request.method == "GET":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    row, token = tokens.issue_token(
        request.user,
        form.cleaned_data["name"],
        read_only=form.cleaned_data["access"] == ApiToken.Access.READ_ONLY,
        expires_at=form.expires_at(),
    )
    # Shown in this answer only (not through a redirect and the session, which would store
    # the token in the session table until the next page).
    return _page(request, TokenForm(), new_token=token, new_row=row)


@login_required
@require_POST
def revoke(request: HttpRequest, code) -> HttpResponseRedirect:
    require_viewer(request)
    row = get_object_or_404(ApiToken, code=code, user=request.user)
    if tokens.revoke(row):
        messages.success(request, f"Revoked “{row.name}”: it no longer works.")
    else:
        messages.info(request, f"“{row.name}” was already revoked.")
    return HttpResponseRedirect(reverse("api-tokens"))
