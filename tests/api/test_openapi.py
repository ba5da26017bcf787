"""The OpenAPI document is the contract: every documented endpoint is called, and each answer
must have a documented status and match the documented schema (JSON Schema validation).
The docs page serves its assets from here, not a CDN."""

from __future__ import annotations

import re

import jsonschema
import pytest
from django.contrib.staticfiles import finders

from imports import tasks
from imports.models import Import, ImportRun
from tests import factories
from tests.api.conftest import ApiClient, token_for

OPENAPI = "/api/v1/openapi.json"


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    monkeypatch.setattr(tasks, "enqueue_run", lambda run_id: None)


@pytest.fixture
def spec(client, db) -> dict:
    response = client.get(OPENAPI)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    return document


def _operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def check_answer(spec: dict, operation: dict, response) -> None:
    """The status is documented with the media type the answer has; a JSON answer validates
    against its documented schema."""
    documented = operation["responses"]
    status = str(response.status_code)
    assert status in documented, f"{status} not documented: {response.content[:300]}"
    content = documented[status].get("content", {})
    kind = response["Content-Type"].split(";")[0]
    assert kind in content, f"{kind} not documented for {status}: {list(content)}"
    if kind in ("application/json", "application/problem+json"):
        jsonschema.validate(
            response.json(), {**content[kind]["schema"], "components": spec["components"]}
        )


@pytest.fixture
def world(imp, run_with_records, running_import, datasource):
    """A code for each path, chosen so the call should succeed."""
    paused = factories.make_import(datasource, nickname="paused", status=Import.Status.PAUSED)
    return {
        "/api/v1/imports/{code}/resume": paused.code,
        "/api/v1/runs/{code}/cancel": running_import.current_run.code,
        "/api/v1/runs/": run_with_records.code,
        "/api/v1/imports/": imp.code,
    }


def _url(world: dict, path: str) -> str:
    if "{code}" not in path:
        return path
    code = world.get(path) or next(v for k, v in world.items() if path.startswith(k))
    return path.replace("{code}", str(code))


def test_the_document_lists_every_endpoint_of_the_issue(spec):
    documented = {(method, path) for method, path, _ in _operations(spec)}
    for method, path in [
        ("GET", "/api/v1/imports"),
        ("GET", "/api/v1/imports/{code}"),
        ("POST", "/api/v1/imports/{code}/runs"),
        ("GET", "/api/v1/imports/{code}/runs"),
        ("POST", "/api/v1/imports/{code}/pause"),
        ("POST", "/api/v1/imports/{code}/resume"),
        ("POST", "/api/v1/imports/{code}/stop"),
        ("GET", "/api/v1/runs/{code}"),
        ("POST", "/api/v1/runs/{code}/cancel"),
        ("GET", "/api/v1/runs/{code}/records"),
        ("GET", "/api/v1/runs/{code}/errors"),
        ("GET", "/api/v1/imports/{code}/stats.csv"),
        ("GET", "/api/v1/runs/{code}/failed-records.csv"),
    ]:
        assert (method, path) in documented
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}


def test_every_endpoint_answers_its_success_as_documented(spec, world, editor, viewer):
    api = ApiClient(token_for(editor))
    readers = [ApiClient(token_for(viewer)), ApiClient(token_for(editor, read_only=True))]
    for method, path, operation in _operations(spec):
        url = _url(world, path)
        response = api.get(url) if method == "GET" else api.post(url)
        assert 200 <= response.status_code < 300, (method, url, response.content[:300])
        check_answer(spec, operation, response)
        if method == "GET":  # a Viewer's token and a read-only token read everything
            for reader in readers:
                assert reader.get(url).status_code == 200, (url, reader.get(url).content[:300])


def test_every_endpoint_answers_its_errors_as_documented(spec, world, editor, viewer, outsider):
    editor_api, viewer_api = ApiClient(token_for(editor)), ApiClient(token_for(viewer))
    outsider_api = ApiClient(token_for(outsider))
    unknown = "00000000-0000-4000-8000-000000000000"
    for method, path, operation in _operations(spec):
        call = (
            (lambda api, url: api.get(url)) if method == "GET" else (lambda api, url: api.post(url))
        )
        url = _url(world, path)
        cases = [
            (ApiClient(), url, 401),
            (ApiClient("ict_revoked-or-never-issued"), url, 401),
            (outsider_api, url, 403),
            (editor_api, url + "?bogus=1", 400),
        ]
        if "{code}" in path:
            cases.append((editor_api, path.replace("{code}", unknown), 404))
        if method == "POST":
            cases.append((viewer_api, url, 403))
        for api, target, status in cases:
            response = call(api, target)
            assert response.status_code == status, (method, target, response.content[:300])
            check_answer(spec, operation, response)


def test_the_docs_page_uses_no_cdn(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert OPENAPI in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    for source in sources:
        assert finders.find(source.removeprefix("/static/")), source


def test_the_run_states_and_triggers_are_documented_enums(spec):
    schemas = spec["components"]["schemas"]
    run = schemas["RunOut"]["properties"]
    resolved = [schemas[p["$ref"].rsplit("/", 1)[1]] for p in (run["state"], run["trigger"])]
    assert set(resolved[0]["enum"]) == set(ImportRun.State.values)
    assert set(resolved[1]["enum"]) == set(ImportRun.Trigger.values)


def test_errors_are_documented_as_problem_details_and_sent_as_such(spec, editor):
    """RFC 9457: every error is `application/problem+json`, in the document and on the wire;
    successes stay `application/json`."""
    for method, path, operation in _operations(spec):
        for status, answer in operation["responses"].items():
            media = set(answer.get("content", {}))
            if int(status) >= 400:
                assert media == {"application/problem+json"}, (method, path, status, media)
            else:
                assert "application/problem+json" not in media, (method, path, status)
    unknown = "/api/v1/imports/00000000-0000-4000-8000-000000000000"
    response = ApiClient(token_for(editor)).get(unknown)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    documented = spec["paths"]["/api/v1/imports/{code}"]["get"]["responses"]["404"]["content"]
    assert list(documented) == [response["Content-Type"]]
    assert response.json()["status"] == 404
