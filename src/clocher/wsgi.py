"""WSGI entry point, served by gunicorn under `clocher serve`: Django, with the vault's
WebDAV endpoint beside it."""

import os
import sys

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clocher.settings")

from clocher.vault.dav.app import Dispatcher  # noqa: E402 - after Django's setup

application = Dispatcher(get_wsgi_application())

# A worker's threads hand the GIL over every 0.5 ms instead of 5: a thread that holds
# SQLite's write lock (or a row lock on PostgreSQL) and waits for the GIL after each
# statement would otherwise keep every other writer waiting for several milliseconds
# per statement (docs/performance.md, small files).
sys.setswitchinterval(0.0005)
