"""`clocher restore`: the whole platform on a fresh data dir, or one commune's data into
a running platform. Both refuse to start without the recovery kit, and check that the
kit's master key is the one the backup was made with before anything is written."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.supervisor import CannotStart
from clocher.operations import restic
from clocher.operations.restic import Repository
from clocher.operations.services import keys, mail_queue, s3_mirror, snapshot
from clocher.storage import crypto


class RestoreError(Exception):
    """The restore cannot go on; nothing of the destination has been changed yet unless
    the message says so."""


@dataclass
class Snapshot:
    id: str
    time: datetime
    paths: list[str]


@dataclass
class Opened:
    repo: Repository
    kit: keys.Kit
    snapshot: Snapshot
    manifest: dict[str, Any]


def resolve(repo: Repository, wanted: str) -> Snapshot:
    """`latest` or an id (or its first characters) among the platform's snapshots."""
    found = [s for s in restic.snapshots(repo) if snapshot.TAG in (s.get("tags") or [])]
    if not found:
        raise RestoreError(f"aucun instantané Clocher dans le dépôt {repo.location}.")
    found.sort(key=lambda s: s["time"])
    if wanted == "latest":
        chosen = found[-1]
    else:
        matches = [s for s in found if s["id"].startswith(wanted) or s.get("short_id") == wanted]
        if len(matches) != 1:
            raise RestoreError(f"instantané « {wanted} » introuvable dans {repo.location}.")
        chosen = matches[0]
    return Snapshot(chosen["id"], datetime.fromisoformat(chosen["time"]), chosen["paths"])


def open_backup(kit_path: Path | None, wanted: str, location: str | None = None) -> Opened:
    """The kit read, the repository opened with its password, the manifest read back and
    the kit's master key matched against it."""
    kit = keys.read_kit(kit_path)
    repo = Repository(location or kit.repository, kit.backup_password)
    try:
        chosen = resolve(repo, wanted)
        manifest = None
        last_error = ""
        for path in chosen.paths:
            candidates = [f"{path}/{snapshot.MANIFEST}"]
            if not path.endswith("/sauvegarde"):
                candidates.insert(0, f"{path}/sauvegarde/{snapshot.MANIFEST}")
            for candidate in candidates:
                try:
                    manifest = json.loads(restic.dump(repo, chosen.id, candidate))
                    break
                except restic.ResticError as exc:
                    last_error = str(exc)
                    continue
            if manifest:
                break
    except restic.ResticError as exc:
        raise RestoreError(str(exc)) from exc
    if not manifest:
        raise RestoreError(
            f"l'instantané {chosen.id[:8]} ne se relit pas (manifeste Clocher illisible) : "
            f"dépôt abîmé ? Vérifiez-le avec clocher backup --check 100. {last_error}"
        )
    if manifest["master_key_id"] != kit.master_key_id:
        raise keys.KitError(
            f"la clé maîtresse du kit ({kit.master_key_id}) n'est pas celle de la sauvegarde "
            f"({manifest['master_key_id']}) : ce kit est celui d'une autre installation ou "
            "d'avant une rotation."
        )
    return Opened(repo, kit, chosen, manifest)


def _inside(root: Path, original: str) -> Path:
    return root / original.lstrip("/")


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))


def _merge(src: Path, dst: Path) -> None:
    """Put `src` at `dst`; directories are merged (a tree moved in before stays)."""
    if src.is_dir() and not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
        for child in src.iterdir():
            _merge(child, dst / child.name)
    else:
        _replace(src, dst)


def _database_is_empty() -> bool:
    with connection.cursor() as cursor:
        return "django_migrations" not in connection.introspection.table_names(cursor)


def table_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def _pg_restore(dump: Path, clean: bool) -> None:
    args = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
    if clean:
        args += ["--clean", "--if-exists"]
    url = snapshot.pg_url(connection.settings_dict)
    connections.close_all()
    proc = subprocess.run(  # noqa: S603
        [*args, "-d", url, str(dump)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RestoreError(f"pg_restore a échoué : {proc.stderr.strip()[-300:]}")


def _put_database(stage: Path, manifest: dict[str, Any], force: bool) -> None:
    if manifest["database"] != connection.vendor:
        raise RestoreError(
            f"la sauvegarde contient une base {manifest['database']}, la destination est "
            f"{connection.vendor} : réglez CLOCHER_DATABASE_URL en conséquence."
        )
    if connection.vendor == "sqlite":
        target = Path(str(connection.settings_dict["NAME"]))
        connections.close_all()
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        snapshot.sqlite_from_dump(stage, target)
    else:
        _pg_restore(stage / snapshot.PG_DUMP, clean=force)


def _put_keys(kit: keys.Kit) -> None:
    if not settings.VAULT_MASTER_KEY:
        keys._write_secret(crypto.master_key_path(), kit.master_key)
    keys._write_secret(Path(settings.BACKUP_PASSWORD_FILE), kit.backup_password)


def _put_queue(saved: Path) -> str:
    """Mail Postfix had accepted and not yet delivered, back in this platform's queue; if
    it cannot go back now, its files wait in the data dir and the report says so (the
    rest of the restore stands)."""
    reason = "CLOCHER_MAIL_ENABLED=0 sur cette machine"
    if settings.MAIL_ENABLED:
        try:
            count = mail_queue.put_back(saved)
        except (OSError, subprocess.CalledProcessError, CannotStart) as exc:
            reason = str(exc)
        else:
            return f"file Postfix → {count} message(s) en attente remis"
    kept = Path(settings.DATA_DIR) / "file-postfix-a-remettre"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.move(saved, kept)
    return (
        f"file Postfix : non remise ({reason}) ; ses fichiers attendent dans {kept} : "
        "copiez-les dans <CLOCHER_MAIL_DIR>/postfix/queue/deferred, puis postsuper -s"
    )


@dataclass
class RestoreReport:
    snapshot: Snapshot
    counts: dict[str, int] = field(default_factory=dict)
    restored: list[str] = field(default_factory=list)


def restore_platform(
    actor: Actor,
    kit_path: Path | None,
    wanted: str,
    location: str | None = None,
    force: bool = False,
) -> RestoreReport:
    """Database, blobs, mailboxes, configuration and keys of the snapshot, in place of
    this (fresh) data dir; row counts checked against those taken with the backup."""
    opened = open_backup(kit_path, wanted, location)
    if not force and not _database_is_empty():
        raise RestoreError(
            "la base de destination n'est pas vide : restaurez sur un répertoire de données "
            "et une base neufs (ou --force pour écraser)."
        )
    data_dir = Path(settings.DATA_DIR)
    tmp = data_dir / f".restauration-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        try:
            restic.restore(opened.repo, opened.snapshot.id, tmp)
        except restic.ResticError as exc:
            raise RestoreError(str(exc)) from exc
        roots = opened.manifest["roots"]
        stage = _inside(tmp, roots["data"]) / "sauvegarde"
        _put_database(stage, opened.manifest, force)
        queue = tmp / f".{mail_queue.STAGE}"
        if (stage / mail_queue.STAGE).is_dir():
            shutil.move(stage / mail_queue.STAGE, queue)
        shutil.rmtree(stage)
        report = RestoreReport(opened.snapshot)
        targets = snapshot.roots()
        # Inner trees first (the vault inside the data dir), then what is left of the data.
        for role in sorted(roots, key=lambda r: -len(roots[r])):
            src = _inside(tmp, roots[role])
            if not src.exists():
                continue
            dst = targets[role]
            if role == "data":
                dst.mkdir(parents=True, exist_ok=True)
                _merge(src, dst)
            else:
                _replace(src, dst)
            report.restored.append(f"{role} → {dst}")
        _put_keys(opened.kit)
        for role, count in s3_mirror.put_back().items():
            report.restored.append(f"{role} : {count} bloc(s) remis dans son stockage")
        if queue.is_dir():
            report.restored.append(_put_queue(queue))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.counts = table_counts()
    wrong = {
        t: (n, report.counts.get(t))
        for t, n in opened.manifest["counts"].items()
        if report.counts.get(t) != n
    }
    if wrong:
        detail = ", ".join(f"{t} : {a} attendu(s), {b} trouvé(s)" for t, (a, b) in wrong.items())
        raise RestoreError(f"la base restaurée ne compte pas les lignes sauvegardées ({detail}).")
    with transaction.atomic():
        audit.record(
            actor,
            "operations.restored",
            target=opened.snapshot.id,
            data={"instantane": opened.snapshot.time.isoformat(), "depot": opened.repo.location},
        )
    return report
