"""The small files' writer process (`vault/dav/writer.py`, issue 14): new small files
PUT over HTTP are stored and committed by the writer (the real one, on the data dir's
socket, here in a thread of the test), each request answered with its own node; a
refusal is the file's own answer; without a writer, or once it has gone, the file
server commits in its own process; a writer lost after a file was sent is a 503 and
nothing half-made."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clocher.accounts.models import AppPassword
from clocher.core import audit
from clocher.core.models import AuditEntry
from clocher.storage.blobstore import local_store, store
from clocher.storage.blobstore.journal import ChunkJournal
from clocher.storage.chunks import ChunkWriter
from clocher.vault import services
from clocher.vault.dav import writer
from clocher.vault.dav.flush import GroupSink
from clocher.vault.models import Node, Space
from tests.vault.conftest import ACTOR
from tests.vault.test_fast import _auth, _space, _warm

pytestmark = pytest.mark.django_db(transaction=True)


class Running:
    """A writer serving the data dir's socket from a thread, counting the files it took
    (`written`, counted before it answers them)."""

    def __init__(self, monkeypatch) -> None:
        self.writer = writer.Writer(writer.socket_path())
        self.written = 0
        real = writer.write

        def counted(pending, *rest):
            self.written += len(pending)
            return real(pending, *rest)

        monkeypatch.setattr(writer, "write", counted)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                self.writer.step(timeout=0.05)
        except SystemExit:
            pass  # a crash (the last test's)
        finally:
            self.writer.close()  # as a crash does: every connection closed

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.fixture
def running(monkeypatch) -> Iterator[Running]:
    monkeypatch.setattr(writer, "_down_until", 0.0)  # no earlier test's failed connect
    one = Running(monkeypatch)
    yield one
    one.close()


def _put(dav_user, commune, name: str, content: bytes) -> requests.Response:
    url = _space(dav_user, commune) + quote(name)
    return requests.put(url, data=content, auth=_auth(dav_user), timeout=60)


def test_small_puts_are_committed_by_the_writer(dav_user, commune_a, running):
    _warm(dav_user, commune_a)
    used = Space.objects.get(commune=commune_a, kind="commune").used_bytes
    files = [(f"w{n}.txt", f"contenu {n} ".encode() * (n + 1)) for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda f: _put(dav_user, commune_a, *f), files))
    assert [a.status_code for a in answers] == [201] * 8
    assert running.written == 8  # all of them through the writer
    assert writer.listening(writer.socket_path())
    url, auth = _space(dav_user, commune_a), _auth(dav_user)
    for (name, content), answer in zip(files, answers, strict=True):
        node = Node.objects.get(name=name, deleted_at__isnull=True)
        assert answer.headers["OC-FileId"] == str(node.pk)
        assert answer.headers["ETag"] == f'"{node.etag}"'
        assert requests.get(url + name, auth=auth, timeout=30).content == content
    space = Space.objects.get(commune=commune_a, kind="commune")
    assert space.used_bytes == used + sum(len(c) for _, c in files)
    created = AuditEntry.objects.filter(action="vault.file_created")
    assert sorted(e.target for e in created) == [f"/w{n}.txt" for n in range(8)]
    assert {e.actor_id for e in created} == {dav_user.user.pk}
    assert {e.commune_insee for e in created} == {commune_a.insee}
    assert audit.verify().ok


def test_the_writers_kept_objects_follow_a_renamed_folder(dav_user, commune_a, running):
    """The writer keeps the folders it built from one batch to the next: a folder
    renamed (or moved) in between is built afresh, with the folders below it."""
    _warm(dav_user, commune_a)
    url, auth = _space(dav_user, commune_a), _auth(dav_user)
    for folder in ("a/", "a/b/"):
        assert requests.request("MKCOL", url + folder, auth=auth, timeout=30).status_code == 201
    assert _put(dav_user, commune_a, "a/b/un.txt", b"1").status_code == 201
    moved = requests.request(
        "MOVE", url + "a/", auth=auth, headers={"Destination": url + "z/"}, timeout=30
    )
    assert moved.status_code == 201
    assert _put(dav_user, commune_a, "z/b/deux.txt", b"2").status_code == 201
    assert running.written == 2
    targets = AuditEntry.objects.filter(action="vault.file_created").order_by("seq")
    assert [e.target for e in targets][-2:] == ["/a/b/un.txt", "/z/b/deux.txt"]
    node = Node.objects.get(name="deux.txt", deleted_at__isnull=True)
    assert node.parent.name == "b" and node.parent.parent.name == "z"


def test_a_file_over_quota_is_refused_by_the_writer(dav_user, commune_a, running):
    _warm(dav_user, commune_a)
    used = Space.objects.get(commune=commune_a, kind="commune").used_bytes
    commune_a.quota_storage_bytes = used + 50
    commune_a.save(update_fields=["quota_storage_bytes"])
    answer = _put(dav_user, commune_a, "gros.bin", b"g" * 100)
    assert answer.status_code == 507
    assert "Quota de stockage de la commune atteint" in answer.text
    assert running.written == 1
    assert not Node.objects.filter(name="gros.bin").exists()
    assert _put(dav_user, commune_a, "petit.bin", b"p" * 10).status_code == 201


def test_without_the_writer_the_file_server_commits_itself(dav_user, commune_a, running):
    _warm(dav_user, commune_a)
    assert _put(dav_user, commune_a, "avant.txt", b"avant").status_code == 201
    assert running.written == 1
    running.close()  # stopped (or restarting): the next upload meets a closed socket
    assert not writer.listening(writer.socket_path())
    answer = _put(dav_user, commune_a, "apres.txt", b"apres")
    assert answer.status_code == 201
    url, auth = _space(dav_user, commune_a), _auth(dav_user)
    assert requests.get(url + "apres.txt", auth=auth, timeout=30).content == b"apres"
    assert running.written == 1


def test_a_writer_lost_with_the_file_is_a_503_and_nothing_half_made(
    dav_user, commune_a, running, monkeypatch
):
    _warm(dav_user, commune_a)
    assert _put(dav_user, commune_a, "avant.txt", b"avant").status_code == 201

    def crash(pending, *rest):
        raise SystemExit("écrivain arrêté")

    monkeypatch.setattr(writer, "write", crash)
    answer = _put(dav_user, commune_a, "perdu.txt", b"perdu")
    assert answer.status_code == 503
    assert not Node.objects.filter(name="perdu.txt").exists()
    # The client sends it again: the file server, without its writer, commits it.
    assert _put(dav_user, commune_a, "perdu.txt", b"perdu").status_code == 201
    assert Node.objects.get(name="perdu.txt", deleted_at__isnull=True).versions.count() == 1


def test_the_writer_checks_the_folder_of_a_file_read_before_it(dav_user, commune_a, running):
    """A small file goes to the writer before its folder is read: the writer's check
    lets through only a new name in a folder of the person's; for the rest the answer
    is the one WsgiDAV or the file server gives without a writer."""
    _warm(dav_user, commune_a)
    url, auth = _space(dav_user, commune_a), _auth(dav_user)
    assert requests.request("MKCOL", url + "dossier/", auth=auth, timeout=30).status_code == 201
    assert _put(dav_user, commune_a, "dossier/un.txt", b"un").status_code == 201
    assert running.written == 1
    again = _put(dav_user, commune_a, "dossier/un.txt", b"un, second")  # a name taken
    assert again.status_code == 204
    node = Node.objects.get(name="un.txt", deleted_at__isnull=True)
    assert node.versions.count() == 2 and again.headers["ETag"] == f'"{node.etag}"'
    assert requests.get(url + "dossier/un.txt", auth=auth, timeout=30).content == b"un, second"
    assert _put(dav_user, commune_a, "absent/deux.txt", b"2").status_code == 409
    assert _put(dav_user, commune_a, "dossier", b"3").status_code == 405  # a folder's name
    assert not Node.objects.filter(name__in=["deux.txt"]).exists()
    assert Node.objects.get(name="dossier", deleted_at__isnull=True).is_folder
    body = (
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
    )
    lock = requests.request("LOCK", url + "verrou.txt", data=body, auth=auth, timeout=30)
    assert lock.status_code in (200, 201)
    assert _put(dav_user, commune_a, "verrou.txt", b"v").status_code == 423
    token = {"If": f"({lock.headers['Lock-Token']})"}
    answer = requests.put(url + "verrou.txt", data=b"v", auth=auth, headers=token, timeout=30)
    assert answer.status_code in (201, 204)
    assert requests.get(url + "verrou.txt", auth=auth, timeout=30).content == b"v"
    AppPassword.objects.filter(user=dav_user.user).update(revoked_at="2026-01-01T00:00:00Z")
    assert _put(dav_user, commune_a, "dossier/trois.txt", b"3").status_code == 401
    assert not Node.objects.filter(name="trois.txt").exists()
    assert audit.verify().ok


# ---------------------------------------------------------------------------------------
# The writer's batch, called as its loop calls it (`writer.write`), with its journal.


def _sent(
    space: Space, name: str, content: bytes, check: tuple[Any, ...] | None = None
) -> writer._Pending:
    """A new small file at `space`'s root as a worker hands it over (its sealed chunks
    not yet stored), read back as the writer reads it off the socket: with its folder's
    chain, or with `check` (the person's access: then the file's name and the locks'
    prefix are added, as `dav.fast` sends them)."""
    sink = GroupSink(store())
    upload = ChunkWriter(space.commune, blobs=sink)
    upload.write(content)
    upload.finish(sync_directories=False)
    if check is None:
        root = services.root_of(space)
        new = writer.SmallFile(space, ((root.pk, root.name),), name, upload, None, ACTOR, "")
    else:
        whole = (*check, "/verrous/", name)
        new = writer.SmallFile(space, None, name, upload, None, ACTOR, "", check=whole)
    header = json.loads(json.dumps(writer._request(new, sink.pending)))
    return writer._Pending(None, header, b"".join(sink.pending.values()))


@pytest.fixture
def journal() -> Iterator[ChunkJournal]:
    opened = ChunkJournal(local_store())
    yield opened
    opened.checkpoint()
    opened.close()


def test_a_batch_of_two_spaces_is_committed_without_a_savepoint(commune_a, commune_b, journal):
    spaces = [services.ensure_commune_space(ACTOR, c) for c in (commune_a, commune_b)]
    pending = [_sent(s, f"f{n}.txt", f"{s.pk}:{n}".encode()) for s in spaces for n in range(2)]
    with CaptureQueriesContext(connection) as context:
        answers = writer.write(pending, journal)
    assert not [q["sql"] for q in context.captured_queries if "SAVEPOINT" in q["sql"]]
    for space, got in zip(spaces, (answers[:2], answers[2:]), strict=True):
        nodes = Node.objects.filter(space=space, is_folder=False).order_by("name")
        assert [a["id"] for a in got] == [n.pk for n in nodes]
        assert [a["etag"] for a in got] == [n.etag for n in nodes]
        assert [b"".join(services.iter_content(n)) for n in nodes] == [
            f"{space.pk}:{n}".encode() for n in range(2)
        ]
    assert audit.verify().ok


def test_a_refused_group_is_written_again_space_by_space(commune_a, commune_b, journal):
    """One space's group passes its quota: the batch is rolled back and written again
    with a savepoint a space, as `save_each` does: the other space's files all kept,
    of this one's what fits (each alone), the rest answered with its own error."""
    spaces = [services.ensure_commune_space(ACTOR, c) for c in (commune_a, commune_b)]
    commune_b.quota_storage_bytes = 15
    commune_b.save(update_fields=["quota_storage_bytes"])
    pending = [_sent(s, f"f{n}.txt", b"x" * 10 + b"%d!" % n) for s in spaces for n in range(2)]
    answers = writer.write(pending, journal)
    assert [sorted(a) for a in answers] == [["etag", "id"]] * 3 + [["error", "message"]]
    assert "Quota" in answers[3]["message"]
    kept = Node.objects.filter(is_folder=False)
    assert sorted((n.space_id, n.name) for n in kept) == [
        (spaces[0].pk, "f0.txt"), (spaces[0].pk, "f1.txt"), (spaces[1].pk, "f0.txt"),
    ]  # fmt: skip
    assert Space.objects.get(pk=spaces[1].pk).used_bytes == 12
    created = AuditEntry.objects.filter(action="vault.file_created")
    assert created.count() == 3
    assert audit.verify().ok


def _access(dav_user, space: Space) -> tuple[Any, ...]:
    """The person's access to `space` as a worker sends it (`lookups.FOLDER.checked`)."""
    password = AppPassword.objects.get(user=dav_user.user)
    user = dav_user.user
    return (password.pk, user.pk, user.email, space.name, space.commune.name, space.pk)


def test_the_writers_check_takes_new_names_of_the_persons_own_folder(dav_user, commune_a, journal):
    """One check for the batch's files of one folder: a name taken is declined with the
    folder found (the worker saves a version), the others written."""
    space = Space.objects.get(commune=commune_a, kind="commune")
    assert writer.write([_sent(space, "pris.txt", b"avant")], journal)[0]["id"]
    access = _access(dav_user, space)
    pending = [_sent(space, f"{n}.txt", n.encode(), access) for n in ("pris", "a", "b", "c")]
    answers = writer.write(pending, journal)
    root = services.root_of(space)
    assert answers[0] == {
        "declined": {"chain": ((root.pk, root.name),), "member": False, "locked": False}
    }
    made = Node.objects.filter(is_folder=False, deleted_at__isnull=True)
    assert sorted(n.name for n in made) == ["a.txt", "b.txt", "c.txt", "pris.txt"]
    for name, answer in zip(("a", "b", "c"), answers[1:], strict=True):
        node = made.get(name=f"{name}.txt")
        assert answer == {"id": node.pk, "etag": node.etag}
    assert made.get(name="pris.txt").versions.count() == 1


def test_the_writers_check_declines_another_communes_space(
    dav_user, dav_user_b, commune_a, commune_b, journal
):
    """The access checked by the writer is the person's: another commune's space, by
    its id or by its names, is declined as not found, and nothing of it stored."""
    space_a = Space.objects.get(commune=commune_a, kind="commune")
    space_b = Space.objects.get(commune=commune_b, kind="commune")
    own = _access(dav_user, space_a)
    theirs = (*own[:3], space_b.name, space_b.commune.name, space_b.pk)
    by_id = (*own[:5], space_b.pk)
    stranger = _access(dav_user_b, space_b)[:3] + own[3:]
    pending = [
        _sent(space_b, "intrus.txt", b"x", theirs),
        _sent(space_b, "intrus2.txt", b"y", by_id),
        _sent(space_a, "intrus3.txt", b"z", stranger),
    ]
    assert writer.write(pending, journal) == [{"declined": None}] * 3
    assert not Node.objects.filter(is_folder=False).exists()
    keys = [key for one in pending for key, _ in one.header["blobs"]]
    assert not any(store().exists(key) for key in keys)  # their chunks left unnamed
    assert not [p for p in local_store().root.rglob("*") if p.name.endswith(".tmp")]
