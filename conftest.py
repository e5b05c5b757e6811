"""Loaded before Django is configured: give the test run its own data dir."""

import os
import tempfile

os.environ.setdefault("CLOCHER_DATA_DIR", tempfile.mkdtemp(prefix="clocher-test-"))
os.environ.setdefault("CLOCHER_TASK_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")
