"""Staged files (clocher.core.staging): an upload received by one node, processed by a
task on another (issue 18, several nodes). On S3 (the test radosgw) only sealed parts
reach the bucket; on disk, the shared directory every node mounts."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from clocher.core import staging
from clocher.storage.blobstore import s3_store
from clocher.vault import imports, services, tasks
from clocher.vault.models import DocumentImport, ImportStatus
from tests.vault import rgw
from tests.vault.conftest import ACTOR
from tests.vault.test_imports import tree, write_zip

SECRET = b"Delib\xc3\xa9ration confidentielle " * 1000


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    with rgw.running(tmp_path_factory.mktemp("ceph")) as server:
        yield server


@pytest.fixture(params=["shared-dir", "s3"])
def where(request, settings, tmp_path):
    """Two nodes' data dirs; files are staged in a shared directory, or on S3."""
    settings.DATA_DIR = tmp_path / "node1"
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        rgw.use_fresh_bucket(settings, server)
        settings.STAGING_S3_BUCKET = f"transit-{uuid.uuid4().hex[:12]}"
    else:
        settings.SHARED_DIR = str(tmp_path / "shared")
    return request.param


def _pieces(data: bytes, size: int = 100_000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_write_read_delete_round_trip(where, settings, commune_a, monkeypatch):
    monkeypatch.setattr(staging, "PART_BYTES", 8 * 1024)  # several parts on S3
    key = staging.new_key("imports", ".bin")
    assert staging.write(key, _pieces(SECRET), commune_a) == len(SECRET)
    assert staging.exists(key) and staging.size(key, commune_a) == len(SECRET)
    settings.DATA_DIR = Path(settings.DATA_DIR).parent / "node2"
    assert b"".join(staging.read(key, commune_a)) == SECRET
    with staging.local_copy(key, commune_a) as path:
        assert path.read_bytes() == SECRET
    if where == "s3":
        objects = s3_store(settings.STAGING_S3_BUCKET)
        names = list(objects.names())
        assert len(names) > 2 and all(SECRET[:20] not in objects.get(n) for n in names)
    staging.delete(key)
    assert not staging.exists(key)
    with pytest.raises(FileNotFoundError):
        b"".join(staging.read(key, commune_a))


def test_a_refused_stream_leaves_nothing(where, settings, commune_a):
    key = staging.new_key("imports", ".zip")

    def refused():
        yield b"x" * 1000
        raise imports.ImportRefused("Archive trop volumineuse pour un import.")

    with pytest.raises(imports.ImportRefused):
        staging.write(key, refused(), commune_a)
    assert not staging.exists(key)
    if where == "s3":
        assert not list(s3_store(settings.STAGING_S3_BUCKET).names())
    else:
        assert [p for p in Path(settings.SHARED_DIR).rglob("*") if p.is_file()] == []


def test_s3_part_altered_is_refused(settings, s3_server, commune_a, commune_b):
    rgw.use_fresh_bucket(settings, s3_server)
    settings.STAGING_S3_BUCKET = f"transit-{uuid.uuid4().hex[:12]}"
    key = staging.new_key("exports", ".zip")
    staging.write(key, [b"contenu"], commune_a)
    with pytest.raises(ValueError, match="altéré"):
        b"".join(staging.read(key, commune_b))  # another commune's key does not open it


def test_import_uploaded_on_node1_is_processed_by_a_task_on_node2(
    where, settings, tmp_path, commune_a, agent_a, monkeypatch
):
    root = services.root_of(services.ensure_commune_space(ACTOR, commune_a))
    archive = write_zip(tmp_path / "cle.zip", {"Arrêtés/2024-07.pdf": b"%PDF-1.4 arrete"})
    queued: list[tuple] = []
    task = tasks.import_zip
    monkeypatch.setattr(tasks, "import_zip", SimpleNamespace(enqueue=lambda *a: queued.append(a)))
    with archive.open("rb") as sent:
        job = imports.start_web_import(ACTOR, agent_a, root, "cle.zip", iter(sent.read, b""))
    # Node 1 is another machine: nothing of its data dir is seen by node 2.
    shutil.rmtree(settings.DATA_DIR, ignore_errors=True)
    settings.DATA_DIR = tmp_path / "node2"
    (queued_args,) = queued
    assert task.func(*queued_args) == ImportStatus.DONE
    assert tree(root)["Arrêtés/2024-07.pdf"] == b"%PDF-1.4 arrete"
    assert not staging.exists(DocumentImport.objects.get(pk=job.pk).archive_path)
