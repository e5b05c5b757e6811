"""Vault services: encryption at rest, dedup, quotas, trash, versions, names, fsck."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.core.exceptions import ValidationError
from django.db import connection

from clocher.cli import main
from clocher.storage import crypto
from clocher.storage.blobstore import store
from clocher.storage.chunks import ChunkWriter
from clocher.vault import services
from clocher.vault.models import Chunk, CommuneUsage, Space
from tests.vault.conftest import ACTOR, alter_last_byte

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root_a(commune_a):
    return services.root_of(services.ensure_commune_space(ACTOR, commune_a))


@pytest.fixture
def small_chunks(settings):
    settings.VAULT_CHUNK_BYTES = 1024


def blob_files(settings) -> list[Path]:
    return [p for p in (Path(settings.VAULT_DIR) / "blobs").rglob("*") if p.is_file()]


def test_content_round_trips_encrypted_in_chunks(root_a, small_chunks, settings):
    data = b"Deliberation du conseil municipal. " * 200  # 7,000 bytes: 7 chunks
    node = services.write_bytes(ACTOR, root_a, "délib.txt", data)
    assert b"".join(services.iter_content(node)) == data
    assert node.current.chunks.count() == 7
    for path in blob_files(settings):
        assert b"Deliberation" not in path.read_bytes()  # sealed at rest
    reader = services.open_file(node)
    reader.seek(1020)
    assert reader.read(10) == data[1020:1030]  # a read across two chunks


def test_dedup_within_a_commune_never_across(root_a, commune_b, small_chunks):
    root_b = services.root_of(services.ensure_commune_space(ACTOR, commune_b))
    data = b"x" * 3000
    services.write_bytes(ACTOR, root_a, "un.bin", data)
    services.write_bytes(ACTOR, root_a, "deux.bin", data)
    services.write_bytes(ACTOR, root_b, "trois.bin", data)
    a_chunks = Chunk.objects.filter(commune=root_a.space.commune)
    b_chunks = Chunk.objects.filter(commune=commune_b)
    assert a_chunks.count() == 2  # "x"*1024 twice the same, then the 952-byte tail
    assert b_chunks.count() == 2
    assert not set(a_chunks.values_list("digest", flat=True)) & set(
        b_chunks.values_list("digest", flat=True)
    )


def test_quota_refuses_and_counts_nothing(root_a, commune_a):
    commune_a.quota_storage_bytes = 100
    commune_a.save()
    services.write_bytes(ACTOR, root_a, "petit.txt", b"a" * 60)
    with pytest.raises(services.QuotaExceeded):
        services.write_bytes(ACTOR, root_a, "gros.txt", b"b" * 60)
    assert services.child(root_a, "gros.txt") is None
    assert CommuneUsage.objects.get(commune=commune_a).used_bytes == 60


def test_concurrent_uploads_never_exceed_the_quota(root_a, commune_a):
    if connection.vendor == "sqlite":
        pass  # IMMEDIATE transactions: writers queue; the quota check still decides
    commune_a.quota_storage_bytes = 1000
    commune_a.save()
    results: list[str] = []

    def upload(name: str) -> None:
        try:
            services.write_bytes(ACTOR, services.root_of(root_a.space), name, b"z" * 600)
            results.append("ok")
        except services.QuotaExceeded:
            results.append("quota")
        except Exception as exc:  # noqa: BLE001 - shown in the assertion below
            results.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(f"f{i}.bin",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok", "quota", "quota", "quota"]
    assert CommuneUsage.objects.get(commune=commune_a).used_bytes == 600


def test_concurrent_uploads_into_one_folder_all_succeed(root_a):
    """Issue 14: on PostgreSQL, uploads into one folder each rewrite the ETags of the
    same folders; the rows were locked in the order found on disk, and concurrent PUTs
    deadlocked (500 in the small-files bench). They are now locked in id order."""
    folder = services.create_folder(ACTOR, root_a, "partagé")
    space = root_a.space
    errors: list[str] = []

    def upload(worker: int) -> None:
        try:
            for i in range(15):
                parent = services.lookup(space, ["partagé"])
                assert parent is not None
                services.write_bytes(ACTOR, parent, f"w{worker}-{i}.txt", b"x" * (i + 1))
        except Exception as exc:  # noqa: BLE001 - shown in the assertion below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(services.children(folder)) == 90
    assert Space.objects.get(pk=space.pk).used_bytes == 6 * sum(range(1, 16))


def test_trash_restore_purge_and_versions(root_a, commune_a):
    node = services.write_bytes(ACTOR, root_a, "budget.ods", b"v1")
    services.write_bytes(ACTOR, root_a, "budget.ods", b"version 2")
    assert [v.size for v in services.versions(node)] == [9, 2]
    services.restore_version(ACTOR, node, services.versions(node)[1])
    node.refresh_from_db()
    assert b"".join(services.iter_content(node)) == b"v1"
    services.trash(ACTOR, node)
    assert services.child(root_a, "budget.ods") is None
    services.write_bytes(ACTOR, root_a, "budget.ods", b"nouveau")
    restored = services.restore(ACTOR, node)
    assert restored.name == "budget (restauré 2).ods"
    used = CommuneUsage.objects.get(commune=commune_a).used_bytes
    services.trash(ACTOR, restored)
    freed = services.purge(ACTOR, restored)
    assert freed == 2 + 9 + 2
    assert CommuneUsage.objects.get(commune=commune_a).used_bytes == used - freed


@pytest.mark.parametrize(
    "name",
    [
        "..",
        ".",
        "a/b",
        "a\\b",
        "nul\x00",
        "x" * 256,
        "CON",
        "prn.txt",
        "fin.",
        "fin ",
        "facture\u202efdp.exe",
        "",
    ],
)
def test_hostile_names_are_refused(root_a, name):
    with pytest.raises(ValidationError):
        services.create_folder(ACTOR, root_a, name)


def test_nfd_and_nfc_are_the_same_name(root_a):
    services.create_folder(ACTOR, root_a, "Ecole\u0301")  # NFD é
    with pytest.raises(services.NameConflict):
        services.create_folder(ACTOR, root_a, "Ecol\u00e9")  # NFC é
    assert services.child(root_a, "Ecole\u0301") is not None


def test_move_into_itself_is_refused(root_a):
    folder = services.create_folder(ACTOR, root_a, "A")
    inner = services.create_folder(ACTOR, folder, "B")
    with pytest.raises(ValidationError):
        services.move(ACTOR, folder, inner, "A")


def test_fsck_finds_tampering_and_loss_then_gc_removes_orphans(root_a, settings, small_chunks):
    services.write_bytes(ACTOR, root_a, "a.txt", b"a" * 2000)
    assert services.fsck().ok
    files = sorted(blob_files(settings))
    alter_last_byte(files[0])
    files[1].unlink()
    report = services.fsck()
    assert not report.ok and len(report.problems) >= 2
    runner = CliRunner()
    result = runner.invoke(main, ["vault", "fsck"])
    assert result.exit_code == 1 and "illisible" in result.output
    # An interrupted upload: chunks stored, no version.
    upload = ChunkWriter(root_a.space.commune)
    upload.write(b"jamais fini" * 300)
    upload.discard()  # the request ends without a version
    orphans = services.fsck(gc=True, grace_seconds=0)
    assert orphans.removed >= 1


def test_master_key_rotation_rewraps_keys_not_data(root_a, settings):
    node = services.write_bytes(ACTOR, root_a, "secret.txt", b"contenu")
    before = sorted(p.read_bytes() for p in blob_files(settings))
    new_key = b"k" * 32
    assert crypto.rotate_master_key(new_key) == 1
    import base64

    settings.VAULT_MASTER_KEY = base64.b64encode(new_key).decode()
    assert b"".join(services.iter_content(node)) == b"contenu"
    assert sorted(p.read_bytes() for p in blob_files(settings)) == before


def test_data_key_is_read_once_per_process_and_again_after_a_rotation(root_a, settings):
    """Issue 14: downloads and uploads no longer read and unwrap the commune's data key
    each time; a new master key is a new cache entry (a wrong one still opens nothing)."""
    import base64

    from cryptography.exceptions import InvalidTag
    from django.test.utils import CaptureQueriesContext

    commune = root_a.space.commune
    first = crypto.data_key(commune)
    with CaptureQueriesContext(connection) as queries:
        assert crypto.data_key(commune) == first
    assert len(queries) == 0
    new_key = b"n" * 32
    assert crypto.rotate_master_key(new_key) == 1
    settings.VAULT_MASTER_KEY = base64.b64encode(new_key).decode()
    with CaptureQueriesContext(connection) as queries:
        assert crypto.data_key(commune) == first
    assert len(queries) == 1
    settings.VAULT_MASTER_KEY = base64.b64encode(b"w" * 32).decode()
    with pytest.raises(InvalidTag):
        crypto.data_key(commune)


def test_master_key_file_is_read_again_only_when_it_changes(root_a, settings, monkeypatch):
    """Issue 14: the master key file was read and decoded on every download; it is read
    again when the file is replaced (a restore writes a new file), and a wrong new key
    still opens nothing."""
    import base64
    import os

    from cryptography.exceptions import InvalidTag

    settings.VAULT_MASTER_KEY = ""
    commune = root_a.space.commune
    first = crypto.data_key(commune)
    with monkeypatch.context() as patched:
        patched.setattr(crypto, "load_master_key", lambda: pytest.fail("read again"))
        assert crypto.data_key(commune) == first

    def replace_file(key: bytes) -> None:
        path = crypto.master_key_path()
        aside = path.with_name("master.key.new")
        aside.write_bytes(base64.b64encode(key))
        os.replace(aside, path)

    with monkeypatch.context() as patched:  # within the second: not even a stat
        patched.setattr(crypto.os, "stat", lambda *a: pytest.fail("looked at again"))
        assert crypto.data_key(commune) == first
    monkeypatch.setattr(crypto, "MASTER_RECHECK_SECONDS", 0.0)  # the second has passed
    new_key = b"m" * 32
    assert crypto.rotate_master_key(new_key) == 1
    replace_file(new_key)
    assert crypto.load_master_key() == new_key
    assert crypto.data_key(commune) == first
    replace_file(b"w" * 32)
    with pytest.raises(InvalidTag):
        crypto.data_key(commune)


def test_a_rotation_within_the_second_is_read_at_once(root_a, settings):
    """The master key file is looked at once a second; a data key wrapped by a newer
    master key than the one remembered makes it read again at once."""
    import base64

    settings.VAULT_MASTER_KEY = ""
    commune = root_a.space.commune
    first = crypto.data_key(commune)
    new_key = b"r" * 32
    assert crypto.rotate_master_key(new_key) == 1
    crypto.master_key_path().write_bytes(base64.b64encode(new_key))
    crypto._data_keys.clear()  # another commune's first download, say
    assert crypto.data_key(commune) == first


def test_lookup_finds_a_path_in_one_query_as_the_walk_does(root_a):
    """Issue 14: a DAV request resolves its path with one query (it was one per level),
    with every folder up to the root loaded; trashed nodes and files are no folders."""
    from django.test.utils import CaptureQueriesContext

    a = services.create_folder(ACTOR, root_a, "Délibérations")
    b = services.create_folder(ACTOR, a, "2026")
    node = services.write_bytes(ACTOR, b, "conseil.txt", b"contenu")
    gone = services.write_bytes(ACTOR, a, "retiré.txt", b"x")
    services.trash(ACTOR, gone)
    space = root_a.space
    with CaptureQueriesContext(connection) as queries:
        found = services.lookup(space, ["Délibérations", "2026", "conseil.txt"])
        assert found is not None and found.pk == node.pk
        assert services.path_of(found) == "/Délibérations/2026/conseil.txt"
        assert found.current is not None and found.current.size == len(b"contenu")
    assert len(queries) == 1
    assert services.lookup(space, ["Délibérations", "2026"]).pk == b.pk
    assert services.lookup(space, []).pk == root_a.pk
    assert services.lookup(space, ["Délibérations", "retiré.txt"]) is None
    assert services.lookup(space, ["Délibérations", "2026", "conseil.txt", "x"]) is None
    assert services.lookup(space, ["2026", "conseil.txt"]) is None
    for names in (["Délibérations", "2026", "conseil.txt"], ["Délibérations", "absent"]):
        walked = services.walk(services.root_of(space), names)
        looked = services.lookup(space, names)
        assert (walked and walked.pk) == (looked and looked.pk)


def test_cli_usage(root_a, commune_a):
    services.write_bytes(ACTOR, root_a, "a.txt", b"a" * 1500)
    result = CliRunner().invoke(main, ["vault", "usage", commune_a.insee])
    assert result.exit_code == 0, result.output
    assert "1.5" in result.output or "1,5" in result.output
    assert Space.objects.filter(commune=commune_a).count() >= 1
    assert store().exists(f"{commune_a.pk}/{Chunk.objects.first().digest}")


def test_housekeeping_drops_abandoned_chunked_uploads(admin_a, settings):
    import io
    from datetime import timedelta

    from django.utils import timezone

    from clocher.vault import chunked_uploads
    from clocher.vault.models import UploadSession

    fresh = chunked_uploads.open_session(admin_a, "en-cours")
    old = chunked_uploads.open_session(admin_a, "abandonne")
    chunked_uploads.write_part(old, "1", io.BytesIO(b"morceau"), 7)
    folder = settings.VAULT_DIR / "uploads" / str(old.pk)
    assert (folder / "1").exists() and b"morceau" not in (folder / "1").read_bytes()
    UploadSession.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    result = CliRunner().invoke(main, ["vault", "housekeeping"])
    assert result.exit_code == 0, result.output
    assert "envois abandonnés : 1" in result.output
    assert list(UploadSession.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not folder.exists()
