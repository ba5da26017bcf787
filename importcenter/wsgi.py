"""WSGI entry point (gunicorn importcenter.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "importcenter.settings")
application = get_wsgi_application()
