"""The project's URLs plus views the outage tests need and no page provides yet: an API route,
a view that writes the session without touching the database (so the database is first met by
SessionMiddleware, outside the view), and a view with a bug."""

from django.contrib.auth.models import User
from django.http import HttpResponse, JsonResponse
from django.urls import path

from importcenter.urls import handler500
from importcenter.urls import urlpatterns as project_urlpatterns


def api_users(request):
    return JsonResponse({"users": User.objects.count()})


def remember_choice(request):
    request.session["choice"] = "tables"
    return HttpResponse("remembered")


def broken(request):
    raise ValueError("a bug, not an outage")


urlpatterns = [
    path("outage-test/broken", broken),
    path("api/v1/users", api_users),
    path("outage-test/remember", remember_choice),
    *project_urlpatterns,
]

__all__ = ["handler500", "urlpatterns"]
