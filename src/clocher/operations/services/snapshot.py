"""`clocher backup`: one consistent snapshot of what code cannot rebuild.

Order gives the consistency: the database first (SQLite's online backup API, or
`pg_dump` inside an exported REPEATABLE READ snapshot, counted in that same snapshot),
then the files. A vault or archive blob is written before the row that names it commits
and is never changed afterwards (content-addressed, written once), and a delivered
Maildir file is never rewritten (flags live in its name, renamed atomically), so every
file the database snapshot refers to is already on disk when the copy runs: what the
copy adds beyond it is orphans (collected later by `vault fsck --gc`) or mail newer than
the database, harmless. restic then stores only chunks it has not seen (deduplicated,
encrypted with the repository password).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.sqlite3._functions import register as register_django_functions
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.operations import restic
from clocher.operations.models import Backup
from clocher.operations.services import keys, mail_queue, s3_mirror
from clocher.storage import crypto

MANIFEST = "manifest.json"
SQLITE_COPY = "clocher.sqlite3"
# The SQLite database as SQL text: one file per table (`SQLITE_DUMP_DIR`), or one file
# (`SQLITE_DUMP`) in the backups made before.
SQLITE_DUMP = "clocher.sql"
SQLITE_DUMP_DIR = "base-sqlite"
SCHEMA_FILE = "00-schema.sql"
TAIL_FILE = "zz-index.sql"
PG_DUMP = "clocher.pgdump"
TAG = "clocher"


def staging_dir() -> Path:
    return Path(settings.DATA_DIR) / "sauvegarde"


def is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def _tables() -> list[str]:
    with connection.cursor() as cursor:
        return sorted(connection.introspection.table_names(cursor))


def _sqlite_snapshot(stage: Path) -> dict[str, int]:
    """The online backup API copies a consistent image while writers go on; the copy is
    then stored as SQL text, one file per table in row order. Why not the image itself: a
    few new rows touch index pages all over the file, and restic would store most of it
    again each night; in the dump, new rows land at the end of their table's file and the
    rest deduplicates. Why one file per table: restic cuts files into chunks of 0.5 to
    8 MiB, so a changed row of a small table (a commune's counters, the backups' own
    journal) inside one big dump cost a whole chunk of its neighbours each night."""
    connection.ensure_connection()
    source = connection.connection
    image = stage / SQLITE_COPY
    dest = sqlite3.connect(image)
    try:
        source.backup(dest)
        counts = {
            t: dest.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]  # noqa: S608
            for t in _tables()
            if not t.startswith("sqlite_")
        }
        _dump_tables(dest, stage / SQLITE_DUMP_DIR)
    finally:
        dest.close()
    image.unlink()
    return counts


def _dump_tables(db: sqlite3.Connection, folder: Path) -> None:
    """Schema, then each table's rows as INSERTs (SQLite quotes every value itself), then
    indexes, triggers (the archive's write-once guards come after its rows) and the
    AUTOINCREMENT counters."""
    folder.mkdir()
    tables = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql NOT NULL "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    ).fetchall()
    for name, sql in tables:
        if not name.replace("_", "").isalnum() or sql.startswith("CREATE VIRTUAL"):
            raise OSError(f"table {name!r} : la sauvegarde SQLite ne sait pas la copier.")
    (folder / SCHEMA_FILE).write_text("".join(f"{sql};\n" for _, sql in tables))
    for name, _ in tables:
        columns = [row[1] for row in db.execute(f'PRAGMA table_info("{name}")')]
        values = "||','||".join(f'quote("{c}")' for c in columns)
        rows = db.execute(
            f"SELECT 'INSERT INTO \"{name}\" VALUES('||{values}||');' FROM \"{name}\""  # noqa: S608
        )
        with (folder / f"{name}.sql").open("w", encoding="utf-8") as out:
            out.writelines(f"{line}\n" for (line,) in rows)
    tail = [
        f"{sql};"
        for (sql,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger', 'view') "
            "AND sql NOT NULL ORDER BY type, name"
        )
    ]
    if any(name == "sqlite_sequence" for (name,) in db.execute("SELECT name FROM sqlite_master")):
        tail.append('DELETE FROM "sqlite_sequence";')
        tail += [
            f'INSERT INTO "sqlite_sequence" VALUES({line});'
            for (line,) in db.execute("SELECT quote(name)||','||seq FROM sqlite_sequence")
        ]
    (folder / TAIL_FILE).write_text("".join(f"{sql}\n" for sql in tail), encoding="utf-8")


def _dump_script(stage: Path) -> str:
    if (stage / SQLITE_DUMP).exists():  # a backup made before the per-table dump
        return (stage / SQLITE_DUMP).read_text(encoding="utf-8")
    folder = stage / SQLITE_DUMP_DIR
    tables = sorted(p for p in folder.glob("*.sql") if p.name not in (SCHEMA_FILE, TAIL_FILE))
    parts = [folder / SCHEMA_FILE, *tables, folder / TAIL_FILE]
    return (
        "BEGIN TRANSACTION;\n" + "".join(p.read_text(encoding="utf-8") for p in parts) + "COMMIT;\n"
    )


def sqlite_from_dump(stage: Path, target: Path) -> Path:
    """The database file rebuilt from the dump (temp name, then renamed)."""
    tmp = target.with_name(f".{target.name}.restauration")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    # The schema's CHECK constraints call the functions Django adds to SQLite (REGEXP…).
    register_django_functions(db)
    try:
        db.executescript(_dump_script(stage))
    finally:
        db.close()
    return tmp.replace(target)


def pg_url(settings_dict: dict[str, Any], name: str | None = None) -> str:
    from urllib.parse import quote

    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = settings_dict.get("PORT") or 5432
    return f"postgresql://{auth}{host}:{port}/{name or settings_dict['NAME']}"


def _pg_snapshot(target: Path) -> dict[str, int]:
    """Counts and dump read the same exported snapshot: they agree row for row."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot_id = cursor.fetchone()[0]
        counts = {}
        for table in _tables():
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608
            counts[table] = cursor.fetchone()[0]
        url = pg_url(connection.settings_dict)
        # -Z0: uncompressed, so that restic deduplicates night after night.
        dump = ["pg_dump", "-Fc", "-Z0", "--no-owner", f"--snapshot={snapshot_id}"]
        dump += ["-f", str(target)]
        proc = subprocess.run(  # noqa: S603 - Debian's pg_dump, arguments built here, no shell
            [*dump, url],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise restic.ResticError(f"pg_dump a échoué : {proc.stderr.strip()[-300:]}")
    return counts


def roots() -> dict[str, Path]:
    """The trees a restore puts back, by role (each may be configured elsewhere)."""
    return {
        "data": Path(settings.DATA_DIR),
        "vault": Path(settings.VAULT_DIR),
        "archive": Path(settings.ARCHIVE_DIR),
        "mail": Path(settings.MAIL_DIR) / "vmail",
        # Calendars and address books (Radicale's files; shared ones as relative links).
        "groupware": Path(settings.GROUPWARE_DIR),
    }


def excludes() -> list[str]:
    """Rebuilt, live or secret: never copied. The live database is copied through its
    snapshot; runtime state, caches and static files are remade by `clocher serve`; the
    master key and the repository password go on the kit, never into the repository."""
    data = Path(settings.DATA_DIR)
    mail = Path(settings.MAIL_DIR)
    paths = [
        data / "clocher.sqlite3",
        data / "clocher.sqlite3-wal",
        data / "clocher.sqlite3-shm",
        data / "test-clocher.sqlite3*",
        data / "run",
        data / "cache",
        data / "static",
        data / "drill",
        mail / "postfix",
        mail / "dovecot",
        mail / "log",
        mail / "rspamd",
        crypto.master_key_path(),
        Path(settings.BACKUP_PASSWORD_FILE),
    ]
    if connection.vendor == "sqlite":
        name = Path(str(connection.settings_dict["NAME"]))
        paths += [name, Path(f"{name}-wal"), Path(f"{name}-shm")]
    return [str(p) for p in paths]


def outermost(paths: list[Path]) -> list[str]:
    """Each tree once: a root inside another (the vault in the data dir) is not repeated."""
    chosen: list[Path] = []
    for path in sorted({p.resolve() for p in paths}, key=lambda p: len(p.parts)):
        if not any(c == path or c in path.parents for c in chosen):
            chosen.append(path)
    return [str(p) for p in chosen]


@dataclass
class BackupResult:
    backup: Backup
    snapshot_id: str
    files: int
    bytes_added: int
    seconds: float
    # Per S3 bucket mirrored: its objects, and those downloaded by this backup.
    s3: dict[str, dict[str, object]] = field(default_factory=dict)
    # Seconds spent in each step, in order: where a slow backup spends its time.
    steps: dict[str, float] = field(default_factory=dict)


class _Stopwatch:
    """Seconds per named step, measured back to back."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.steps[name] = round(now - self._last, 3)
        self._last = now


@contextmanager
def _staged() -> Iterator[Path]:
    """The staging dir, held under a lock: a manual backup and the nightly one never
    share it (restic locks its repository, not our staging)."""
    lock_path = Path(settings.DATA_DIR) / "run" / "sauvegarde.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            busy = "une sauvegarde est déjà en cours sur cette machine."
            raise restic.ResticError(busy) from None
        with _staging() as stage:
            yield stage


@contextmanager
def _staging() -> Iterator[Path]:
    stage = staging_dir()
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    stage.chmod(0o700)
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def take(actor: Actor, to: str | None = None) -> BackupResult:
    """Database snapshot, manifest, then one restic snapshot of every root."""
    repo = keys.repository(to)
    started = timezone.now()
    clock = time.monotonic()
    watch = _Stopwatch()
    row = Backup.objects.create(started_at=started, repository=repo.location)
    try:
        restic.ensure_initialised(repo)
        watch.lap("dépôt")
        with _staged() as stage:
            counts = _sqlite_snapshot(stage) if is_sqlite() else _pg_snapshot(stage / PG_DUMP)
            watch.lap("base")
            queued = mail_queue.save(stage)
            watch.lap("file Postfix")
            mirrored = s3_mirror.refresh()
            watch.lap("S3")
            manifest = {
                "format": 1,
                "created": started.isoformat(),
                "database": connection.vendor,
                "master_key_id": crypto.key_id(crypto.load_master_key()),
                "vault_backend": settings.VAULT_BACKEND,
                "roots": {role: str(path) for role, path in roots().items()},
                "counts": counts,
                "postfix_queue": queued,
                "s3": mirrored,
            }
            (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
            paths = outermost([stage, *(p for p in roots().values() if p.exists())])
            summary = restic.backup(repo, paths, [TAG], excludes())
            watch.lap("restic")
    except (restic.ResticError, keys.KitError, OSError) as exc:
        row.error = str(exc)
        row.finished_at = timezone.now()
        row.save(update_fields=["error", "finished_at"])
        raise
    seconds = time.monotonic() - clock
    with transaction.atomic():
        row.snapshot_id = summary.get("snapshot_id", "")
        row.files = summary.get("total_files_processed", 0)
        row.bytes_added = summary.get("data_added", 0)
        row.bytes_total = summary.get("total_bytes_processed", 0)
        row.seconds = seconds
        row.ok = bool(row.snapshot_id)
        row.finished_at = timezone.now()
        row.save()
        audit.record(
            actor,
            "operations.backup",
            target=row.snapshot_id,
            data={"depot": repo.location, "fichiers": row.files, "octets_ajoutes": row.bytes_added},
        )
    return BackupResult(
        row, row.snapshot_id, row.files, row.bytes_added, seconds, mirrored, watch.steps
    )


def retain(to: str | None = None) -> None:
    """7 daily, 4 weekly, 12 monthly snapshots kept; the rest forgotten and pruned."""
    restic.forget(keys.repository(to))


def verify(actor: Actor, to: str | None = None, percent: int | None = None) -> None:
    """restic check with a random sample of the data read back; journalled either way."""
    repo = keys.repository(to)
    percent = percent or settings.BACKUP_CHECK_PERCENT
    try:
        restic.check(repo, percent)
    except restic.ResticError as exc:
        with transaction.atomic():
            audit.record(
                actor, "operations.check_failed", target=repo.location, data={"erreur": str(exc)}
            )
        raise
    with transaction.atomic():
        audit.record(actor, "operations.checked", target=repo.location, data={"part": percent})
