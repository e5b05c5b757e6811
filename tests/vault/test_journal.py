"""The writer's chunk journal (`storage/blobstore/journal.py`, issue 14): a batch is
durable in the journal before its chunk files are; after a crash the replay writes
them again (missing, or holding something else), a torn last record is ignored, and
a second writer cannot open the same journal. With the writer: its start replays."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
import requests

from clocher.storage.blobstore import journal as journal_module
from clocher.storage.blobstore.journal import ChunkJournal, JournalBusy, journal_path
from clocher.storage.blobstore.local import LocalStore
from clocher.vault.dav import writer
from clocher.vault.models import Node
from tests.vault.test_fast import _auth, _space, _warm
from tests.vault.test_writer import Running, _put


def _chunks(commune: int, count: int) -> list[tuple[str, bytes]]:
    return [(f"{commune}/{os.urandom(16).hex()}", os.urandom(100 + n)) for n in range(count)]


def _size_of(items: list[tuple[str, bytes]]) -> int:
    """The bytes of `items`' records in the journal."""
    return sum(len(journal_module.record(1, k.encode(), c)) for k, c in items)


def _empty(blobs: LocalStore) -> bool:
    """Whether the journal holds no record (a checkpoint's work)."""
    journal = ChunkJournal(blobs)
    try:
        return not list(journal.records())
    finally:
        journal.close()


def _crashed(blobs: LocalStore, items: list[tuple[str, bytes]]) -> None:
    """A writer that journaled `items` and stopped before any checkpoint."""
    journal = ChunkJournal(blobs)
    journal.put_many(items)
    journal.close()  # as the process's end does: no checkpoint


def test_a_batch_is_readable_at_once_and_the_checkpoint_empties_the_journal(tmp_path):
    blobs = LocalStore(tmp_path)
    journal = ChunkJournal(blobs)
    items = _chunks(7, 5)
    journal.put_many(items)
    assert [(key, blobs.get(key)) for key, _ in items] == items
    assert journal.path.stat().st_size > sum(len(data) for _, data in items)
    assert list(journal.records()) == items
    journal.checkpoint()
    assert list(journal.records()) == []
    assert [(key, blobs.get(key)) for key, _ in items] == items
    journal.close()


def test_the_replay_writes_again_what_a_crash_lost(tmp_path):
    blobs = LocalStore(tmp_path)
    items = _chunks(7, 6)
    _crashed(blobs, items)
    # Names lost, or a name over other content (the rename durable, not the data).
    os.unlink(blobs._filename(items[0][0]))
    os.unlink(blobs._filename(items[1][0]))
    Path(blobs._filename(items[2][0])).write_bytes(b"\0" * len(items[2][1]))
    journal = ChunkJournal(blobs)
    assert journal.replay() == 6
    assert [(key, blobs.get(key)) for key, _ in items] == items
    assert list(journal.records()) == []
    assert journal.replay() == 0  # nothing left to replay
    journal.close()


def test_a_torn_last_record_is_ignored(tmp_path):
    blobs = LocalStore(tmp_path)
    items = _chunks(3, 3)
    _crashed(blobs, items)
    torn = _chunks(3, 1)[0]
    whole = ChunkJournal(blobs)
    end_of_items = journal_module._FILE.size + whole.size
    whole.put_many([torn])
    whole.close()
    path = whole.path
    # The write of the last record cut halfway (never synced: nothing committed on it).
    data = bytearray(path.read_bytes())
    data[end_of_items + 40 : end_of_items + 400] = bytes(360)
    path.write_bytes(bytes(data))
    os.unlink(blobs._filename(items[1][0]))
    os.unlink(blobs._filename(torn[0]))
    journal = ChunkJournal(blobs)
    assert journal.replay() == 3
    assert [(key, blobs.get(key)) for key, _ in items] == items
    assert not blobs.exists(torn[0])
    assert list(journal.records()) == []
    journal.close()


def test_a_damaged_journal_stops_the_replay_at_the_damage(tmp_path):
    blobs = LocalStore(tmp_path)
    items = _chunks(3, 2)
    _crashed(blobs, items)
    path = journal_path(blobs)
    data = bytearray(path.read_bytes())
    data[journal_module._FILE.size + _size_of(items) - 1] ^= 0xFF  # the second's last byte
    path.write_bytes(bytes(data))
    journal = ChunkJournal(blobs)
    assert [key for key, _ in journal.records()] == [items[0][0]]
    journal.close()


def test_a_failed_append_is_cut_off_and_the_next_ones_are_replayed(tmp_path, monkeypatch):
    blobs = LocalStore(tmp_path)
    journal = ChunkJournal(blobs)
    first, failed, last = _chunks(4, 2), _chunks(4, 2), _chunks(4, 2)
    journal.put_many(first)
    real = os.fdatasync

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdatasync", full_disk)
    with pytest.raises(OSError):
        journal.put_many(failed)
    monkeypatch.setattr(os, "fdatasync", real)
    assert not any(blobs.exists(key) for key, _ in failed)
    journal.put_many(last)
    journal.close()
    for key, _ in first + last:
        os.unlink(blobs._filename(key))
    again = ChunkJournal(blobs)
    assert again.replay() == 4
    assert [(key, blobs.get(key)) for key, _ in first + last] == first + last
    again.close()


def test_a_bad_key_fails_before_the_journal_and_a_bad_record_is_skipped(tmp_path):
    blobs = LocalStore(tmp_path)
    journal = ChunkJournal(blobs)
    with pytest.raises(ValueError):
        journal.put_many([*_chunks(5, 1), ("5/../../evil", b"x")])
    assert list(journal.records()) == []
    assert not list((tmp_path / "blobs").rglob("*.tmp"))  # nothing left aside
    journal.close()
    items = _chunks(5, 2)
    _crashed(blobs, items[:1])
    with_bad = ChunkJournal(blobs)
    bad = journal_module.record(with_bad.generation, b"../evil", b"x")
    with open(journal_path(blobs), "r+b") as out:  # as an append would, no chunk file
        out.seek(journal_module._FILE.size + with_bad.size)
        out.write(bad)
    with_bad.size += len(bad)
    with_bad.close()
    _crashed(blobs, items[1:])
    for key, _ in items:
        os.unlink(blobs._filename(key))
    again = ChunkJournal(blobs)
    assert again.replay() == 2  # the bad record skipped, the one after it replayed
    assert [(key, blobs.get(key)) for key, _ in items] == items
    again.close()


def test_a_checkpoint_starts_a_generation_whose_records_alone_count(tmp_path):
    blobs = LocalStore(tmp_path)
    journal = ChunkJournal(blobs)
    size = journal.path.stat().st_size
    old, new = _chunks(2, 3), _chunks(2, 1)
    journal.put_many(old)
    journal.checkpoint()
    journal.put_many(new)  # written over the first of `old`, the others still there
    journal.close()
    assert journal.path.stat().st_size == size  # written in place: the sync flushes data
    for key, _ in old + new:
        os.unlink(blobs._filename(key))
    again = ChunkJournal(blobs)
    assert list(again.records()) == new
    assert again.replay() == 1
    assert not any(blobs.exists(key) for key, _ in old)
    again.close()


def test_a_full_journal_grows_or_is_checkpointed_when_one_is_due(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "INITIAL_BYTES", 4096)
    blobs = LocalStore(tmp_path)
    journal = ChunkJournal(blobs)
    first = [(f"6/{os.urandom(16).hex()}", os.urandom(3000)) for _ in range(3)]
    journal.put_many(first)  # larger than the file: grown
    grown = journal.path.stat().st_size
    assert grown >= journal_module._FILE.size + _size_of(first)
    assert list(journal.records()) == first
    second = [(f"6/{os.urandom(16).hex()}", os.urandom(3000)) for _ in range(2)]
    generation = journal.generation
    journal.put_many(second)  # no room after `first`, no checkpoint due: grown
    assert journal.generation == generation and journal.path.stat().st_size > grown
    assert list(journal.records()) == first + second
    third = [(f"6/{os.urandom(16).hex()}", os.urandom(3000)) for _ in range(8)]
    monkeypatch.setattr(journal_module, "CHECKPOINT_SECONDS", 0.0)
    journal.put_many(third)  # no room, a checkpoint due: checkpointed, then written
    assert journal.generation == generation + 1
    assert list(journal.records()) == third
    journal.close()
    every = first + second + third
    assert [(key, blobs.get(key)) for key, _ in every] == every


def test_a_journal_of_the_format_before_generations_is_replayed(tmp_path):
    blobs = LocalStore(tmp_path)
    items = _chunks(8, 2)
    old = b""
    for key, content in items:
        check = zlib.crc32(content, zlib.crc32(key.encode()))
        header = journal_module._OLD_RECORD.pack(b"CLJ1", len(key), len(content), check)
        old += header + key.encode() + content
    path = journal_path(blobs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(old)
    journal = ChunkJournal(blobs)
    with pytest.raises(RuntimeError):
        journal.put_many(_chunks(8, 1))  # replayed first, as the writer does
    assert journal.replay() == 2
    assert [(key, blobs.get(key)) for key, _ in items] == items
    assert list(journal.records()) == []
    more = _chunks(8, 1)
    journal.put_many(more)
    journal.close()
    assert list(ChunkJournal(blobs).records()) == more


def test_a_second_journal_on_the_same_store_is_refused(tmp_path):
    blobs = LocalStore(tmp_path)
    first = ChunkJournal(blobs)
    with pytest.raises(JournalBusy):
        ChunkJournal(blobs)
    first.close()
    ChunkJournal(blobs).close()  # free again once the first is closed


def test_a_checkpoint_is_due_when_the_journal_is_old_or_big(tmp_path, monkeypatch):
    journal = ChunkJournal(LocalStore(tmp_path))
    assert not journal.due()  # empty
    journal.put_many(_chunks(1, 1))
    assert not journal.due()
    monkeypatch.setattr(journal_module, "CHECKPOINT_SECONDS", 0.0)
    assert journal.due()
    monkeypatch.setattr(journal_module, "CHECKPOINT_SECONDS", 3600.0)
    monkeypatch.setattr(journal_module, "CHECKPOINT_BYTES", 10)
    assert journal.due()
    journal.checkpoint()
    assert not journal.due()
    journal.close()


@pytest.mark.django_db(transaction=True)
def test_the_writer_replays_its_journal_before_it_answers(dav_user, commune_a, monkeypatch):
    _warm(dav_user, commune_a)
    monkeypatch.setattr(writer, "_down_until", 0.0)
    running = Running(monkeypatch)
    try:
        assert _put(dav_user, commune_a, "journal.txt", b"dans le journal").status_code == 201
    finally:
        running.close()  # a clean stop: checkpointed, the journal empty
    from clocher.storage.blobstore import store

    blobs = store()
    assert isinstance(blobs, LocalStore)
    assert _empty(blobs)
    node = Node.objects.get(name="journal.txt", deleted_at__isnull=True)
    keys = [
        f"{commune}/{digest}"
        for commune, digest in node.current.chunks.values_list("chunk__commune_id", "chunk__digest")
    ]
    assert keys
    # A crash after the journal's sync and before the chunk files reached the disk.
    _crashed(blobs, [(key, blobs.get(key)) for key in keys])
    for key in keys:
        os.unlink(blobs._filename(key))
    running = Running(monkeypatch)  # starts by replaying
    try:
        url = _space(dav_user, commune_a) + "journal.txt"
        answer = requests.get(url, auth=_auth(dav_user), timeout=30)
        assert answer.status_code == 200
        assert answer.content == b"dans le journal"
    finally:
        running.close()


@pytest.mark.django_db
def test_fsck_replays_a_journal_no_writer_holds():
    from clocher.storage.blobstore import local_store
    from clocher.vault import services

    blobs = local_store()
    items = _chunks(9, 3)
    _crashed(blobs, items)
    os.unlink(blobs._filename(items[0][0]))
    report = services.fsck()
    assert report.replayed == 3
    assert blobs.get(items[0][0]) == items[0][1]
    assert _empty(blobs)
    held = ChunkJournal(blobs)  # a running writer's: left alone
    held.put_many(_chunks(9, 1))
    assert services.fsck().replayed == 0
    held.close()


def test_a_second_writer_process_stops_and_says_why(tmp_path):
    from clocher.storage.blobstore import local_store

    held = ChunkJournal(local_store())  # the first writer's
    try:
        with pytest.raises(SystemExit, match="un autre processus d'écriture tourne"):
            writer.serve(tmp_path / "second.sock")
    finally:
        held.close()
