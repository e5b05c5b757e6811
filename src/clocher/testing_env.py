"""pytest plugin loaded with `-p` before Django is configured: the test run gets its own
data dir, and background tasks run in place."""

import os
import shutil
import tempfile
from typing import Any

# Made here, so removed at the end of the run (a data dir given by the caller is kept).
_OWN_DATA_DIR = "" if "CLOCHER_DATA_DIR" in os.environ else tempfile.mkdtemp(prefix="clocher-test-")
os.environ.setdefault("CLOCHER_DATA_DIR", _OWN_DATA_DIR)
os.environ.setdefault("CLOCHER_TASK_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")
# Mail servers of the tests live in the test data dir too (not /var/lib/clocher as root).
os.environ.setdefault("CLOCHER_MAIL_DIR", os.path.join(os.environ["CLOCHER_DATA_DIR"], "mail"))


def pytest_unconfigure(config: Any) -> None:
    """The run's data dir (mail stores, vault blobs: ~140 MB) goes with the run; the
    servers the tests started are stopped by their fixtures before this."""
    if _OWN_DATA_DIR:
        shutil.rmtree(_OWN_DATA_DIR, ignore_errors=True)
