"""pytest plugin loaded with `-p` before Django is configured: the test run gets its own
data dir, and background tasks run in place."""

import os
import tempfile

os.environ.setdefault("CLOCHER_DATA_DIR", tempfile.mkdtemp(prefix="clocher-test-"))
os.environ.setdefault("CLOCHER_TASK_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")
# Mail servers of the tests live in the test data dir too (not /var/lib/clocher as root).
os.environ.setdefault("CLOCHER_MAIL_DIR", os.path.join(os.environ["CLOCHER_DATA_DIR"], "mail"))
