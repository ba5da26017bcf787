"""Real servers on loopback for the alert tests: an SMTP server (aiosmtpd) that keeps what it
receives, and an HTTP server that keeps every request and answers from a script (500, then
200…), standing in for a webhook endpoint or Slack."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from alerts.models import Channel
from tests import factories

# The engine's fixtures (a DuckDB warehouse, a real Celery worker) for the run-event tests.
from tests.engine.conftest import (  # noqa: F401
    isolated_broker,
    start_worker,
    warehouse,
    wh_datasource,
)


def wait_until(predicate, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def run_and_settle(imp, user, recorded, what: str, timeout: float = 120):
    """Trigger a run through the worker and wait until it is finished, `recorded(run)` holds
    (its evaluation or its deliveries exist) and no delivery is pending or sending."""
    from alerts.models import Delivery
    from imports import services

    run = services.run_now(imp, user)

    def settled():
        run.refresh_from_db()
        return (
            run.is_finished
            and recorded(run)
            and not Delivery.objects.filter(state__in=["pending", "sending"]).exists()
        )

    wait_until(settled, timeout, 0.2, what=f"run {run.pk} {what}")
    return run


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Answers each request with the next status of `statuses` (200 once they run out)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> int:
        with self.lock:
            self.requests.append(request)
            return self.statuses.pop(0) if self.statuses else 200


def _handler_for(receiver: HttpReceiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = receiver.answer(
                Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"endpoint says no")

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def http_receiver():
    """Start loopback HTTP servers: `http_receiver(path="/hook", statuses=[500])`."""
    servers = []

    def start(path: str = "/hook", statuses: list[int] | None = None) -> HttpReceiver:
        receiver = HttpReceiver(statuses=list(statuses or []))
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(receiver))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- SMTP ------------------------------------------------------------------------------------


class Mailbox:
    def __init__(self):
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback; yields (mailbox, port)."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Django's SMTP backend pointed at the loopback server; yields the mailbox."""
    mailbox, port = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return mailbox


# --- Channels --------------------------------------------------------------------------------

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_channel(kind: str, name: str | None = None, **kwargs) -> Channel:
    url = kwargs.pop("url", "")
    secret = kwargs.pop("signing_secret", SECRET if kind == Channel.Kind.WEBHOOK else "")
    channel = Channel(kind=kind, name=name or f"{kind} channel", **kwargs)
    if url:
        channel.set_secret({"url": url, **({"signing_secret": secret} if secret else {})})
        channel.target_hint = "http://127.0.0.1/…"
    channel.save()
    return channel


@pytest.fixture(autouse=True)
def _no_environment_channels(settings):
    """Tests choose their channels; the environment of the machine running them adds none."""
    settings.ALERT_EMAIL_TO = []
    settings.ALERT_WEBHOOK_URL = settings.ALERT_SLACK_WEBHOOK_URL = None
    settings.ALERT_WEBHOOK_SECRET = None
    settings.ALERT_RETRY_SECONDS = [10, 60]
    settings.SITE_URL = "http://testserver"


@pytest.fixture
def imp(db):
    return factories.make_import(factories.make_datasource(), "App events")
