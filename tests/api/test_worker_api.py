"""End to end over real HTTP: a program triggers a run with its token, polls the run's URL until
it ends (a real Celery worker runs it), reads its records, and Prometheus scrapes /metrics."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import token_for
from tests.engine.conftest import expected_bad_profiles, make_profile_import

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def _call(base: str, method: str, path: str, token: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        base + path, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def test_trigger_and_wait_over_http_then_scrape_metrics(
    role_groups_survive_flush, live_server, start_worker, wh_datasource, warehouse, editor, settings
):
    settings.METRICS_TOKEN = "scrape-me"
    warehouse.add_profiles(500)
    imp = make_profile_import(wh_datasource)
    token = token_for(editor)
    start_worker()
    base = live_server.url

    status, headers, body = _call(base, "POST", f"/api/v1/imports/{imp.code}/runs", token)
    assert status == 202, body
    assert headers["Location"] == body["url"]
    deadline = time.monotonic() + 120
    while True:
        status, _, run = _call(base, "GET", body["url"], token)
        assert status == 200
        if run["state"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, f"run still {run['state']}"
        time.sleep(0.5)
    bad = expected_bad_profiles(500)
    assert (run["state"], run["total"], run["failed"]) == ("completed", 500, bad)
    assert run["trigger_label"] == "API by editor"
    assert run["error_summary"][0]["code"] == "invalid_identity"

    status, _, page = _call(base, "GET", f"{body['url']}/records?result=failed&limit=5", token)
    assert status == 200 and len(page["items"]) == 5 and page["next"]
    assert all(item["result"] == "failed" for item in page["items"])

    request = urllib.request.Request(
        base + "/metrics", headers={"Authorization": "Bearer scrape-me"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    code = str(imp.code)
    assert (
        samples[("importcenter_runs_total", (("import_code", code), ("state", "completed")))] == 1
    )
    assert samples[("importcenter_records_total", (("result", "failed"),))] == bad
    assert samples[("importcenter_records_total", (("result", "success"),))] == 500 - bad
    assert samples[("importcenter_run_duration_seconds_count", ())] == 1
    assert samples[("importcenter_last_run_rows_per_second", (("import_code", code),))] > 0
    assert samples[("importcenter_runs_in_progress", ())] == 0
