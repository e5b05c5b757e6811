"""WSGI entry point of the file server (granian, `clocher.vault.dav.server`): the same
application as gunicorn's, seeing the client a trusted proxy forwarded. Loaded when each
worker starts, so that a worker that listens is ready."""

from clocher.vault.dav.server import behind_proxy, trusted_proxies
from clocher.wsgi import application as platform

application = behind_proxy(platform, trusted_proxies())
