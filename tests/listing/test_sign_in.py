"""Sign in and out: every page needs a signed-in user; sign-in lands on the Import Center."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import PASSWORD


def test_sign_in_page_renders(client, db):
    response = client.get(reverse("login") + "?next=/partners/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sign in to Import Center" in html and 'name="next" value="/partners/"' in html
    assert "Please sign in to see that page." in html


def test_sign_in_lands_on_the_import_center(client, editor):
    response = client.post(reverse("login"), {"username": "editor", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("imports-listing")
    assert client.get(reverse("imports-listing")).status_code == 200


def test_sign_in_follows_next(client, viewer):
    response = client.post(
        reverse("login"), {"username": "viewer", "password": PASSWORD, "next": "/partners/"}
    )
    assert response.url == "/partners/"


def test_wrong_password_is_refused(client, editor):
    response = client.post(reverse("login"), {"username": "editor", "password": "nope"})
    assert response.status_code == 200
    assert "did not match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_out_ends_the_session(editor_client):
    response = editor_client.post(reverse("logout"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert editor_client.get(reverse("imports-listing")).status_code == 302


def test_top_bar_names_the_role(viewer_client):
    html = viewer_client.get(reverse("imports-listing")).content.decode()
    assert "viewer · Viewer" in html and "Sign out" in html


@pytest.mark.parametrize(
    ("fixture", "label"),
    [
        ("editor", "editor · Editor"),
        ("superuser", "root · Superuser"),
        ("viewer", "viewer · Viewer"),
    ],
)
def test_top_bar_names_each_role(client, request, fixture, label):
    client.force_login(request.getfixturevalue(fixture))
    assert label in client.get(reverse("imports-listing")).content.decode()
