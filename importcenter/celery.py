"""The Celery app: configuration comes from Django settings (CELERY_*), tasks from the apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "importcenter.settings")

app = Celery("importcenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
