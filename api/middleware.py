"""A wrong method under /api/ answers problem details too (django-ninja's own 405 is plain
text), keeping its `Allow` header."""

from __future__ import annotations

from api.problems import Problem, problem_response


class MethodNotAllowedProblem:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or not request.path.startswith("/api/"):
            return response
        if response.get("Content-Type") == "application/problem+json":
            return response
        allowed = response.get("Allow", "")
        detail = f"{request.method} is not allowed here; this endpoint takes {allowed}."
        return problem_response(request, Problem(405, detail, headers={"Allow": allowed}))
