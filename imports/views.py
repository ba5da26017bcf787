"""Listing views (placeholder until the listing issue lands)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from imports.models import Import
from imports.roles import can_view


@login_required
def partners(request):
    return listing(request)


@login_required
def listing(request):
    if not can_view(request.user):
        raise PermissionDenied
    imports = Import.objects.select_related("datasource").order_by("-created_at")[:50]
    return render(request, "imports/listing.html", {"imports": imports})
