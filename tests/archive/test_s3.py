"""With the vault on S3 (a real Ceph radosgw, tests/vault/rgw.py), archived copies go to
their own bucket, sealed; one altered in the bucket is named by the audit, and the
vault's garbage collector never sees them."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from clocher.archive import store
from clocher.cli import main
from clocher.storage.blobstore import store as vault_store
from clocher.vault import services as vault
from tests.archive.conftest import deposit, pdf
from tests.vault import rgw

pytestmark = [
    pytest.mark.django_db,
]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    with rgw.running(tmp_path_factory.mktemp("ceph")) as server:
        yield server


@pytest.fixture
def s3(settings, s3_server):
    rgw.use_fresh_bucket(settings, s3_server)
    settings.ARCHIVE_S3_BUCKET = f"archives-{uuid.uuid4().hex[:12]}"
    return store.archive_store()


def test_archive_bucket_sealed_audited_and_out_of_the_vault_gc(s3, commune_a):
    intact = deposit(commune_a, title="Arrêté intact", code="arretes", data=pdf("intact"))
    altered = deposit(commune_a, title="Arrêté altéré", code="arretes", data=pdf("altéré"))
    names = sorted(s3.names())
    assert names == sorted([intact.blob_key, altered.blob_key])
    assert all(b"intact" not in s3.get(n) for n in names)  # ciphertext only
    assert list(vault_store().names()) == []  # nothing in the vault's bucket
    vault.collect_garbage(remove=True, grace_seconds=0)
    assert sorted(s3.names()) == names

    sealed = bytearray(s3.get(altered.blob_key))
    sealed[30] ^= 0xFF
    s3.put(altered.blob_key, bytes(sealed))
    result = CliRunner().invoke(main, ["archive", "audit"])
    assert result.exit_code == 1
    assert altered.reference in result.output and intact.reference not in result.output
