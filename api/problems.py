"""RFC 9457 problem details: every error of the API answers `application/problem+json` with
`type`, `title`, `status`, `detail` and `instance` (the request's path), and for a bad query
parameter `errors` naming each one.

The `type` URIs use the tag scheme (RFC 4151), as the outage page does: RFC 9457 allows a type
that does not resolve, and these name a kind of problem, not a page.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

TYPE_BASE = "tag:import-center,2026:problems/"

TITLES = {
    400: "Invalid request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    429: "Too many requests",
}
SLUGS = {
    400: "invalid-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    429: "rate-limited",
}


class Problem(Exception):
    """Raised anywhere under an endpoint; the API answers it as problem details."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or SLUGS.get(status, "error")
        self.title = title or TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extra = extra


def problem_response(request: HttpRequest, problem: Problem) -> JsonResponse:
    body = {
        "type": TYPE_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.path,
        **problem.extra,
    }
    response = JsonResponse(body, status=problem.status, content_type="application/problem+json")
    for name, value in problem.headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def bad_parameters(errors: dict[str, list[str]]) -> Problem:
    """400 naming every invalid query parameter, with its messages."""
    names = ", ".join(sorted(errors))
    noun = "parameter" if len(errors) == 1 else "parameters"
    return Problem(
        400,
        f"Invalid query {noun}: {names}.",
        slug="invalid-parameter",
        title="Invalid query parameter",
        errors=[
            {"parameter": name, "messages": [str(m) for m in messages]}
            for name, messages in sorted(errors.items())
        ],
    )
