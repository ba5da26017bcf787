"""Pages and /healthz while the database or the broker cannot be reached.

The database goes down for real: the test's own PostgreSQL backend is terminated (so the
persistent connection breaks, as when the server restarts) and new connections are pointed at a
closed port on 127.0.0.1 (refused, as while the server is down). With SQLite, the database file
is moved out of reach. Bringing it back restores the settings and nothing else: the app has to
discard the broken connection by itself.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import OperationalError
from django.test import Client
from django.urls import reverse

from importcenter.health import broker_log
from imports.middleware import OUTAGE_TITLE, database_log, database_unreachable
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

STYLESHEET = '<link rel="stylesheet" href="/static/css/app.css">'
PROBLEM_JSON = "application/problem+json"


def _closed_port() -> int:
    # Bound then released: nothing listens there afterwards, so connecting is refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Database:
    """Switches the default database off and on again under the running app."""

    def __init__(self) -> None:
        self.conn = connections[DEFAULT_DB_ALIAS]
        self.saved = dict(self.conn.settings_dict)

    def down(self) -> None:
        conn = self.conn
        if conn.vendor == "postgresql":
            if conn.connection is not None:
                # Only this test's own backend is ended, from a second connection of its own.
                pid = conn.connection.info.backend_pid
                other = conn.get_new_connection(conn.get_connection_params())
                try:
                    other.execute("SELECT pg_terminate_backend(%s)", [pid])
                finally:
                    other.close()
            conn.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
        else:
            conn.close()
            conn.settings_dict["NAME"] = "/nonexistent-dir/importcenter.sqlite3"

    def up(self) -> None:
        self.conn.settings_dict.update(
            HOST=self.saved["HOST"], PORT=self.saved["PORT"], NAME=self.saved["NAME"]
        )

    def backend_id(self):
        conn = self.conn
        return conn.connection.info.backend_pid if conn.vendor == "postgresql" else None


@pytest.fixture(autouse=True)
def _fresh_outage_logs():
    database_log.down = broker_log.down = False
    yield
    database_log.down = broker_log.down = False


@pytest.fixture
def database():
    db = Database()
    yield db
    db.up()
    db.conn.close()  # teardown's flush needs a working connection, whatever the test left


@pytest.fixture
def imp(datasource):
    return factories.make_import(datasource, nickname="Nightly profiles")


def assert_outage_page(response) -> str:
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert STYLESHEET in html
    assert OUTAGE_TITLE in html
    assert 'class="topbar"' in html
    assert "Sign out" not in html  # no user-dependent part: the user is unknown
    return html


def test_listing_answers_styled_503_while_database_is_down(viewer_client, database):
    database.down()
    assert_outage_page(viewer_client.get(reverse("imports-listing")))


def test_stats_tab_answers_styled_503_while_database_is_down(viewer_client, imp, database):
    url = reverse("stats-stats", args=[imp.code])
    assert viewer_client.get(url).status_code == 200
    database.down()
    assert_outage_page(viewer_client.get(url))


def test_login_page_answers_styled_503_while_database_is_down(viewer_client, database):
    database.down()
    # A browser still holding a session cookie: the page's header asks who is signed in.
    assert_outage_page(viewer_client.get(reverse("login")))
    signing_in = {"username": "viewer", "password": factories.PASSWORD}
    assert_outage_page(Client().post(reverse("login"), signing_in))


def test_json_clients_get_problem_details(viewer_client, database):
    database.down()
    response = viewer_client.get(reverse("imports-listing"), HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM_JSON
    assert response["Retry-After"] == "30"
    problem = json.loads(response.content)
    assert problem["title"] == OUTAGE_TITLE
    assert problem["status"] == 503
    assert problem["type"] and problem["detail"]


@pytest.mark.urls("tests.outage_urls")
def test_api_paths_get_problem_details_even_from_a_browser(client, database):
    assert client.get("/api/v1/users").status_code == 200
    database.down()
    browser_accept = "text/html,application/xhtml+xml,*/*;q=0.8"
    response = client.get("/api/v1/users", HTTP_ACCEPT=browser_accept)
    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM_JSON
    assert json.loads(response.content)["title"] == OUTAGE_TITLE


@pytest.mark.urls("tests.outage_urls")
def test_database_first_met_by_session_middleware_answers_503(client, database, caplog):
    # The view needs no database; saving the session it changed does, after the view returned.
    database.down()
    client = Client(raise_request_exception=False)
    for _ in range(2):
        assert_outage_page(client.get("/outage-test/remember"))
    assert not [r for r in caplog.records if r.name == "django.request"]
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


@pytest.mark.urls("tests.outage_urls")
def test_other_errors_still_answer_the_plain_500(client):
    client = Client(raise_request_exception=False)
    response = client.get("/outage-test/broken")
    assert response.status_code == 500
    assert OUTAGE_TITLE not in response.content.decode()


def test_an_outage_is_logged_once_and_its_end_once(viewer_client, database, caplog):
    database.down()
    for _ in range(4):
        assert viewer_client.get(reverse("imports-listing")).status_code == 503
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith("database is unreachable: OperationalError")
    assert errors[0].exc_info is None  # a line, not a traceback
    database.up()
    for _ in range(3):
        assert viewer_client.get(reverse("imports-listing")).status_code == 200
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(back) == 1
    # A second outage is news again.
    database.down()
    viewer_client.get(reverse("imports-listing"))
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 2


def test_pages_recover_by_themselves_when_database_returns(viewer_client, imp, database):
    url = reverse("imports-listing")
    assert viewer_client.get(url).status_code == 200
    before = database.backend_id()
    database.down()
    # First the broken persistent connection fails, then new connections are refused.
    assert viewer_client.get(url).status_code == 503
    assert viewer_client.get(url).status_code == 503
    database.up()
    response = viewer_client.get(url)
    assert response.status_code == 200
    assert "Nightly profiles" in response.content.decode()
    if before is not None:
        assert database.backend_id() != before  # the broken connection was not reused


def test_a_query_error_on_a_working_connection_is_not_an_outage(db):
    connections[DEFAULT_DB_ALIAS].ensure_connection()
    assert not database_unreachable(OperationalError("deadlock detected"))
    assert not database_unreachable(ValueError("not a database error"))


# --- /healthz ---------------------------------------------------------------------------------


def healthz(client) -> tuple[int, dict]:
    response = client.get(reverse("healthz"))
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def test_healthz_ok_with_filesystem_broker(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    assert healthz(client) == (200, {"status": "ok", "database": "ok", "broker": "ok"})


@pytest.mark.redis
def test_healthz_ok_with_redis_broker(client, settings):
    import os

    url = os.environ.get("CELERY_BROKER_URL", "")
    settings.CELERY_BROKER_URL = url if url.startswith("redis") else "redis://127.0.0.1:6379/0"
    assert healthz(client) == (200, {"status": "ok", "database": "ok", "broker": "ok"})


def test_healthz_names_the_database_when_it_is_down(client, settings, tmp_path, database, caplog):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    password = "pw-that-must-stay-secret-91c3"
    database.conn.settings_dict["PASSWORD"] = password
    database.down()
    for _ in range(2):
        status, body = healthz(client)
        assert status == 503
        assert body == {"status": "down", "database": "down: OperationalError", "broker": "ok"}
    assert password not in caplog.text
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    database.up()
    database.conn.settings_dict["PASSWORD"] = database.saved["PASSWORD"]
    assert healthz(client)[0] == 200
    assert "reachable again" in caplog.text


def test_healthz_never_shows_a_password_from_the_database_url(client, settings, database):
    password = "pw-that-must-stay-secret-91c3"
    database.conn.settings_dict["PASSWORD"] = password
    database.down()
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert password not in response.content.decode()


def test_healthz_names_the_broker_when_redis_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = f"redis://:brokerpw@127.0.0.1:{_closed_port()}/0"
    response = client.get(reverse("healthz"))
    body = json.loads(response.content)
    assert response.status_code == 503
    assert body == {"status": "down", "database": "ok", "broker": "down: ConnectionError"}
    assert "brokerpw" not in response.content.decode()


def test_healthz_names_the_broker_when_its_folder_is_gone(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    status, body = healthz(client)
    assert status == 503
    assert body["broker"] == "down: PermissionError"
    assert body["database"] == "ok"


def test_healthz_is_not_redirected_to_https(client, settings, tmp_path):
    # docker-compose's health check speaks plain HTTP to the container, with the SSL redirect on.
    settings.SECURE_SSL_REDIRECT = True
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(reverse("imports-listing")).status_code == 301


def test_healthz_checks_other_brokers_through_kombu(client, settings):
    settings.CELERY_BROKER_URL = "memory://"
    assert healthz(client) == (200, {"status": "ok", "database": "ok", "broker": "ok"})
