"""`clocher drill`: the last snapshot restored into a scratch data dir by the real
`clocher restore` (with a kit made from this machine's keys: the kit is proven too),
served on another port, checked, and timed: RPO is the snapshot's age when the drill
starts, RTO the time from the start until the restored web answers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.operations.models import Drill
from clocher.operations.restic import Repository
from clocher.operations.services import drill_probe, keys, snapshot
from clocher.operations.services.restore import resolve

CHECKS = [
    ("journal d'audit", ["audit", "verify"]),
    ("archive (audit d'intégrité)", ["archive", "audit"]),
    ("coffre (fsck)", ["vault", "fsck"]),
]


@dataclass
class DrillResult:
    drill: Drill
    checks: list[dict[str, Any]]
    rpo_seconds: float
    rto_seconds: float | None
    ok: bool


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("aucun port libre")


def _scratch_database(scratch: Path) -> tuple[str, str]:
    """(URL for the copy, PostgreSQL database to drop afterwards or "")."""
    if connection.vendor == "sqlite":
        return f"sqlite:///{scratch / 'clocher.sqlite3'}", ""
    name = f"{connection.settings_dict['NAME']}_exercice"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    return snapshot.pg_url(connection.settings_dict, name), name


def scratch_env(scratch: Path, database_url: str, port: int) -> dict[str, str]:
    """Everything of the copy points into the scratch dir: it can never write into the
    live data, send mail, or back itself up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
    if settings.VAULT_MASTER_KEY:
        env["CLOCHER_VAULT_MASTER_KEY"] = settings.VAULT_MASTER_KEY
    env.update(
        CLOCHER_DATA_DIR=str(scratch),
        CLOCHER_DATABASE_URL=database_url,
        # Local stores whatever the live platform uses: the restore puts an S3 platform's
        # mirrored blobs there, and the copy never writes into the live buckets.
        CLOCHER_VAULT_BACKEND="local",
        CLOCHER_VAULT_DIR=str(scratch / "vault"),
        CLOCHER_ARCHIVE_DIR=str(scratch / "archive"),
        CLOCHER_MAIL_DIR=str(scratch / "mail"),
        CLOCHER_OUTBOX_DIR=str(scratch / "outbox"),
        CLOCHER_BACKUP_PASSWORD_FILE=str(scratch / "backup.key"),
        CLOCHER_BACKUP_REPOSITORY="",
        CLOCHER_SMTP_HOST="file",
        CLOCHER_MAIL_ENABLED="0",
        CLOCHER_BIND=f"127.0.0.1:{port}",
        CLOCHER_TASK_BACKEND="django_tasks.backends.immediate.ImmediateBackend",
    )
    return env


def _clocher(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "clocher.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in (proc.stdout + proc.stderr).splitlines() if x.strip()]
    return lines[-1].strip() if lines else ""


def _wait_web(port: int, web: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline and web.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                return bool(answer.status < 500)
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except OSError:
            time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_port(port: int, process: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _prepare_copy(choice: drill_probe.Choice, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The copy's own process gives the drill-only passwords and Dovecot's config."""
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-c", drill_probe.COPY_MAIN],
        input=drill_probe.as_json(choice),
        env={**env, "DJANGO_SETTINGS_MODULE": "clocher.settings"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        return {}, _last_line(proc)
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def _serve_and_read(
    choice: drill_probe.Choice, env: dict[str, str], checks: list[dict[str, Any]], start: float
) -> tuple[subprocess.Popen[bytes] | None, float | None]:
    """The copy's Dovecot started on free ports; RTO taken when web and IMAP both answer;
    then one message read over IMAP and one file over WebDAV, against the source."""
    access, failure = _prepare_copy(choice, env)
    dovecot = None
    serving = not failure
    if "mail" in access:
        mail = access["mail"]
        dovecot = subprocess.Popen(  # noqa: S603
            mail["argv"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        serving = _wait_port(mail["imap_port"], dovecot, time.monotonic() + 120)
        if not serving:
            failure = f"Dovecot de la copie muet sur 127.0.0.1:{mail['imap_port']}"
    rto = time.monotonic() - start if serving else None
    for name, key, read, nothing in (
        ("courriel lu en IMAP", "mail", drill_probe.read_message, "aucun message à relire"),
        ("fichier lu en WebDAV", "file", drill_probe.read_file, "aucun fichier à relire"),
    ):
        if failure:
            ok, detail = False, failure
        elif key in access:
            ok, detail = read(access[key], choice)
        else:
            # An empty platform (nothing older than the snapshot) has nothing to read.
            ok, detail = True, nothing
        checks.append({"name": name, "ok": ok, "detail": detail})
    return dovecot, rto


def run_drill(actor: Actor, location: str | None = None, keep: bool = False) -> DrillResult:
    start = time.monotonic()
    started_at = timezone.now()
    kit = keys.current_kit(location)
    repo = Repository(kit.repository, kit.backup_password)
    chosen = resolve(repo, "latest")
    rpo = max(0.0, (started_at - chosen.time).total_seconds())
    scratch = Path(settings.DATA_DIR) / "drill" / started_at.strftime("%Y%m%d-%H%M%S")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    kit_file = scratch.parent / f"{scratch.name}.kit.txt"
    keys.write_kit(kit, kit_file)
    port = _free_port(settings.DRILL_WEB_PORT)
    database_url, pg_name = _scratch_database(scratch)
    env = scratch_env(scratch, database_url, port)
    checks: list[dict[str, Any]] = []
    rto: float | None = None
    web: subprocess.Popen[bytes] | None = None
    dovecot: subprocess.Popen[bytes] | None = None
    # Chosen in the live platform before anything runs: what the copy must serve.
    choice = drill_probe.choose(chosen.time)
    try:
        proc = _clocher(["restore", chosen.id, "--kit", str(kit_file)], env)
        checks.append(
            {"name": "restauration", "ok": proc.returncode == 0, "detail": _last_line(proc)}
        )
        if proc.returncode == 0:
            web = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "clocher.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                    # Nobody steers a drill's web; and not the live one's socket.
                    "--no-control-socket",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            answered = _wait_web(port, web, time.monotonic() + 120)
            checks.append(
                {
                    "name": "web",
                    "ok": answered,
                    "detail": f"127.0.0.1:{port} " + ("répond" if answered else "muet"),
                }
            )
            if answered:
                dovecot, rto = _serve_and_read(choice, env, checks, start)
            for name, args in CHECKS:
                proc = _clocher(args, env)
                checks.append(
                    {"name": name, "ok": proc.returncode == 0, "detail": _last_line(proc)}
                )
    finally:
        for process in (web, dovecot):
            if process is not None:
                _stop(process)
        kit_file.unlink(missing_ok=True)
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
            if pg_name:
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
    ok = all(c["ok"] for c in checks)
    with transaction.atomic():
        row = Drill.objects.create(
            started_at=started_at,
            snapshot_id=chosen.id,
            snapshot_time=chosen.time,
            rpo_seconds=rpo,
            rto_seconds=rto,
            ok=ok,
            checks=checks,
        )
        audit.record(
            actor,
            "operations.drill",
            target=chosen.id,
            data={
                "rpo_s": round(rpo),
                "rto_s": None if rto is None else round(rto, 1),
                "reussi": ok,
            },
        )
    return DrillResult(row, checks, rpo, rto, ok)
