"""Stats tab and detail pane (placeholders until the stats issue lands)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def placeholder(request, code=None):
    return HttpResponse("Not built yet.", status=501)
