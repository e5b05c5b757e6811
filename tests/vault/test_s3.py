"""The S3 backend against a real S3 server: Ceph's RADOS Gateway from Debian, on a
single-node cluster the tests start (tests/vault/rgw.py). Only ciphertext reaches the
bucket; dedup stays within a commune; fsck names an object altered in the bucket; the
DAV endpoint reads and writes through it."""

from __future__ import annotations

import hashlib
import os
import uuid
from urllib.parse import quote

import pytest
import requests
from click.testing import CliRunner

from clocher.cli import main
from clocher.core.models import AuditEntry
from clocher.storage.blobstore import local_store, s3_store, store
from clocher.vault import services
from tests.vault import rgw
from tests.vault.conftest import ACTOR, alter_last_byte

pytestmark = [
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    with rgw.running(tmp_path_factory.mktemp("ceph")) as server:
        yield server


@pytest.fixture
def s3(settings, s3_server):
    rgw.use_fresh_bucket(settings, s3_server)
    return store()


def _objects(s3) -> dict[str, bytes]:
    return {name: s3.get(name) for name in s3.names()}


def test_content_reaches_the_bucket_sealed_and_dedups_per_commune(s3, commune_a, commune_b):
    root_a = services.root_of(services.ensure_commune_space(ACTOR, commune_a))
    root_b = services.root_of(services.ensure_commune_space(ACTOR, commune_b))
    secret = b"Delib\xe9ration secr\xe8te du conseil municipal. " * 50_000  # ~2.4 MB
    one = services.write_bytes(ACTOR, root_a, "délibération.txt", secret)
    services.write_bytes(ACTOR, root_a, "copie.txt", secret)
    services.write_bytes(ACTOR, root_b, "même contenu.txt", secret)
    objects = _objects(s3)
    assert len([k for k in objects if k.startswith(f"{commune_a.pk}/")]) == 1  # dedup in A
    assert len([k for k in objects if k.startswith(f"{commune_b.pk}/")]) == 1  # not across
    assert all(b"secr" not in data for data in objects.values())
    assert b"".join(services.iter_content(one)) == secret
    report = services.fsck()
    assert report.ok and report.checked_chunks == 2


def test_fsck_names_an_object_altered_in_the_bucket(s3, commune_a):
    root = services.root_of(services.ensure_commune_space(ACTOR, commune_a))
    services.write_bytes(ACTOR, root, "arrêté.pdf", b"%PDF arr\xeat\xe9 " * 1000)
    (name,) = list(s3.names())
    sealed = bytearray(s3.get(name))
    sealed[40] ^= 0xFF
    s3.put(name, bytes(sealed))
    report = services.fsck()
    assert not report.ok and any(name in problem for problem in report.problems)
    s3.put(f"{commune_a.pk}/{'0' * 64}", b"orphelin")
    assert services.fsck(gc=True, grace_seconds=0).removed == 1
    assert f"{commune_a.pk}/{'0' * 64}" not in set(s3.names())


def test_webdav_through_the_s3_backend(s3, dav_user, commune_a):
    data = os.urandom(9 * 1024 * 1024 + 17)  # three 4 MiB chunks
    url = f"{dav_user.root}{quote(commune_a.name)}/plan.bin"
    auth = (dav_user.user.email, dav_user.password)
    assert requests.put(url, data=data, auth=auth, timeout=120).status_code == 201
    back = requests.get(url, auth=auth, timeout=120)
    assert hashlib.sha256(back.content).digest() == hashlib.sha256(data).digest()
    part = requests.get(url, auth=auth, headers={"Range": "bytes=4194300-4194310"}, timeout=60)
    assert part.status_code == 206 and part.content == data[4194300:4194311]
    assert len(list(s3.names())) == 3


def test_clocher_check_reports_the_bucket(s3, settings):
    from clocher.vault.hooks import blob_store

    healthy = blob_store()
    assert healthy.ok and settings.VAULT_S3_BUCKET in healthy.address
    settings.VAULT_S3_SECRET_KEY = "mauvaise-clé"
    settings.VAULT_S3_BUCKET = "autre-coffre"
    broken = blob_store()
    assert not broken.ok and "s3" in broken.detail


def test_migrate_to_s3_copies_verifies_and_resumes(settings, s3_server, commune_a, commune_b):
    """Local first (the default), then the chunks copied to the bucket, commune by
    commune, then the switch: everything reads back, fsck is clean on the bucket."""
    root_a = services.root_of(services.ensure_commune_space(ACTOR, commune_a))
    root_b = services.root_of(services.ensure_commune_space(ACTOR, commune_b))
    settings.VAULT_CHUNK_BYTES = 64 * 1024
    content_a = os.urandom(300 * 1024)  # five chunks
    content_b = os.urandom(70 * 1024)  # two chunks
    file_a = services.write_bytes(ACTOR, root_a, "registre.pdf", content_a)
    file_b = services.write_bytes(ACTOR, root_b, "budget.ods", content_b)
    settings.VAULT_S3_ENDPOINT = s3_server.endpoint
    settings.VAULT_S3_ACCESS_KEY = s3_server.access_key
    settings.VAULT_S3_SECRET_KEY = s3_server.secret_key
    settings.VAULT_S3_BUCKET = f"migration-{uuid.uuid4().hex[:12]}"
    bucket, local = s3_store(), local_store()

    first = CliRunner().invoke(main, ["vault", "migrate-to-s3", commune_a.insee])
    assert first.exit_code == 0, first.output
    assert "5 blocs copiés" in first.output
    names = set(bucket.names())
    assert len(names) == 5 and all(n.startswith(f"{commune_a.pk}/") for n in names)
    assert all(bucket.get(n) == local.get(n) for n in names)  # sealed bytes, as stored
    assert AuditEntry.objects.filter(action="vault.chunks_copied_to_s3").count() == 1

    # Interrupted or damaged copies: one object lost, one truncated in the bucket.
    lost, damaged = sorted(names)[:2]
    bucket.delete(lost)
    bucket.put(damaged, bucket.get(damaged)[:-10])
    again = CliRunner().invoke(main, ["vault", "migrate-to-s3"])
    assert again.exit_code == 0, again.output
    assert "4 blocs copiés" in again.output and "3 déjà dans le seau" in again.output
    assert len(set(bucket.names())) == 7

    # A chunk altered on the local disk is reported, never copied over a good one.
    settings.VAULT_S3_BUCKET = f"migration-{uuid.uuid4().hex[:12]}"
    fresh = s3_store()
    victim = sorted(names)[0]
    path = local._path(victim)
    alter_last_byte(path)
    refused = CliRunner().invoke(main, ["vault", "migrate-to-s3", commune_a.insee])
    assert refused.exit_code == 1 and "altéré" in refused.output
    assert victim not in set(fresh.names()) and len(set(fresh.names())) == 4
    settings.VAULT_S3_BUCKET = bucket.bucket

    settings.VAULT_BACKEND = "s3"
    assert store().bucket == bucket.bucket
    assert b"".join(services.iter_content(file_a)) == content_a
    assert b"".join(services.iter_content(file_b)) == content_b
    report = services.fsck()
    assert report.ok and report.checked_chunks == 7 and not report.orphans
