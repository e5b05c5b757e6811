"""Bringing a commune's old documents into the vault: a folder tree or a zip.

Names (Unicode-normalised), folders and modification times are kept. What cannot be
stored safely is skipped and listed with its reason, never half-written: zip bombs
(compression ratio, total size, entry count), entries escaping the target (absolute
paths, `..`), links and special files, names the vault refuses. The quota is checked
before (the whole import must fit) and during (another upload may take the room): an
import that runs out of room stops cleanly, keeping and reporting what was done.
A rerun is idempotent: a file already there with the same content is skipped.
"""

from __future__ import annotations

import os
import stat
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clocher.core import audit, staging
from clocher.core.audit import Actor
from clocher.core.locks import lock_rows
from clocher.core.models import Commune
from clocher.storage import crypto
from clocher.storage.blobstore import store
from clocher.storage.blobstore.local import LocalStore
from clocher.storage.chunks import ChunkWriter, read_stream
from clocher.vault import services
from clocher.vault.models import DocumentImport, ImportStatus, Node

if TYPE_CHECKING:
    from clocher.accounts.models import User
    from clocher.storage.blobstore import BlobStore

# A zip entry inflating more than this many times its compressed size is a bomb.
MAX_RATIO = 200
# Below this size a high ratio is harmless (a page of spaces compresses 1000:1).
RATIO_FLOOR_BYTES = 1024 * 1024

Progress = Callable[[int, int, str], None]


class ImportRefused(ValidationError):
    """The import cannot start (nothing was written): the message says why."""


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    folders: int = 0
    bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    stopped: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "folders": self.folders,
            "bytes": self.bytes,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SourceEntry:
    """One file of the source: its path parts, size, time, and how to read it."""

    parts: tuple[str, ...]
    size: int
    mtime: float
    open: Callable[[], BinaryIO]
    problem: str = ""


@dataclass
class Source:
    entries: list[SourceEntry]
    folders: list[tuple[str, ...]]
    refused: list[tuple[str, str]]
    close: Callable[[], None] = lambda: None

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries if not e.problem)


# ---------------------------------------------------------------------------- sources


def _split(path: str) -> tuple[tuple[str, ...], str]:
    """The parts of a relative path, or a reason to refuse it."""
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return (), "chemin absolu"
    parts = tuple(p for p in path.replace("\\", "/").split("/") if p not in ("", "."))
    if ".." in parts:
        return (), "chemin qui remonte hors du dossier (« .. »)"
    return parts, ""


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The entry's real name: UTF-8 when flagged, else what Windows' French archivers
    wrote (CP850; Python decoded it as CP437), or unflagged UTF-8 from other tools."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp850")


class _ZipReaders:
    """One ZipFile per reading thread: a ZipFile's shared handle is not meant for
    concurrent opens and closes (its reference count is not locked)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.local()
        self.opened: list[zipfile.ZipFile] = []
        self.guard = threading.Lock()

    def open(self, info: zipfile.ZipInfo) -> BinaryIO:
        archive = getattr(self.local, "archive", None)
        if archive is None:
            archive = self.local.archive = zipfile.ZipFile(self.path)  # noqa: SIM115
            with self.guard:
                self.opened.append(archive)
        return archive.open(info)  # type: ignore[return-value]

    def close(self) -> None:
        with self.guard:
            for archive in self.opened:
                archive.close()
            self.opened.clear()


def zip_source(path: Path, max_total: int, max_entries: int) -> Source:
    try:
        archive = zipfile.ZipFile(path)  # noqa: SIM115 - closed with the import
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRefused(f"Archive zip illisible : {exc}.") from exc
    infos = archive.infolist()
    if len(infos) > max_entries:
        archive.close()
        raise ImportRefused(
            f"L'archive contient {len(infos)} éléments : {max_entries} au plus par import."
        )
    readers = _ZipReaders(path)

    def close() -> None:
        readers.close()
        archive.close()

    source = Source([], [], [], close)
    declared = 0
    for info in infos:
        name = _zip_name(info)
        parts, problem = _split(name)
        mode = info.external_attr >> 16
        if not problem and stat.S_ISLNK(mode):
            problem = "lien symbolique"
        if not problem and not parts:
            problem = "nom vide"
        if problem:
            source.refused.append((name, problem))
            continue
        if info.is_dir():
            source.folders.append(parts)
            continue
        if info.flag_bits & 0x1:
            source.refused.append((name, "fichier chiffré dans l'archive"))
            continue
        ratio = info.file_size // max(1, info.compress_size)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > MAX_RATIO:
            source.refused.append((name, f"taux de compression suspect ({ratio}:1, bombe zip)"))
            continue
        declared += info.file_size
        if declared > max_total:
            archive.close()
            raise ImportRefused(
                "L'archive décompressée dépasserait la taille maximale d'un import "
                f"({max_total} octets) : bombe zip ou archive à découper."
            )
        mtime = time.mktime((*info.date_time, 0, 0, -1))
        source.entries.append(
            SourceEntry(parts, info.file_size, mtime, partial(readers.open, info))
        )
    return source


def folder_source(root: Path, max_total: int, max_entries: int) -> Source:
    source = Source([], [], [])
    count = 0
    declared = 0
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(directory)
        for name in [*dirnames, *filenames]:
            count += 1
            if count > max_entries:
                raise ImportRefused(f"Le dossier contient plus de {max_entries} éléments.")
            full = base / name
            relative = full.relative_to(root)
            parts = relative.parts
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                source.refused.append((str(relative), "lien symbolique"))
                if name in dirnames:
                    dirnames.remove(name)
            elif stat.S_ISDIR(info.st_mode):
                source.folders.append(parts)
            elif not stat.S_ISREG(info.st_mode):
                source.refused.append((str(relative), "fichier spécial (ni fichier ni dossier)"))
            else:
                declared += info.st_size
                if declared > max_total:
                    raise ImportRefused(
                        f"Le dossier dépasse la taille maximale d'un import ({max_total} octets)."
                    )
                source.entries.append(
                    SourceEntry(parts, info.st_size, info.st_mtime, partial(full.open, "rb"))  # type: ignore[arg-type]
                )
    return source


def open_source(path: Path) -> Source:
    max_total = settings.VAULT_IMPORT_MAX_BYTES
    max_entries = settings.VAULT_IMPORT_MAX_ENTRIES
    if path.is_dir():
        return folder_source(path, max_total, max_entries)
    if path.is_file():
        return zip_source(path, max_total, max_entries)
    raise ImportRefused(f"« {path} » n'est ni un dossier ni une archive zip.")


# ---------------------------------------------------------------------------- import


@dataclass(frozen=True, slots=True)
class _Member:
    """What a rerun compares of a name already in a target folder."""

    is_folder: bool
    size: int
    sha256: str


class _Folders:
    """Target folders by path, made on first use (existing ones are reused), and what
    each already holds (read once per folder, as plain values: a rerun compares every
    file; a folder made here holds nothing yet)."""

    def __init__(self, actor: Actor, root: Node, report: ImportReport) -> None:
        self.actor, self.report = actor, report
        self.known: dict[tuple[str, ...], Node] = {(): root}
        self.members: dict[int, dict[str, _Member]] = {}

    def member(self, folder: Node, name: str) -> _Member | None:
        if folder.pk not in self.members:
            found = Node.objects.filter(parent=folder, deleted_at__isnull=True).values_list(
                "name", "is_folder", "size", "current__sha256"
            )
            self.members[folder.pk] = {
                n: _Member(is_folder, size, sha256 or "") for n, is_folder, size, sha256 in found
            }
        return self.members[folder.pk].get(name)

    def added(self, folder: Node, name: str, upload: ChunkWriter) -> None:
        self.members[folder.pk][name] = _Member(False, upload.size, upload.sha256)

    def get(self, parts: tuple[str, ...]) -> Node:
        if parts in self.known:
            return self.known[parts]
        parent = self.get(parts[:-1])
        name = services.clean_name(parts[-1])
        node = services.child(parent, name)
        if node is None:
            node = services.create_folder(self.actor, parent, name)
            self.members[node.pk] = {}
            self.report.folders += 1
        elif not node.is_folder:
            raise ValidationError(f"« {name} » existe déjà ici et n'est pas un dossier.")
        self.known[parts] = node
        return node


class _Bounded:
    """Reads at most `limit` bytes: a zip entry that inflates past its declared size
    (a lying header) is cut off and refused rather than filling the disk."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream, self.left = stream, limit

    def read(self, size: int = -1) -> bytes:
        # No more than one byte past the announced end: enough to see a lie, and a small
        # file's read asks for its size, not a megabyte's buffer (allocated, then cut).
        data = self.stream.read(min(1 << 20 if size < 0 else size, self.left + 1))
        self.left -= len(data)
        if self.left < 0:
            raise ValidationError("contenu plus long que la taille annoncée (bombe zip)")
        return data


def _same_content(member: _Member, upload: ChunkWriter) -> bool:
    return not member.is_folder and member.size == upload.size and member.sha256 == upload.sha256


# Files are read, hashed, encrypted and written aside by helper threads (hashlib and the
# file system release the GIL) while the main thread commits the batch before: batch
# k + 1 is prepared during batch k's flush and transaction. A batch ends at this many
# files or bytes, whichever comes first: one flush of the file system and one
# transaction each. A helper takes a few files per task (a task per file cost the main
# thread more in futures than the work saved).
IMPORT_THREADS = 4
IMPORT_BATCH = 1000
IMPORT_BATCH_BYTES = 64 << 20
_PER_TASK = 16


@dataclass
class _Prepared:
    """One source file read and stored as chunks, not yet a file of the vault."""

    entry: SourceEntry
    label: str
    folder: Node | None = None
    name: str = ""
    upload: ChunkWriter | None = None
    problem: str = ""


# Files up to this size have their chunks written aside by `_BatchWriter` and made
# durable with the whole batch; larger ones are stored as they are read, one fsync per
# chunk (their own upload pipeline already overlaps those).
DEFERRED_MAX_BYTES = 1 << 20


class _BatchWriter:
    """Collects a batch's new chunks: each is written aside as soon as it is sealed (by
    the helper threads, without an fsync), then `flush` makes them all durable under
    their names with two flushes of the file system (`LocalStore.commit_aside`) instead
    of an fsync per chunk and per directory (~7 ms each for a small file). Its
    guarantee is `put`'s: a name never points at lost content, and every name is durable
    before the batch's transaction commits. Chunks of a batch that is not committed are
    removed (`discard`)."""

    def __init__(self, blobs: LocalStore) -> None:
        self.blobs = blobs
        self.written: dict[str, tuple[str, str] | None] = {}
        self.guard = threading.Lock()

    def exists(self, key: str) -> bool:
        return key in self.written or self.blobs.exists(key)

    def put(self, key: str, data: bytes | bytearray, *, sync_directory: bool = True) -> None:
        with self.guard:  # two files of the batch with the same content: written once
            if key in self.written:
                return
            self.written[key] = None
        try:
            self.written[key] = self.blobs.write_aside(key, data)
        except BaseException:
            del self.written[key]
            raise

    def sync_directories(self, keys: Iterable[str]) -> None:
        """Nothing is under its name before `flush`, which makes names durable itself."""

    def _aside(self) -> list[tuple[str, str]]:
        with self.guard:
            found = [w for w in self.written.values() if w is not None]
            self.written = {}
        return found

    def flush(self) -> None:
        written = self._aside()
        if not written:  # a rerun's batch: every chunk was there
            return
        try:
            self.blobs.commit_aside(written)
        except BaseException:
            self.blobs.discard_aside(written)  # those not renamed yet
            raise

    def discard(self) -> None:
        self.blobs.discard_aside(self._aside())


def _prepare(item: _Prepared, key: bytes, writer: _BatchWriter | None = None) -> _Prepared:
    """Read, encrypt and store the content (in a helper thread: no database here)."""
    assert item.folder is not None
    deferred = writer if writer is not None and item.entry.size <= DEFERRED_MAX_BYTES else None
    upload = ChunkWriter(item.folder.space.commune, key=key, blobs=deferred)
    try:
        with item.entry.open() as stream:
            read_stream(_Bounded(stream, item.entry.size), upload)  # type: ignore[arg-type]
        upload.finish(sync_directories=False)  # its SHA-256 is known from here
    except ValidationError as exc:
        upload.discard()
        item.problem = services_message(exc)
        return item
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        upload.discard()
        item.problem = f"lecture impossible : {exc}"
        return item
    item.upload = upload
    return item


def _prepare_some(items: list[_Prepared], key: bytes, writer: _BatchWriter | None) -> None:
    for item in items:
        _prepare(item, key, writer)


def _place(folders: _Folders, entry: SourceEntry) -> _Prepared:
    """The entry's target folder and clean name (folders made here, in this thread)."""
    item = _Prepared(entry, "/".join(entry.parts))
    try:
        item.folder = folders.get(entry.parts[:-1])
        item.name = services.clean_name(entry.parts[-1])
    except ValidationError as exc:
        item.problem = services_message(exc)
    return item


def _commit(actor: Actor, folders: _Folders, item: _Prepared, report: ImportReport) -> None:
    """Make one prepared file a file of the vault (or count it unchanged)."""
    assert item.folder is not None and item.upload is not None
    existing = folders.member(item.folder, item.name)
    upload = item.upload
    if existing is not None and _same_content(existing, upload):
        report.unchanged += 1
        return
    modified = datetime.fromtimestamp(item.entry.mtime, tz=UTC)
    services.save_file(actor, item.folder, item.name, upload, modified_at=modified)
    folders.added(item.folder, item.name, upload)
    if existing is None:
        report.imported += 1
    else:
        report.updated += 1
    report.bytes += upload.size


def _commit_batch(
    actor: Actor,
    folders: _Folders,
    batch: list[_Prepared],
    report: ImportReport,
    progress: Progress | None,
    done: int,
    needed: int,
    durable: Callable[[], object],
) -> int:
    """The batch's files in one transaction, committed once `durable` has returned (the
    batch's chunks are durable under their names): the new ones together
    (`services.save_new_files`), the others (new versions, unchanged, a name taken
    meanwhile, or all of them if the quota cannot take the whole batch) one by one, each
    in its own savepoint; a refused file is listed and the others go on; a full quota
    stops the import, keeping what came before it. Returns the bytes done."""
    reached = done
    for item in batch:
        if progress:
            progress(reached, needed, item.label)
        reached += item.entry.size
    fresh: list[_Prepared] = []
    seen: set[tuple[int, str]] = set()
    for item in batch:
        if item.problem or item.folder is None:
            continue
        where = (item.folder.pk, item.name)
        if where not in seen and folders.member(item.folder, item.name) is None:
            fresh.append(item)
        seen.add(where)
    with transaction.atomic():
        _lock_batch([i for i in batch if not i.problem and i.folder is not None], fresh)
        try:
            services.save_new_files(
                actor,
                [
                    services.NewFile(
                        i.folder,  # type: ignore[arg-type]
                        i.name,
                        i.upload,  # type: ignore[arg-type]
                        datetime.fromtimestamp(i.entry.mtime, tz=UTC),
                    )
                    for i in fresh
                ],
            )
        except (IntegrityError, services.QuotaExceeded):
            fresh = []
        for item in fresh:
            folders.added(item.folder, item.name, item.upload)  # type: ignore[arg-type]
            report.imported += 1
            report.bytes += item.entry.size
        added = {id(i) for i in fresh}
        for item in batch:
            if id(item) in added:
                done += item.entry.size
                continue
            try:
                if item.problem:
                    raise ValidationError(item.problem)
                _commit(actor, folders, item, report)
            except services.QuotaExceeded as exc:
                report.stopped = f"quota atteint pendant l'import ({services_message(exc)})"
                break
            except ValidationError as exc:
                report.skipped.append((item.label, services_message(exc)))
            done += item.entry.size
        durable()  # raises if the chunks could not be made durable: all rolls back
    return done


def _lock_batch(placed: list[_Prepared], fresh: list[_Prepared]) -> None:
    """The rows the batch changes, in the vault's lock order (see `services`), before
    its first journal entry: the files it may give a new version, then every folder
    above its files. Taken one file after the other, they waited, with the journal
    held, on an upload holding them and waiting for the journal (PostgreSQL)."""
    if not connection.features.has_select_for_update or not placed:
        return
    new = {id(i) for i in fresh}
    others = [i for i in placed if id(i) not in new]
    if others:
        files = Node.objects.filter(
            parent_id__in={i.folder.pk for i in others},  # type: ignore[union-attr]
            name__in={i.name for i in others},
            is_folder=False,
            deleted_at__isnull=True,
        )
        lock_rows(files)
    folders = {i.folder.pk: i.folder for i in placed if i.folder is not None}
    services.lock_chains(folders.values())


def _batches(entries: list[SourceEntry]) -> Iterator[list[SourceEntry]]:
    """The entries in batches of IMPORT_BATCH files or IMPORT_BATCH_BYTES at most (a
    larger file is a batch of its own)."""
    batch: list[SourceEntry] = []
    size = 0
    for entry in entries:
        if batch and (len(batch) >= IMPORT_BATCH or size + entry.size > IMPORT_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry.size
    if batch:
        yield batch


@dataclass
class _Batch:
    """A batch placed in its folders, its files being prepared by the helper threads."""

    items: list[_Prepared]
    writer: _BatchWriter | None
    tasks: list[Future[None]]

    def wait(self) -> None:
        for task in self.tasks:
            task.result()

    def abandon(self) -> None:
        """Not to be committed: once the helpers are done with it, its chunks written
        aside are removed (those already stored are garbage for `fsck --gc`)."""
        for task in self.tasks:
            task.exception()
        if self.writer is not None:
            self.writer.discard()


def _start(
    pool: ThreadPoolExecutor,
    folders: _Folders,
    entries: list[SourceEntry],
    key: bytes,
    blobs: BlobStore,
) -> _Batch:
    items = [_place(folders, e) for e in entries]
    ready = [i for i in items if not i.problem]
    writer = _BatchWriter(blobs) if isinstance(blobs, LocalStore) else None
    tasks = [
        pool.submit(_prepare_some, ready[start : start + _PER_TASK], key, writer)
        for start in range(0, len(ready), _PER_TASK)
    ]
    return _Batch(items, writer, tasks)


def _durable(batch: _Batch, blobs: BlobStore) -> None:
    """The batch's chunks made durable under their names (in the flushing thread, while
    the main thread runs the batch's statements; its commit waits for this)."""
    if batch.writer is not None:
        batch.writer.flush()
    blobs.sync_directories(
        {
            k
            for i in batch.items
            if i.upload is not None and i.upload.blobs is None
            for k in i.upload.stored_keys
        }
    )


def _commit_prepared(
    batch: _Batch, flusher: ThreadPoolExecutor, blobs: BlobStore, commit: Callable[..., int]
) -> int:
    """Wait for the helpers to finish the batch, then commit it (`commit` is
    `_commit_batch` with its arguments but the last), its chunks made durable meanwhile
    by the flushing thread: the transaction waits for them before it commits. If the
    flush fails, the chunks written aside are removed and the transaction rolls back."""
    try:
        batch.wait()
    except BaseException:
        batch.abandon()
        raise
    flushing = flusher.submit(_durable, batch, blobs)
    try:
        return commit(batch.items, flushing.result)
    finally:
        flushing.exception()  # done either way before the next batch's turn


def import_documents(
    actor: Actor, target: Node, path: Path, progress: Progress | None = None
) -> ImportReport:
    """Import the folder tree or zip at `path` into the folder `target`."""
    started = time.monotonic()
    source = open_source(Path(path))
    try:
        return _run(actor, target, source, progress, started)
    finally:
        source.close()


def _run(
    actor: Actor, target: Node, source: Source, progress: Progress | None, started: float
) -> ImportReport:
    report = ImportReport(skipped=list(source.refused))
    needed = source.total_bytes
    room = services.available_bytes(target.space)
    if needed > room:
        raise ImportRefused(
            f"L'import demande {needed} octets mais le quota n'en laisse que {room} : "
            "libérez de la place ou demandez un quota plus grand. Rien n'a été importé."
        )
    folders = _Folders(actor, target, report)
    for parts in source.folders:
        try:
            folders.get(parts)
        except ValidationError as exc:
            report.skipped.append(("/".join(parts), services_message(exc)))
    done = 0
    key = crypto.data_key(target.space.commune)
    blobs = store()
    flusher = ThreadPoolExecutor(1, thread_name_prefix="vault-import-flush")
    with flusher, ThreadPoolExecutor(IMPORT_THREADS, thread_name_prefix="vault-import") as pool:
        started_batches: list[_Batch] = []

        def commit(items: list[_Prepared], durable: Callable[[], object]) -> int:
            return _commit_batch(actor, folders, items, report, progress, done, needed, durable)

        try:
            for entries in _batches(source.entries):
                # This batch is read and written aside while the one before is committed.
                started_batches.append(_start(pool, folders, entries, key, blobs))
                if len(started_batches) > 1:
                    done = _commit_prepared(started_batches.pop(0), flusher, blobs, commit)
                    if report.stopped:
                        break
            while started_batches and not report.stopped:
                done = _commit_prepared(started_batches.pop(0), flusher, blobs, commit)
        finally:
            for batch in started_batches:
                batch.abandon()
    if progress:
        progress(needed if not report.stopped else done, needed, "")
    report.seconds = time.monotonic() - started
    summary = report.as_dict() | {"skipped": len(report.skipped)}
    with transaction.atomic():  # each file has its own entry; this one sums up the run
        audit.record(
            actor,
            "vault.import",
            commune=target.space.commune,
            target=services.path_of(target) or "/",
            data=summary,
        )
    return report


def target_folder(actor: Actor, insee: str, into: str, email: str = "") -> Node:
    """The folder an import goes to: `into` (made if missing) in the commune's space, or
    in the personal space of the member `email`."""
    from clocher.core.models import Membership

    commune = Commune.objects.filter(insee=insee.upper()).first()
    if commune is None:
        raise ImportRefused(f"Commune {insee} inconnue.")
    if email:
        membership = Membership.objects.filter(
            commune=commune, user__email__iexact=email, is_active=True
        ).first()
        if membership is None:
            raise ImportRefused(f"{email} n'est pas membre actif de {commune.name}.")
        space = services.ensure_personal_space(commune, membership.user)
    else:
        space = services.ensure_commune_space(actor, commune)
    folder = services.root_of(space)
    for name in PurePosixPath(into).parts:
        if name == "/":
            continue
        name = services.clean_name(name)
        existing = services.child(folder, name)
        if existing is not None and not existing.is_folder:
            raise ImportRefused(f"« {name} » est un fichier, pas un dossier.")
        folder = existing or services.create_folder(actor, folder, name)
    return folder


# ---------------------------------------------------------------------------- from the page


def start_web_import(
    actor: Actor, user: User, folder: Node, archive_name: str, chunks: Iterator[bytes]
) -> DocumentImport:
    """Keep the zip sent from the page in the data dir (removed once imported) and queue
    its import; the page follows the returned job."""
    from clocher.vault import tasks

    def bounded() -> Iterator[bytes]:
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total > settings.VAULT_IMPORT_MAX_BYTES:
                raise ImportRefused("Archive trop volumineuse pour un import.")
            yield chunk

    # Staged by key, not on this node's disk: the task may run on another node.
    key = staging.new_key("imports", ".zip")
    written = staging.write(key, bounded(), folder.space.commune)
    with transaction.atomic():
        job = DocumentImport.objects.create(
            commune=folder.space.commune,
            folder=folder,
            user=user,
            archive_name=archive_name[:255],
            archive_path=key,
        )
        audit.record(
            actor,
            "vault.import_queued",
            commune=job.commune,
            target=services.path_of(folder) or "/",
            data={"archive": job.archive_name, "bytes": written},
        )
    tasks.import_zip.enqueue(job.pk, actor.label, actor.ip)
    return job


def run_web_import(job: DocumentImport, actor: Actor) -> DocumentImport:
    """The background part: import, report progress on the job row (at most twice a
    second), keep the report, remove the zip."""
    last = 0.0

    def progress(done: int, total: int, name: str) -> None:
        nonlocal last
        if time.monotonic() - last < 0.5 and name:
            return
        last = time.monotonic()
        DocumentImport.objects.filter(pk=job.pk).update(
            done_bytes=done, total_bytes=total, current=name[:255]
        )

    job.status = ImportStatus.RUNNING
    job.save(update_fields=["status"])
    try:
        with staging.local_copy(job.archive_path, job.commune) as archive:
            report = import_documents(actor, job.folder, archive, progress)
        job.report = report.as_dict()
        job.status = ImportStatus.STOPPED if report.stopped else ImportStatus.DONE
    except ValidationError as exc:
        job.report = {"error": services_message(exc)}
        job.status = ImportStatus.FAILED
    except FileNotFoundError:
        job.report = {"error": "Archive introuvable : l'envoi n'a pas été conservé."}
        job.status = ImportStatus.FAILED
    finally:
        staging.delete(job.archive_path)
    job.refresh_from_db(fields=["done_bytes", "total_bytes"])
    job.current = ""
    job.finished_at = timezone.now()
    job.save(update_fields=["report", "status", "current", "finished_at"])
    return job


def imports_for(user: User, commune: Commune) -> list[DocumentImport]:
    """The imports `user` may follow in `commune`: those into folders they can open."""
    spaces = {s.pk for s in services.spaces_for(user) if s.commune_id == commune.pk}
    return list(
        DocumentImport.objects.filter(commune=commune, folder__space_id__in=spaces)
        .select_related("folder")
        .order_by("-created_at")[:20]
    )


def services_message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def iter_report_lines(report: ImportReport) -> Iterator[str]:
    """The report in French, one line per fact, for the CLI and the page."""
    yield (
        f"{report.imported} fichiers importés, {report.updated} mis à jour (ancienne version "
        f"conservée), {report.unchanged} déjà présents, {report.folders} dossiers créés, "
        f"{report.bytes} octets, en {report.seconds:.1f} s."
    )
    if report.stopped:
        yield f"Import arrêté : {report.stopped}. Ce qui précède est conservé."
    for path, reason in report.skipped:
        yield f"Ignoré : {path} — {reason}"
