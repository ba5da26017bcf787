"""The `/api/v1/` NinjaAPI: authentication, the endpoints, and every error as RFC 9457 problem
details. Its OpenAPI 3 document is `/api/v1/openapi.json`; the interactive docs page
`/api/v1/docs` serves Swagger UI from the django-ninja package's own static files (no CDN)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from api.auth import BEARER_CHALLENGE, NO_ROLE, SessionAuth, TokenAuth
from api.endpoints import router
from api.problems import Problem, bad_parameters, problem_response

DESCRIPTION = """\
Everything the Import Center pages show, a program can read and trigger.

Authenticate with a personal API token (Settings › API tokens, or
`manage.py create_api_token`): `Authorization: Bearer ict_…`. A token acts with its user's
role: Viewers read, Editors also trigger, pause, resume, stop and cancel; a read-only token
only reads. A signed-in browser may call the same endpoints with its session (unsafe methods
need the `X-CSRFToken` header). Lists answer `{"items": [...], "next": <cursor or null>}`:
pass `cursor=<next>` for the following page. Errors are RFC 9457 problem details.
"""

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemDetailsAPI(NinjaAPI):
    """A NinjaAPI whose OpenAPI document says what the API sends: ninja documents every answer
    as its renderer's `application/json`, but every error answers `application/problem+json`
    (`api.problems`)."""

    def get_openapi_schema(self, **kwargs):
        schema = super().get_openapi_schema(**kwargs)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    content = answer.get("content") or {}
                    if int(status) >= 400 and "application/json" in content:
                        answer["content"] = {PROBLEM_MEDIA_TYPE: content["application/json"]}
        return schema


api = ProblemDetailsAPI(
    title="Import Center API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    auth=[TokenAuth(), SessionAuth()],
    openapi_url="/openapi.json",
    docs_url="/docs",
)
api.add_router("", router)


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem):
    return problem_response(request, exc)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError):
    """ninja's 422 for a parameter of the wrong type or range, as a 400 naming it."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = [part for part in error.get("loc", ()) if part not in ("query", "path", "body")]
        name = str(loc[-1]) if loc else "request"
        errors.setdefault(name, []).append(error.get("msg", "Invalid value."))
    return problem_response(request, bad_parameters(errors))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError):
    problem = Problem(
        401,
        "Send an API token (Authorization: Bearer ict_…) or sign in.",
        headers={"WWW-Authenticate": BEARER_CHALLENGE},
    )
    return problem_response(request, problem)


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied):
    return problem_response(request, Problem(403, str(exc) or NO_ROLE))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404):
    return problem_response(request, Problem(404, "Nothing here has that code."))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    return problem_response(request, Problem(exc.status_code, str(exc)))


def not_found(request: HttpRequest, rest: str = ""):
    """Any other path under /api/: a problem-details 404, not the HTML page."""
    detail = f"No endpoint at {request.path}; the API's endpoints are listed at /api/v1/docs."
    return problem_response(request, Problem(404, detail, slug="no-endpoint"))
