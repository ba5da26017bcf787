"""The API tokens page in headless Chromium: from the user menu, create a token, copy it once,
call the API with it, revoke it."""

from __future__ import annotations

import re

import pytest

from api.models import ApiToken
from tests import factories
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.browser


@pytest.fixture
def person(transactional_db):
    return factories.make_user("token-editor", role="Editor")


def test_create_see_once_and_revoke_a_token(role_groups_survive_flush, person, page, live_server):
    from playwright.sync_api import expect

    page.goto("/accounts/login/?next=/settings/partners/import-center/")
    page.fill("#id_username", "token-editor")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("link", name="API tokens").click()
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/$"))
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    page.fill("#id_name", "Airflow: nightly profiles")
    page.get_by_label("Read-write").check()
    page.get_by_role("button", name="Create token").click()
    reveal = page.locator("#new-token")
    expect(reveal).to_be_visible()
    token = reveal.input_value()
    assert re.fullmatch(r"ict_[A-Za-z0-9_-]{43}", token)
    expect(page.get_by_text("it is shown only once")).to_be_visible()
    row = page.locator("table.tokens-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Airflow: nightly profiles")
    expect(row).to_contain_text("Read-write")
    expect(row).to_contain_text("Active")

    assert ApiClient(token).get("/api/v1/imports").status_code == 200

    page.goto("/settings/api-tokens/")
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()
    expect(row).to_contain_text(token[:12])

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Revoked “Airflow: nightly profiles”")).to_be_visible()
    expect(row).to_contain_text("Revoked")
    assert ApiToken.objects.get().revoked_at is not None
    assert ApiClient(token).get("/api/v1/imports").status_code == 401
