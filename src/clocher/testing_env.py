"""pytest plugin loaded with `-p` before Django is configured: the test run gets its own
data dir, and background tasks run in place.

Under pytest-xdist (`make test` runs `-n 2 --dist loadfile`) every worker is a process of
its own with the controller's environment: each gets a subdirectory of the run's data dir
(its own database file, mail servers, vault blobs), so workers never share a server or a
file. PostgreSQL test databases are already suffixed per worker by pytest-django.
"""

import os
import shutil
import tempfile
from typing import Any

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_INHERITED = os.environ.get("CLOCHER_TEST_RUN_DATA_DIR", "")

if _WORKER and _INHERITED:
    # A worker: the controller made (or was given) the run's dir and removes it at the end.
    _OWN_DATA_DIR = ""
    os.environ["CLOCHER_DATA_DIR"] = os.path.join(_INHERITED, _WORKER)
    os.makedirs(os.environ["CLOCHER_DATA_DIR"], exist_ok=True)
    os.environ["CLOCHER_MAIL_DIR"] = os.path.join(os.environ["CLOCHER_DATA_DIR"], "mail")
else:
    # Made here, so removed at the end of the run (a data dir given by the caller is kept).
    _OWN_DATA_DIR = (
        "" if "CLOCHER_DATA_DIR" in os.environ else tempfile.mkdtemp(prefix="clocher-test-")
    )
    if _OWN_DATA_DIR:
        # Postfix and Dovecot, which drop privileges, go through it to the workers' dirs.
        os.chmod(_OWN_DATA_DIR, 0o711)  # noqa: S103 (traverse only, no listing)
    os.environ.setdefault("CLOCHER_DATA_DIR", _OWN_DATA_DIR)
    # Mail servers of the tests live in the test data dir too (not /var/lib/clocher as root).
    os.environ.setdefault("CLOCHER_MAIL_DIR", os.path.join(os.environ["CLOCHER_DATA_DIR"], "mail"))
    os.environ["CLOCHER_TEST_RUN_DATA_DIR"] = os.environ["CLOCHER_DATA_DIR"]
os.environ.setdefault("CLOCHER_TASK_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")


def pytest_unconfigure(config: Any) -> None:
    """The run's data dir (mail stores, vault blobs: ~140 MB per process) goes with the
    run; the servers the tests started are stopped by their fixtures before this."""
    if _OWN_DATA_DIR:
        shutil.rmtree(_OWN_DATA_DIR, ignore_errors=True)
