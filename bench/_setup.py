"""Shared start-up for bench scripts: a throw-away data dir and a migrated database."""

from __future__ import annotations

import os
import tempfile


def django_with_fresh_db(base: str | None = None) -> str:
    """A new data dir (under `base`, else the temporary folder) with a migrated database."""
    data_dir = tempfile.mkdtemp(prefix="clocher-bench-", dir=base)
    os.environ["CLOCHER_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clocher.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    return data_dir
