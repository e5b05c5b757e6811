"""The copy: folders in parallel, each one a pipeline (batched FETCH from the source in
one thread, MULTIAPPEND to our Dovecot in another), with its state in the database.

Why it never duplicates, wherever it is killed:
- a folder's state holds the source UIDVALIDITY and the highest source UID copied;
- before a batch is appended, its (UID, fingerprint) list and the target folder's
  UIDNEXT are committed as `pending`; after the APPEND, one transaction records the
  messages, moves `last_uid` and clears `pending`;
- a run that finds `pending` set fetches what the target holds from that UIDNEXT on and
  records the pending messages whose fingerprint is there: they are not sent again;
- if the source's UIDVALIDITY changed (or a file source changed), every recorded
  message loses its UID and is matched again by fingerprint, message by message.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from clocher.mail.migrate.sources import (
    BrokenMessage,
    FolderListing,
    Source,
    SourceFolder,
    SourceMessage,
    SourceReader,
    fingerprint,
)
from clocher.mail.migrate.target import AppendRefused, QuotaFull, Target
from clocher.mail.models import (
    MailImport,
    MailImportedMessage,
    MailImportFailure,
    MailImportFolder,
)

BATCH_MESSAGES = 200
BATCH_BYTES = 8 * 1024 * 1024

# Called after each batch, from worker threads: folder, copied, skipped, failed (deltas).
ProgressHook = Callable[[str, int, int, int], None]


@dataclass
class FolderPlan:
    folder: SourceFolder
    state: MailImportFolder
    listing: FolderListing


def batches(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    """At most BATCH_MESSAGES messages or BATCH_BYTES bytes (one big message alone)."""
    batch: list[int] = []
    size = 0
    for uid in uids:
        weight = sizes.get(uid, 0)
        if batch and (len(batch) >= BATCH_MESSAGES or size + weight > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(uid)
        size += weight
    if batch:
        yield batch


def _count(
    job: MailImport, state: MailImportFolder, copied: int, skipped: int, failed: int
) -> None:
    MailImportFolder.objects.filter(pk=state.pk).update(
        copied=F("copied") + copied, skipped=F("skipped") + skipped, failed=F("failed") + failed
    )
    MailImport.objects.filter(pk=job.pk).update(
        copied=F("copied") + copied,
        skipped=F("skipped") + skipped,
        failed=F("failed") + failed,
        current_folder=state.source_name[:500],
        updated_at=timezone.now(),  # update() skips auto_now: this is the heartbeat
    )


def recover_pending(state: MailImportFolder, target: Target) -> int:
    """Record the messages of an interrupted batch that did reach the target."""
    pending = state.pending or {}
    found = Counter(
        fingerprint(raw) for raw in target.fetch_from(state.target_name, pending["uidnext"])
    )
    known = set(
        state.messages.filter(source_uid__in=[uid for uid, _fp in pending["messages"]]).values_list(
            "source_uid", flat=True
        )
    )
    arrived = []
    for uid, fp in pending["messages"]:
        if uid not in known and found[fp] > 0:
            found[fp] -= 1
            arrived.append(MailImportedMessage(folder=state, source_uid=uid, fingerprint=fp))
    with transaction.atomic():
        MailImportedMessage.objects.bulk_create(arrived)
        state.failures.filter(source_uid__in=[m.source_uid for m in arrived]).delete()
        state.pending = None
        state.save(update_fields=["pending"])
    return len(arrived)


def sync_state(state: MailImportFolder, listing: FolderListing, target: Target) -> None:
    if state.pending:
        recover_pending(state, target)
    if state.uidvalidity and state.uidvalidity != listing.uidvalidity:
        # New UIDs at the source: what was copied is known by fingerprint only now.
        with transaction.atomic():
            state.messages.update(source_uid=None)
            state.failures.all().delete()
            state.uidvalidity, state.last_uid = listing.uidvalidity, 0
            state.save(update_fields=["uidvalidity", "last_uid"])
    elif not state.uidvalidity:
        state.uidvalidity = listing.uidvalidity
        state.save(update_fields=["uidvalidity"])


def plan_uids(state: MailImportFolder, listing: FolderListing) -> list[int]:
    """UIDs still to copy: above the mark and not recorded, plus earlier failures."""
    recorded = set(
        state.messages.filter(source_uid__gt=state.last_uid).values_list("source_uid", flat=True)
    )
    present = set(listing.uids)
    state.failures.exclude(source_uid__in=present).delete()  # gone from the source
    failed = set(state.failures.values_list("source_uid", flat=True))
    return [
        uid
        for uid in listing.uids
        if (uid > state.last_uid and uid not in recorded) or uid in failed
    ]


def _claim(
    state: MailImportFolder, messages: list[SourceMessage], prints: dict[int, str]
) -> set[int]:
    """After a UIDVALIDITY change: messages whose fingerprint matches a recorded message
    that lost its UID are already in the target."""
    pool: dict[str, list[int]] = defaultdict(list)
    for row_id, fp in state.messages.filter(
        source_uid=None, fingerprint__in=set(prints.values())
    ).values_list("id", "fingerprint"):
        pool[fp].append(row_id)
    claimed = set()
    with transaction.atomic():
        for message in messages:
            ids = pool.get(prints[message.uid])
            if ids:
                MailImportedMessage.objects.filter(pk=ids.pop()).update(source_uid=message.uid)
                claimed.add(message.uid)
    return claimed


def copy_batch(
    job: MailImport,
    state: MailImportFolder,
    uids: list[int],
    fetched: list[SourceMessage | BrokenMessage],
    target: Target,
    claiming: bool,
) -> tuple[int, int, int]:
    messages = [m for m in fetched if isinstance(m, SourceMessage)]
    failures = {m.uid: (m.reason, m.subject) for m in fetched if isinstance(m, BrokenMessage)}
    prints = {m.uid: fingerprint(m.raw) for m in messages}
    claimed = _claim(state, messages, prints) if claiming else set()
    to_send = [m for m in messages if m.uid not in claimed]
    sent: list[SourceMessage] = []
    quota: QuotaFull | None = None
    if to_send:
        state.pending = {
            "uidnext": target.uidnext(state.target_name),
            "messages": [[m.uid, prints[m.uid]] for m in to_send],
        }
        state.save(update_fields=["pending"])
        try:
            target.append_many(state.target_name, to_send)
            sent = to_send
        except QuotaFull as exc:
            quota = exc
        except AppendRefused:
            # One message spoils the batch: send them one by one to name it.
            for message in to_send:
                try:
                    target.append_one(state.target_name, message)
                    sent.append(message)
                except QuotaFull as exc:
                    quota = exc
                    break
                except AppendRefused as exc:
                    failures[message.uid] = (str(exc), message.subject)
    done = {m.uid for m in sent} | claimed
    with transaction.atomic():
        MailImportedMessage.objects.bulk_create(
            MailImportedMessage(folder=state, source_uid=m.uid, fingerprint=prints[m.uid])
            for m in sent
        )
        state.failures.filter(source_uid__in=done | set(failures)).delete()
        MailImportFailure.objects.bulk_create(
            MailImportFailure(folder=state, source_uid=uid, reason=reason, subject=subject[:300])
            for uid, (reason, subject) in failures.items()
        )
        if quota is None:
            state.last_uid = max(state.last_uid, *uids)
        state.pending = None
        state.save(update_fields=["last_uid", "pending"])
        counts = (len(sent), len(claimed) + len(uids) - len(fetched), len(failures))
        _count(job, state, *counts)
    if quota is not None:
        raise quota
    return counts


def copy_folder(
    job: MailImport,
    plan: FolderPlan,
    reader: SourceReader,
    target: Target,
    hook: ProgressHook | None,
) -> None:
    state, listing = plan.state, plan.listing
    sync_state(state, listing, target)
    todo = plan_uids(state, listing)
    claiming = state.messages.filter(source_uid=None).exists()
    already = len(listing.uids) - len(todo)
    _count(job, state, 0, already, 0)
    if hook:
        hook(state.source_name, 0, already, 0)
    # Pipeline: the next batch is fetched while this one is appended.
    fetched: queue.Queue[
        tuple[list[int], list[SourceMessage | BrokenMessage]] | BaseException | None
    ]
    fetched = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch_all() -> None:
        try:
            for uids in batches(todo, listing.sizes):
                if stop.is_set():
                    return
                fetched.put((uids, reader.fetch(plan.folder, uids)))
            fetched.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the appending thread
            fetched.put(exc)

    fetcher = threading.Thread(target=fetch_all, daemon=True)
    fetcher.start()
    try:
        while (item := fetched.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            uids, messages = item
            counts = copy_batch(job, state, uids, messages, target, claiming)
            if hook:
                hook(state.source_name, *counts)
    finally:
        stop.set()
        while fetcher.is_alive():  # unblock a fetcher waiting on a full queue
            with contextlib.suppress(queue.Empty):
                fetched.get(timeout=0.1)
        fetcher.join()


def run_folders(
    job: MailImport,
    source: Source,
    plans: list[FolderPlan],
    login: tuple[str, str],
    connections: int,
    hook: ProgressHook | None,
) -> None:
    """`connections` workers, each with one source and one target connection, take
    folders largest first; the first error stops the others after their batch."""
    work: queue.Queue[FolderPlan] = queue.Queue()
    for plan in sorted(plans, key=lambda p: -len(p.listing.uids)):
        work.put(plan)
    failed = threading.Event()

    def worker() -> None:
        reader = target = None
        try:
            while not failed.is_set():
                try:
                    plan = work.get_nowait()
                except queue.Empty:
                    return
                reader = reader or source.open()
                target = target or Target(*login)
                copy_folder(job, plan, reader, target, hook)
        except BaseException:
            failed.set()
            raise
        finally:
            for end in (reader, target):
                if end is not None:
                    end.close()
            connection.close()  # this thread's database connection

    count = max(1, min(connections, len(plans)))
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="import") as pool:
        futures = [pool.submit(worker) for _ in range(count)]
        errors = [f.exception() for f in futures]
    close_old_connections()
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
