"""Mail import services: open a source, run an import into a mailbox, seal and unseal
the source password of a background import, and the report."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from imapclient.exceptions import IMAPClientError

from clocher.accounts.models import AppPassword
from clocher.accounts.services import create_app_password, revoke_app_password
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import ImportStatus
from clocher.mail.migrate import engine
from clocher.mail.migrate.network import hostport
from clocher.mail.migrate.sources import (
    EmlZipSource,
    ImapAccount,
    ImapSource,
    MaildirSource,
    MboxSource,
    PstSource,
    Source,
    SourceError,
)
from clocher.mail.migrate.target import Target, target_names
from clocher.mail.models import (
    Mailbox,
    MailImport,
    MailImportFailure,
    MailImportFolder,
    MailImportSource,
)

FILE_SOURCES = {
    MailImportSource.MBOX: MboxSource,
    MailImportSource.MAILDIR: MaildirSource,
    MailImportSource.EML_ZIP: EmlZipSource,
    MailImportSource.PST: PstSource,
}
log = logging.getLogger(__name__)
# A running import not touched for this long has died: its connections are free again.
STALE_AFTER = timedelta(minutes=10)


def file_source(kind: str, path: Path) -> Source:
    """The source for a file or directory; SourceError says what is wrong with it."""
    source: Source = FILE_SOURCES[MailImportSource(kind)](path)
    return source


def imap_source(url: str, password: str, ca_file: str | None = None) -> ImapSource:
    """The IMAP account at `url`; a server the import may not reach is refused here,
    before any job exists (CLOCHER_MAIL_IMPORT_ALLOW_PRIVATE, migrate/network.py)."""
    if not password:
        raise SourceError("Mot de passe du compte source vide.")
    account = ImapAccount.from_url(
        url, password, ca_file, allow_private=settings.MAIL_IMPORT_ALLOW_PRIVATE
    )
    account.check_server()
    return ImapSource(account)


def job_for(actor: Actor, mailbox: Mailbox, source: Source) -> MailImport:
    """The import of `source` into `mailbox`: the same row on every run, so the state
    of what is copied carries over."""
    with transaction.atomic():
        job, created = MailImport.objects.get_or_create(
            mailbox=mailbox,
            source_key=source.key,
            defaults={
                "commune_id": mailbox.commune_id,
                "source_kind": source.kind,
                "server": source.server,
                "source_url": getattr(source, "url", ""),
                "started_by": actor.user,
            },
        )
        if created:
            audit.record(
                actor,
                "mail.import_created",
                commune=mailbox.commune,
                target=mailbox.address,
                data={"source": source.key, "import": job.pk},
            )
    return job


# --------------------------------------------------------------------------- secrets


def _secret_key(job_id: int) -> bytes:
    from clocher.storage.crypto import load_master_key

    return hmac.new(load_master_key(), f"mail-import:{job_id}".encode(), hashlib.sha256).digest()


def seal_secret(job: MailImport, password: str) -> None:
    from clocher.storage.crypto import seal_bytes

    job.sealed_secret = seal_bytes(_secret_key(job.pk), b"mail-import", password.encode())
    job.save(update_fields=["sealed_secret"])


def unseal_secret(job: MailImport) -> str:
    from clocher.storage.crypto import open_bytes

    if not job.sealed_secret:
        raise SourceError("Le mot de passe du compte source n'est plus disponible : relancez.")
    return open_bytes(_secret_key(job.pk), b"mail-import", bytes(job.sealed_secret)).decode()


# --------------------------------------------------------------------------- page


@dataclass
class ImapRequest:
    host: str
    port: int
    security: str  # "tls" or "starttls"
    user: str
    password: str = field(repr=False)

    @property
    def url(self) -> str:
        scheme = "imaps" if self.security == "tls" else "imap"
        return f"{scheme}://{self.user}@{hostport(self.host, self.port)}"


def start_imap_import(actor: Actor, mailbox: Mailbox, request: ImapRequest) -> MailImport:
    """Queue a background import from a remote IMAP account (the page's form)."""
    from clocher.mail.migrate.tasks import import_mailbox

    source = imap_source(request.url, request.password)
    job = job_for(actor, mailbox, source)
    with transaction.atomic():
        job = MailImport.objects.select_for_update().get(pk=job.pk)
        running = job.status == ImportStatus.RUNNING and job.updated_at > (
            timezone.now() - STALE_AFTER
        )
        waiting = job.status == ImportStatus.QUEUED and job.sealed_secret is not None
        if running or waiting:
            raise ValidationError("Une reprise de ce compte est déjà en cours pour cette boîte.")
        seal_secret(job, request.password)
        job.status = ImportStatus.QUEUED
        job.error = ""
        job.started_by = actor.user
        job.source_url = request.url
        job.save(update_fields=["status", "error", "started_by", "source_url", "updated_at"])
        audit.record(
            actor,
            "mail.import_queued",
            commune=mailbox.commune,
            target=mailbox.address,
            data={"source": source.key, "import": job.pk},
        )
        transaction.on_commit(lambda: import_mailbox.enqueue(job.pk, actor.display, actor.ip))
    return job


def run_background(job_id: int, actor: Actor) -> MailImport:
    """What the task runs: the sealed password is wiped whatever happens."""
    job = MailImport.objects.select_related("mailbox", "commune").get(pk=job_id)
    try:
        try:
            source = imap_source(job.source_url, unseal_secret(job))
        except SourceError as exc:
            _fail(job, str(exc))
            return job
        return run(actor, job, source)
    finally:
        MailImport.objects.filter(pk=job.pk).update(sealed_secret=None)


# --------------------------------------------------------------------------- run


def acquire_connections(job: MailImport, wanted: int, patience: float = 600) -> int:
    """How many connections this import may open to its source server: what the
    running imports of the same server leave of MAIL_IMPORT_SERVER_CONNECTIONS (it waits
    for a free one). File sources have no server and no limit."""
    if not job.server:
        return wanted
    limit = settings.MAIL_IMPORT_SERVER_CONNECTIONS
    deadline = time.monotonic() + patience
    while True:
        with transaction.atomic():
            alive = timezone.now() - STALE_AFTER
            # This job's row is locked with the others, all in the order of their keys:
            # two imports locking each other's row first and then their own deadlocked.
            shares = (
                MailImport.objects.select_for_update()
                .filter(
                    Q(pk=job.pk)
                    | Q(server=job.server, status=ImportStatus.RUNNING, updated_at__gt=alive)
                )
                .order_by("pk")
                .values_list("pk", "connections")
            )
            used = sum(connections for pk, connections in shares if pk != job.pk)
            free = limit - used
            if free > 0:
                granted = max(1, min(wanted, free))
                MailImport.objects.filter(pk=job.pk).update(
                    connections=granted, status=ImportStatus.RUNNING, updated_at=timezone.now()
                )
                return granted
        if time.monotonic() > deadline:
            raise SourceError(f"Trop de reprises en cours sur {job.server} : réessayez plus tard.")
        time.sleep(2)


def _fail(job: MailImport, message: str) -> None:
    MailImport.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, error=message, finished_at=timezone.now(), connections=0
    )
    job.refresh_from_db()


def _temporary_login(actor: Actor, job: MailImport) -> tuple[AppPassword, str]:
    """An app password of the mailbox's owner for this run only (revoked at the end;
    one left by a killed run is revoked first)."""
    mailbox = job.mailbox
    if mailbox.user is None:
        raise SourceError(f"La boîte {mailbox.address} n'a pas de compte associé.")
    if not mailbox.is_active or not mailbox.user.is_active:
        raise SourceError(f"La boîte {mailbox.address} est désactivée.")
    name = f"Reprise de messagerie n° {job.pk}"
    for leftover in AppPassword.objects.filter(user=mailbox.user, name=name, revoked_at=None):
        revoke_app_password(actor, leftover)
    created = create_app_password(actor, mailbox.user, name)
    return created.record, created.clear


def run(
    actor: Actor,
    job: MailImport,
    source: Source,
    *,
    connections: int | None = None,
    hook: engine.ProgressHook | None = None,
    on_total: Callable[[int], None] | None = None,
) -> MailImport:
    """Copy what is missing from `source` into the job's mailbox; returns the job with
    its report (copied, skipped, failed, duration). Safe to run again at any time."""
    job = MailImport.objects.select_related("mailbox", "commune", "mailbox__user").get(pk=job.pk)
    MailImport.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING,
        updated_at=timezone.now(),
        started_at=timezone.now(),
        finished_at=None,
        total=0,
        copied=0,
        skipped=0,
        failed=0,
        error="",
        notes="\n".join(getattr(source, "problems", [])),
        current_folder="",
        source_url=getattr(source, "url", ""),
    )
    record = None
    try:
        record, password = _temporary_login(actor, job)
        login = (job.mailbox.address, password)
        # The share of the source server's connections is taken before the first one.
        granted = acquire_connections(job, connections or settings.MAIL_IMPORT_CONNECTIONS)
        plans = _plan(job, source, login)
        total = sum(len(p.listing.uids) for p in plans)
        MailImport.objects.filter(pk=job.pk).update(total=total)
        if on_total:
            on_total(total)
        engine.run_folders(job, source, plans, login, granted, hook)
    except SourceError as exc:
        _fail(job, str(exc))
    except engine.QuotaFull as exc:
        _fail(job, f"Import arrêté : {exc}. Ce qui est copié est gardé.")
    except engine.AppendRefused as exc:
        _fail(job, f"Import arrêté : {exc}.")
    except (OSError, TimeoutError) as exc:
        log.warning("mail import %s: connection lost: %s", job.pk, exc)
        _fail(job, "Connexion perdue pendant l'import. Relancez : il reprendra.")
    except IMAPClientError as exc:  # the server's words go to the log, not to the page
        log.warning("mail import %s: IMAP command refused: %s", job.pk, exc)
        _fail(job, "Commande IMAP refusée par un serveur. Relancez : l'import reprendra.")
    except Exception as exc:
        _fail(job, f"Erreur inattendue : {exc}. Relancez : l'import reprendra où il s'est arrêté.")
        raise
    else:
        MailImport.objects.filter(pk=job.pk).update(
            status=ImportStatus.DONE,
            finished_at=timezone.now(),
            current_folder="",
            connections=0,
        )
    finally:
        if record is not None:
            revoke_app_password(actor, record)
        source.cleanup()
    job.refresh_from_db()
    with transaction.atomic():
        audit.record(
            actor,
            "mail.import_finished" if job.status == ImportStatus.DONE else "mail.import_failed",
            commune=job.commune,
            target=job.mailbox.address,
            data={
                "import": job.pk,
                "source": job.source_key,
                "copied": job.copied,
                "skipped": job.skipped,
                "failed": job.failed,
                "error": job.error,
            },
        )
    return job


def _plan(job: MailImport, source: Source, login: tuple[str, str]) -> list[engine.FolderPlan]:
    """List the source's folders and messages, map them to target folders (created
    now, parents first) and load each folder's state."""
    folders = [f for f in source.folders() if not f.skip_reason]
    probe = Target(*login)
    try:
        room = probe.free_bytes()
        known = probe.folders()
        names = target_names(folders, known)
        for name in sorted(set(names.values()), key=lambda n: n.count(known.separator)):
            probe.ensure(name, known.existing)
    finally:
        probe.close()
    reader = source.open()
    plans = []
    unreadable: list[str] = []
    try:
        for folder in folders:
            state, _ = MailImportFolder.objects.get_or_create(
                job=job, source_name=folder.name, defaults={"target_name": names[folder.name]}
            )
            if state.target_name != names[folder.name] and not state.pending:
                state.target_name = names[folder.name]
            try:
                listing = reader.listing(folder)
            except IMAPClientError as exc:  # one unreadable folder does not stop the rest
                unreadable.append(f"{folder.name} : dossier illisible à la source ({exc})")
                continue
            state.total, state.copied, state.skipped, state.failed = len(listing.uids), 0, 0, 0
            state.save()
            plans.append(engine.FolderPlan(folder, state, listing))
    finally:
        reader.close()
    _check_room(plans, room, job.mailbox)
    if unreadable:
        notes = [*getattr(source, "problems", []), *unreadable]
        MailImport.objects.filter(pk=job.pk).update(notes="\n".join(notes))
    return plans


def _check_room(plans: list[engine.FolderPlan], room: int | None, mailbox: Mailbox) -> None:
    """Refuse before copying anything when what is left to copy cannot fit: better
    than a mailbox filled to the brim and an import stopped half-way."""
    if room is None:
        return
    needed = sum(
        size
        for plan in plans
        for uid, size in plan.listing.sizes.items()
        if uid > plan.state.last_uid
    )
    if needed > room:
        mib = 1024 * 1024
        raise SourceError(
            f"Il reste {needed / mib:.0f} Mio à copier et la boîte {mailbox.address} n'a plus "
            f"que {room / mib:.0f} Mio de libres (quota {mailbox.quota_bytes / mib:.0f} Mio) : "
            "augmentez son quota, puis relancez la reprise."
        )


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    job: MailImport
    folders: list[MailImportFolder]
    failures: list[MailImportFailure]

    @property
    def duration(self) -> timedelta | None:
        if self.job.started_at and self.job.finished_at:
            return self.job.finished_at - self.job.started_at
        if self.job.started_at:
            return timezone.now() - self.job.started_at
        return None


def report(job: MailImport, failures_limit: int = 200) -> Report:
    return Report(
        job,
        list(job.folders.all()),
        list(
            MailImportFailure.objects.filter(folder__job=job).select_related("folder")[
                :failures_limit
            ]
        ),
    )
