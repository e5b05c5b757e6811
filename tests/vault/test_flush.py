"""Small uploads that arrive together share one flush of the file system
(`vault/dav/flush.py`, issue 14); each returns once its own chunks are durable."""

from __future__ import annotations

import threading
import time

from clocher.vault.dav.flush import GroupSink, SharedFlush


class Blobs:
    """A store whose first flush waits until the test lets it go."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.stored: set[str] = set()
        self.release = threading.Event()
        self.fail_next = False

    def exists(self, key: str) -> bool:
        return key in self.stored

    def put_many(self, items):
        items = list(items)
        if not self.batches:
            assert self.release.wait(60)
        if self.fail_next:
            self.fail_next = False
            raise OSError("disque plein")
        self.batches.append([key for key, _ in items])
        self.stored.update(key for key, _ in items)


def _upload(shared: SharedFlush, blobs: Blobs, key: str, errors: list[BaseException]) -> None:
    sink = GroupSink(blobs, shared)
    sink.put(key, b"sealed", sync_directory=False)
    try:
        sink.sync_directories([key])
        assert key in blobs.stored  # durable on return
    except BaseException as exc:
        errors.append(exc)


def _wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_uploads_queued_during_a_flush_share_the_next_one():
    shared, blobs, errors = SharedFlush(), Blobs(), []
    first = threading.Thread(target=_upload, args=(shared, blobs, "1/a", errors))
    first.start()
    _wait_for(lambda: shared._busy)
    others = [
        threading.Thread(target=_upload, args=(shared, blobs, f"1/{n}", errors)) for n in "bcd"
    ]
    for thread in others:
        thread.start()
    _wait_for(lambda: len(shared._queue) == 3)
    blobs.release.set()
    for thread in [first, *others]:
        thread.join(60)
    assert not errors
    assert blobs.batches[0] == ["1/a"]
    assert sorted(blobs.batches[1]) == ["1/b", "1/c", "1/d"]
    assert shared.flushes == 2


def test_a_failed_flush_fails_every_upload_of_its_batch_only():
    shared, blobs, errors = SharedFlush(), Blobs(), []
    blobs.release.set()
    blobs.fail_next = True
    _upload(shared, blobs, "1/a", errors)
    assert len(errors) == 1 and isinstance(errors[0], OSError)
    _upload(shared, blobs, "1/b", errors)
    assert len(errors) == 1 and blobs.stored == {"1/b"}


def test_nothing_to_write_is_no_flush():
    shared, blobs = SharedFlush(), Blobs()
    GroupSink(blobs, shared).sync_directories([])
    assert shared.flushes == 0
