"""The Celery app: configuration comes from Django settings (CELERY_*), tasks from the apps.

The beat schedule drives the run engine (`imports.tasks`): dispatch of due imports every few
seconds, the reaper of lost runs every minute, the retention purge daily; and the alerts sweep
(`alerts.tasks`) every minute.
"""

import gc
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "importcenter.settings")

app = Celery("importcenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Alerts have a queue of their own (evaluations, deliveries and their retries): every worker
# consumes both queues, and a deployment may give alerts workers of their own (`-Q alerts`) so
# that a slow endpoint never holds a slot a run could use.
app.conf.task_queues = (
    Queue("celery", Exchange("celery"), routing_key="celery"),
    Queue("alerts", Exchange("alerts"), routing_key="alerts"),
)
app.conf.task_routes = {"alerts.*": {"queue": "alerts"}}

app.conf.beat_schedule = {
    "dispatch-due-imports": {"task": "imports.dispatch_due", "schedule": 5.0},
    "reap-lost-runs": {"task": "imports.reap_lost_runs", "schedule": 60.0},
    "purge-old-runs": {"task": "imports.purge_old_runs", "schedule": crontab(hour=3, minute=17)},
    # Freshness, and the safety net of evaluations and deliveries whose task was lost.
    "alerts-sweep": {"task": "alerts.sweep", "schedule": 60.0},
}


@worker_process_init.connect
def _freeze_startup_objects(**kwargs) -> None:
    """Django, Celery and the connectors' modules live as long as the worker: moved out of the
    collector's sight, they are not walked again by every full collection (as in `wsgi.py`)."""
    gc.freeze()
