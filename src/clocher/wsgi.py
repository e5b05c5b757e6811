"""WSGI entry point, served by gunicorn under `clocher serve`: Django, with the vault's
WebDAV endpoint beside it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clocher.settings")

from clocher.vault.dav.app import Dispatcher  # noqa: E402 - after Django's setup

application = Dispatcher(get_wsgi_application())
