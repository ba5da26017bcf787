"""Alert settings read from the environment fail loudly on a value that cannot work, and alert
tasks are routed to the queue of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", "import importcenter.settings as s; print(s.ALERT_RETRY_SECONDS)"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"ALERT_WEBHOOK_URL": "https://x.example/h"}, "ALERT_WEBHOOK_SECRET is required"),
        (
            {"ALERT_WEBHOOK_URL": "https://x.example/h", "ALERT_WEBHOOK_SECRET": "whsec_short"},
            "must be whsec_ followed by base64 of at least 16 bytes",
        ),
        ({"ALERT_RETRY_SECONDS": "10,soon"}, "ALERT_RETRY_SECONDS must be comma-separated"),
        ({"RUN_WEBHOOK_EVENTS": "failures"}, "RUN_WEBHOOK_EVENTS must be none, all, ended or"),
    ],
)
def test_unusable_alert_settings_stop_start_up(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_usable_alert_settings_start():
    result = load_settings(
        ALERT_WEBHOOK_URL="https://x.example/h",
        ALERT_WEBHOOK_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ALERT_RETRY_SECONDS="1, 5",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1, 5]"


@pytest.mark.parametrize(
    "task, queue",
    [
        ("alerts.deliver", "alerts"),
        ("alerts.evaluate_import", "alerts"),
        ("alerts.sweep", "alerts"),
        ("imports.execute_run", "celery"),
    ],
)
def test_alert_tasks_have_a_queue_of_their_own(task, queue):
    from importcenter.celery import app

    assert app.amqp.router.route({}, task)["queue"].name == queue
