"""`clocher restore --commune INSEE`: one commune's rows and blobs from a snapshot, into
the running platform, the other communes untouched.

The snapshot's database is opened beside the live one (SQLite file, or a scratch
PostgreSQL database); every row that belongs to the commune — a `commune` foreign key,
or a chain of them (a version → its file → its space → the commune) — is upserted by
primary key in one transaction: rows deleted or changed since the snapshot come back
as they were, rows created since stay. Accounts the rows point at come back only if
they were deleted. The audit journal is never rewritten (it only gains the entry of
this restore). Blobs are content-addressed: only the missing ones are copied back.
Mailboxes: messages missing from their Maildir come back with their flags. Not restored:
data of an S3-backed vault (the bucket's own versioning).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.db import connection, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Commune
from clocher.operations import restic
from clocher.operations.services import snapshot
from clocher.operations.services.restore import Opened, RestoreError, open_backup

ALIAS = "instantane"
NEVER = {AuditEntry}  # append-only: a restore adds its own entry, never old ones


def commune_models() -> list[tuple[type[models.Model], str]]:
    """Each model whose rows belong to one commune, with the lookup that reaches it."""
    paths: dict[type[models.Model], str] = {Commune: "pk"}
    changed = True
    while changed:
        changed = False
        for model in apps.get_models():
            if model in paths or model in NEVER:
                continue
            for f in model._meta.get_fields():
                if isinstance(f, models.ForeignKey) and f.related_model in paths:
                    target = paths[f.related_model]  # type: ignore[index]
                    paths[model] = f.name if target == "pk" else f"{f.name}__{target}"
                    changed = True
                    break
    del paths[Commune]
    return list(paths.items())


class SnapshotDatabase:
    """The snapshot's database on a connection of its own, outside Django's registry (it
    is never a place the platform writes to); queries are compiled as for the live one."""

    def __init__(self, wrapper: BaseDatabaseWrapper) -> None:
        self.wrapper = wrapper

    def rows(self, model: type[models.Model], **lookup: Any) -> list[models.Model]:
        qs = model._default_manager.filter(**lookup)
        compiler = qs.query.get_compiler(connection=self.wrapper)
        results = compiler.execute_sql()
        if results is None:
            return []
        assert compiler.klass_info is not None
        fields = compiler.klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        names = [col[0].target.attname for col in compiler.select[start:end]]
        return [
            model.from_db("default", names, row[start:end])
            for row in compiler.results_iter(results)
        ]


@contextmanager
def _attached(stage: Path, vendor: str) -> Iterator[SnapshotDatabase]:
    """The snapshot's database opened beside the live one, closed (dropped) afterwards."""
    config = dict(connection.settings_dict)
    scratch = ""
    if vendor == "sqlite":
        config["NAME"] = str(snapshot.sqlite_from_dump(stage, stage / snapshot.SQLITE_COPY))
    else:
        scratch = f"{config['NAME']}_instantane_{secrets.token_hex(3)}"
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{scratch}"')
        config["NAME"] = scratch
        proc = subprocess.run(  # noqa: S603
            [  # noqa: S607
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "-d",
                snapshot.pg_url(config, scratch),
                str(stage / snapshot.PG_DUMP),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RestoreError(f"pg_restore a échoué : {proc.stderr.strip()[-300:]}")
    wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias=ALIAS)
    try:
        yield SnapshotDatabase(wrapper)
    finally:
        wrapper.close()
        if scratch:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')


@dataclass
class CommuneRestore:
    commune: Commune
    snapshot_id: str
    rows: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    messages: int = 0

    def summary(self) -> str:
        rows = sum(self.rows.values())
        return (
            f"{self.commune.name} ({self.commune.insee}) : {rows} ligne(s), {self.blobs} "
            f"bloc(s) et {self.messages} message(s) remis depuis l'instantané "
            f"{self.snapshot_id[:8]} ; les autres communes n'ont pas été touchées."
        )


def _copy_missing_blobs(tree: Path, live_root: Path) -> int:
    """Sealed chunks absent from the live store, each written atomically."""
    from clocher.storage.blobstore.local import LocalStore

    store = LocalStore(live_root)
    copied = 0
    if not tree.is_dir():
        return 0
    commune_id = tree.name
    for path in tree.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            key = f"{commune_id}/{path.name}"
            if not store.exists(key):
                store.put(key, path.read_bytes())
                copied += 1
    return copied


def restore_commune(
    actor: Actor, insee: str, kit_path: Path | None, wanted: str, location: str | None = None
) -> CommuneRestore:
    opened = open_backup(kit_path, wanted, location)
    roots = opened.manifest["roots"]
    if connection.vendor != opened.manifest["database"]:
        raise RestoreError("la base de la sauvegarde n'est pas du type de la base en service.")
    tmp = Path(settings.DATA_DIR) / f".restauration-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        stage_path = f"{roots['data']}/sauvegarde"
        try:
            restic.restore(opened.repo, opened.snapshot.id, tmp, [stage_path])
        except restic.ResticError as exc:
            raise RestoreError(str(exc)) from exc
        stage = tmp / stage_path.lstrip("/")
        with _attached(stage, connection.vendor) as alias:
            found = alias.rows(Commune, insee=insee.upper())
            old = cast(Commune, found[0]) if found else None
            if old is None:
                raise RestoreError(f"la commune {insee} n'existe pas dans cet instantané.")
            live = Commune.objects.filter(insee=old.insee).first()
            if live is not None and live.pk != old.pk:
                raise RestoreError(
                    f"la commune {insee} a été recréée depuis (identifiant {live.pk}, "
                    f"{old.pk} dans l'instantané) : restauration par commune impossible."
                )
            blob_trees = [f"{roots['vault']}/blobs/{old.pk}", f"{roots['archive']}/blobs/{old.pk}"]
            try:
                restic.restore(opened.repo, opened.snapshot.id, tmp, blob_trees)
            except restic.ResticError as exc:
                raise RestoreError(str(exc)) from exc
            result = CommuneRestore(live or old, opened.snapshot.id)
            # Blobs first: a row must never name a chunk that is not there.
            if settings.VAULT_BACKEND == "local":
                result.blobs += _copy_missing_blobs(
                    tmp / blob_trees[0].lstrip("/"), Path(settings.VAULT_DIR)
                )
                result.blobs += _copy_missing_blobs(
                    tmp / blob_trees[1].lstrip("/"), Path(settings.ARCHIVE_DIR)
                )
            result.messages = _restore_mailboxes(opened, tmp, alias, old.pk)
            with transaction.atomic():
                if live is None:
                    _upsert([old], result)
                    result.commune = Commune.objects.get(pk=old.pk)
                for model, lookup in commune_models():
                    rows = alias.rows(model, **{lookup: old.pk})
                    _bring_back_targets(model, rows, alias, result)
                    _upsert(rows, result)
                audit.record(
                    actor,
                    "operations.commune_restored",
                    commune=result.commune,
                    target=opened.snapshot.id,
                    data={"lignes": result.rows, "blocs": result.blobs},
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _restore_mailboxes(opened: Opened, tmp: Path, alias: SnapshotDatabase, commune_id: int) -> int:
    """The commune's Maildirs: every message of the snapshot that is no longer in its
    folder comes back (its flags are in its name). A message is matched by the unique
    part of its name, before `:2,`: one whose flags changed since is left as it is now.
    Dovecot's own index files are never overwritten; it sees the new files on its next
    look at the folder (and gives them new UIDs)."""
    from clocher.mail.models import Mailbox, MailDomain

    boxes = alias.rows(Mailbox, commune_id=commune_id)
    if not boxes:
        return 0
    homes = []
    for box in boxes:
        domain = alias.rows(MailDomain, pk=box.domain_id)  # type: ignore[attr-defined]
        homes.append(f"{domain[0].name}/{box.storage_key}")  # type: ignore[attr-defined]
    mail_root = opened.manifest["roots"]["mail"]
    try:
        restic.restore(opened.repo, opened.snapshot.id, tmp, [f"{mail_root}/{h}" for h in homes])
    except restic.ResticError as exc:
        raise RestoreError(str(exc)) from exc
    live_root = Path(settings.MAIL_DIR) / "vmail"
    return sum(_merge_maildir(tmp / mail_root.lstrip("/") / h, live_root / h) for h in homes)


def _merge_maildir(src: Path, dst: Path) -> int:
    if not src.is_dir():
        return 0
    if not dst.exists():
        shutil.copytree(src, dst, copy_function=shutil.copy2)
        return sum(1 for p in dst.rglob("*") if p.is_file() and p.parent.name in ("cur", "new"))
    copied = 0
    for path in src.rglob("*"):
        if not path.is_file() or path.parent.name not in ("cur", "new"):
            continue
        folder = dst / path.parent.relative_to(src)
        base = path.name.split(":2,")[0]
        present = any(
            next(
                (dst / path.parent.parent.relative_to(src) / sub).glob(f"{glob.escape(base)}*"),
                None,
            )
            for sub in ("cur", "new")
        )
        if present:
            continue
        # Maildir's delivery rule: written under tmp/, then renamed into place.
        tmp_dir = folder.parent / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        staged = tmp_dir / path.name
        shutil.copy2(path, staged)
        owner = folder.stat()
        with contextlib.suppress(PermissionError):
            os.chown(staged, owner.st_uid, owner.st_gid)
        staged.replace(folder / path.name)
        copied += 1
    return copied


def _upsert(rows: list[models.Model], result: CommuneRestore) -> None:
    """Saved by primary key (UPDATE, else INSERT), raw: no model logic re-runs."""
    if not rows:
        return
    data = serializers.serialize("python", rows)
    for obj in serializers.deserialize("python", data):
        obj.save(using="default")
    label = rows[0]._meta.label
    result.rows[label] = result.rows.get(label, 0) + len(rows)


def _bring_back_targets(
    model: type[models.Model],
    rows: list[models.Model],
    alias: SnapshotDatabase,
    result: CommuneRestore,
) -> None:
    """Rows outside the commune that these rows name (an account) and that were deleted
    since the snapshot come back; existing ones are left as they are now."""
    owned = {m for m, _ in commune_models()} | {Commune}
    for f in model._meta.concrete_fields:
        if not isinstance(f, models.ForeignKey) or f.related_model in owned:
            continue
        target = f.related_model
        wanted = {getattr(r, f.attname) for r in rows} - {None}
        if not wanted:
            continue
        present = set(
            target._default_manager.filter(pk__in=wanted).values_list("pk", flat=True)  # type: ignore[union-attr]
        )
        missing = alias.rows(target, pk__in=wanted - present)  # type: ignore[arg-type]
        _upsert(missing, result)
