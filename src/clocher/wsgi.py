"""WSGI entry point, served by gunicorn under `clocher serve`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clocher.settings")
application = get_wsgi_application()
