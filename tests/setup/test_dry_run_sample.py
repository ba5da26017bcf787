"""The dry run's sample size: the allowed range is stated, and a refused size keeps the
previous result on screen."""

from __future__ import annotations

import pytest
from django.urls import reverse


def dry_run(client, imp, size, htmx=True):
    url = reverse("imports-wizard", args=[imp.code, "dry-run"])
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(url, {"sample_size": size, "run": "1"}, **extra)


def test_page_states_the_allowed_sizes(editor_client, mapped):
    body = editor_client.get(reverse("imports-wizard", args=[mapped.code, "dry-run"])).content
    assert "From 1 to 10,000 rows" in body.decode()


@pytest.mark.parametrize(
    "size", ["0", "-5", "99999", "1000000000", "", "1e3", "12.5", "10001", "1\u00a0000", "\x00"]
)
def test_refused_size_says_the_range_and_keeps_the_previous_result(editor_client, mapped, size):
    response = dry_run(editor_client, mapped, size)
    assert response.status_code == 200
    # htmx swaps nothing into the results area, so what was there stays ...
    assert response["HX-Reswap"] == "none"
    body = response.content.decode()
    # ... and the field comes back out of band, marked, saying what is allowed.
    assert 'id="sample-size" hx-swap-oob="true"' in body
    assert 'id="id_sample_size_errors"' in body
    assert "Enter a whole number of rows from 1 to 10,000." in body
    assert "Result of" not in body


def test_accepted_size_clears_the_field_error(editor_client, mapped):
    response = dry_run(editor_client, mapped, "2")
    assert "HX-Reswap" not in response
    body = response.content.decode()
    assert "Result of 2 rows" in body
    assert 'id="sample-size" hx-swap-oob="true"' in body and "errorlist" not in body
    assert "<html" not in body


def test_without_javascript_the_error_is_on_the_page(editor_client, mapped):
    body = dry_run(editor_client, mapped, "0", htmx=False).content.decode()
    assert "<html" in body and "Enter a whole number of rows from 1 to 10,000." in body
    assert "hx-swap-oob" not in body


def test_blank_identity_in_failed_rows_reads_blank(editor_client, mapped, warehouse_path):
    import duckdb

    con = duckdb.connect(str(warehouse_path))
    con.execute("INSERT INTO events VALUES ('', 'Viewed', TIMESTAMP '2024-01-02 13:00:00', 1.0)")
    con.close()
    body = dry_run(editor_client, mapped, "100").content.decode()
    assert "<td>(blank)</td>" in body


def test_viewer_cannot_dry_run(viewer_client, mapped):
    assert dry_run(viewer_client, mapped, "10").status_code == 403
