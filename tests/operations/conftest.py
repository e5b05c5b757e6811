"""Operations fixtures: a private data dir (vault, archive, mailboxes, backup key) per
test, a restic repository beside it (never inside), the kit, and a fresh platform to
restore into (its own data dir and its own database: SQLite file or PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from clocher.core.audit import Actor
from clocher.operations.services import snapshot

ACTOR = Actor(label="tests")


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    data = tmp_path / "donnees"
    data.mkdir()
    settings.DATA_DIR = data
    settings.VAULT_DIR = data / "vault"
    settings.ARCHIVE_DIR = data / "archive"
    settings.GROUPWARE_DIR = data / "groupware"
    settings.ARCHIVE_TSA_URL = ""
    settings.MAIL_DIR = data / "mail"
    settings.BACKUP_PASSWORD_FILE = data / "backup.key"
    settings.BACKUP_REPOSITORY = str(tmp_path / "depot")
    settings.VAULT_BACKEND = "local"
    # Any free port for a drill's web: two test workers may run drills at once.
    settings.DRILL_WEB_PORT = 0
    return data


@dataclass
class Fresh:
    """A second installation: its environment for `clocher` subprocesses."""

    root: Path
    env: dict[str, str]

    def clocher(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "clocher.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    def python(self, code: str) -> object:
        """Run `code` under Django in the fresh installation; it prints one JSON value."""
        proc = subprocess.run(
            [sys.executable, "-c", "import django; django.setup()\n" + code],
            env={**self.env, "DJANGO_SETTINGS_MODULE": "clocher.settings"},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def fresh(tmp_path) -> Iterator[Fresh]:
    root = tmp_path / "neuf"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
    env.update(
        CLOCHER_DATA_DIR=str(root),
        CLOCHER_MAIL_DIR=str(root / "mail"),
        CLOCHER_SMTP_HOST="file",
        CLOCHER_MAIL_ENABLED="0",
    )
    pg_name = ""
    if connection.vendor == "postgresql":
        pg_name = f"{connection.settings_dict['NAME']}_neuf"
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
            cursor.execute(f'CREATE DATABASE "{pg_name}"')
        env["CLOCHER_DATABASE_URL"] = snapshot.pg_url(connection.settings_dict, pg_name)
    yield Fresh(root, env)
    if pg_name:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@pytest.fixture
def flushable_archive() -> Iterator[None]:
    """Archived objects and their journal refuse deletion (write-once triggers): a test
    that commits some (backups read committed rows only) empties the tables with the
    triggers set aside, then puts them back as they were, before pytest's flush."""
    import importlib

    from django.apps import apps
    from django.core.management import call_command

    # The built-in retention rules come from a data migration, which an earlier
    # transactional test's flush has emptied: seeded again (idempotent).
    importlib.import_module("clocher.archive.migrations.0003_builtin_retention_rules").seed(
        apps, None
    )
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name LIKE 'archive%'"
            )
            triggers = cursor.fetchall()
            for name, _sql in triggers:
                cursor.execute(f'DROP TRIGGER "{name}"')
            call_command("flush", interactive=False, verbosity=0)
            for _name, sql in triggers:
                cursor.execute(sql)
        else:
            cursor.execute(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relname LIKE 'archive%'"
            )
            tables = [row[0] for row in cursor.fetchall()]
            for table in tables:
                cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
            call_command("flush", interactive=False, verbosity=0)
            for table in tables:
                cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
