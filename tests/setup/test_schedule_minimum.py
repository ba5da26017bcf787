"""The minimum interval is shown beside the interval field and in the live preview; the setup
pages' tabs come in the Partners page's order."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse


def preview(client, imp, **data):
    payload = {
        "schedule_kind": "interval",
        "interval_every": "5",
        "interval_unit": "minutes",
        "custom_mode": "weekdays",
        "schedule_timezone": "UTC",
        **data,
    }
    url = reverse("imports-schedule-preview", args=[imp.code])
    return client.post(url, payload, HTTP_HX_REQUEST="true").content.decode()


def test_interval_field_states_the_minimum(editor_client, draft, settings):
    settings.IMPORT_MIN_INTERVAL_MINUTES = 20
    body = editor_client.get(reverse("imports-wizard", args=[draft.code, "schedule"])).content
    assert "At least 20 minutes in all." in body.decode()


@pytest.mark.parametrize("every, unit", [("5", "minutes"), ("14", "minutes")])
def test_live_preview_states_the_minimum_when_below(editor_client, draft, every, unit):
    body = preview(editor_client, draft, interval_every=every, interval_unit=unit)
    assert "<html" not in body
    assert "The shortest interval is 15 minutes." in body
    assert "<ol>" not in body


def test_live_preview_lists_runs_at_the_minimum(editor_client, draft):
    body = preview(editor_client, draft, interval_every="15")
    assert "The shortest interval is" not in body
    assert body.count("<li><time") == 5


def test_live_preview_as_viewer_is_refused(viewer_client, draft):
    url = reverse("imports-schedule-preview", args=[draft.code])
    assert viewer_client.post(url, {}).status_code == 403


def tab_labels(body: str) -> list[str]:
    nav = re.search(r'<nav class="tabs"[^>]*>(.*?)</nav>', body, flags=re.S).group(1)
    return [re.sub(r"<[^>]+>", "", a).strip() for a in re.findall(r"<a [^>]*>.*?</a>", nav)]


def test_setup_tabs_follow_the_partners_page_order(editor_client, draft):
    partners = tab_labels(editor_client.get(reverse("imports-partners")).content.decode())
    assert partners == ["Datasources", "Import center"]
    for url in (
        reverse("datasources-list"),
        reverse("datasources-create") + "?partner=duckdb",
        reverse("imports-create"),
        reverse("imports-wizard", args=[draft.code, "schedule"]),
        reverse("imports-duplicate", args=[draft.code]),
    ):
        assert tab_labels(editor_client.get(url).content.decode()) == partners, url
