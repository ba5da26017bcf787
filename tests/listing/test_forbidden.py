"""The 403 page: in the site's frame, saying which role the page needs; logged once, as a
warning line without a traceback."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from tests import factories

SETUP_PAGES = ["imports-create", "imports-edit", "imports-duplicate"]


@pytest.fixture
def imp(datasource):
    return factories.make_import(datasource, "Nightly users")


def _url(name: str, imp) -> str:
    return reverse(name) if name == "imports-create" else reverse(name, args=[imp.code])


@pytest.mark.parametrize("name", SETUP_PAGES)
def test_anonymous_is_sent_to_sign_in(client, imp, name):
    response = client.get(_url(name, imp))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", SETUP_PAGES)
def test_viewer_gets_a_framed_403_naming_the_editor_role(viewer_client, imp, name):
    response = viewer_client.get(_url(name, imp))
    assert response.status_code == 403
    html = response.content.decode()
    assert '<nav class="mainnav"' in html  # the site's frame, with its navigation
    assert "This page needs the <strong>Editor</strong> role" in html
    assert "<strong>viewer</strong>, a Viewer" in html
    assert f'href="{reverse("imports-listing")}"' in html


def test_viewer_refused_a_row_action_gets_the_same_page(viewer_client, imp):
    response = viewer_client.post(reverse("imports-pause", args=[imp.code]))
    assert response.status_code == 403
    assert "This page needs the <strong>Editor</strong> role" in response.content.decode()


def test_outsider_is_told_a_role_is_needed_to_see_anything(outsider_client):
    response = outsider_client.get(reverse("imports-listing"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "needs the <strong>Viewer</strong> or <strong>Editor</strong> role" in html
    assert "who has no role in Import Center yet" in html
    assert "Back to the Import center" not in html  # they could not see it either


def test_editor_gets_the_page(editor_client, imp):
    assert editor_client.get(_url("imports-duplicate", imp)).status_code in (200, 302)
    assert editor_client.get(_url("imports-create", imp)).status_code == 200


@pytest.mark.parametrize("name", SETUP_PAGES)
def test_a_403_is_a_warning_line_without_traceback(viewer_client, imp, name, caplog):
    caplog.set_level(logging.INFO)
    viewer_client.get(_url(name, imp))
    request_records = [r for r in caplog.records if r.name == "django.request"]
    assert [(r.levelno, r.getMessage()) for r in request_records] == [
        (logging.WARNING, f"Forbidden (Permission denied): {_url(name, imp)}")
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
    assert "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback(caplog):
    # The filter drops tracebacks of 4xx answers only.
    from importcenter.logfilters import ClientErrorWithoutTraceback

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        exc_info = sys.exc_info()
    records = {}
    for status in (403, 500):
        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), exc_info)
        record.status_code = status
        assert ClientErrorWithoutTraceback().filter(record) is True
        records[status] = record
    assert records[403].exc_info is None
    assert records[500].exc_info == exc_info


def test_django_records_reach_one_console_handler_even_with_debug(settings):
    """Django's default logging adds a DEBUG-only console handler to `django`; with the root's
    own console every request warning was printed twice."""
    settings.DEBUG = True
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "x", (), None)
    record.status_code = 403
    handlers = []
    logger = logging.getLogger("django.request")
    while logger is not None:
        handlers += [
            h
            for h in logger.handlers
            if type(h) is logging.StreamHandler and h.filter(record) and h.level <= record.levelno
        ]
        logger = logger.parent if logger.propagate else None
    assert len(handlers) == 1
