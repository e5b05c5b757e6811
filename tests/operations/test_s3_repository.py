"""The backup repository in an S3 bucket of a second site: restic's s3 backend against a
real RADOS Gateway (Debian's radosgw), then a restore on a fresh data dir from it."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from clocher.cli import main
from clocher.operations.services import drill, keys, snapshot
from clocher.storage import blobstore
from clocher.vault import services as vault
from tests.operations.conftest import ACTOR
from tests.operations.test_backup_restore import READ_BACK, read_back
from tests.vault import rgw

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("data_dir")]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    with rgw.running(tmp_path_factory.mktemp("ceph")) as server:
        yield server


def test_backup_to_s3_then_restore_from_it(s3_server, settings, commune_a, tmp_path, fresh):
    settings.BACKUP_S3_ACCESS_KEY = s3_server.access_key
    settings.BACKUP_S3_SECRET_KEY = s3_server.secret_key
    location = f"s3:{s3_server.endpoint}/sauvegardes-{uuid.uuid4().hex[:8]}"
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    vault.write_bytes(ACTOR, root, "arrete.txt", b"arrete municipal", "text/plain")
    files = read_back()

    result = snapshot.take(ACTOR, location)
    assert result.backup.ok
    snapshot.verify(ACTOR, location, percent=100)
    kit = tmp_path / "kit.txt"
    keys.write_kit(keys.current_kit(location), kit)
    assert f"DEPOT: {location}" in kit.read_text()

    fresh.env["CLOCHER_BACKUP_S3_ACCESS_KEY"] = s3_server.access_key
    fresh.env["CLOCHER_BACKUP_S3_SECRET_KEY"] = s3_server.secret_key
    proc = fresh.clocher("restore", "latest", "--kit", str(kit))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert fresh.python(READ_BACK) == files


def test_vault_on_s3_backed_up_incrementally_and_restored_into_a_bucket(
    s3_server, settings, commune_a, tmp_path, fresh
):
    rgw.use_fresh_bucket(settings, s3_server)
    settings.ARCHIVE_S3_BUCKET = f"archives-{uuid.uuid4().hex[:12]}"
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    vault.write_bytes(ACTOR, root, "budget.txt", b"budget primitif 2026", "text/plain")

    first = snapshot.take(ACTOR)
    stored = first.s3["coffre"]["objets"]
    assert stored >= 1 and first.s3["coffre"]["nouveaux"] == stored
    assert first.s3["coffre"]["seau"] == settings.VAULT_S3_BUCKET
    assert first.s3["archives"]["seau"] == settings.ARCHIVE_S3_BUCKET
    # The second backup downloads only the new blob (names are content addresses).
    vault.write_bytes(ACTOR, root, "compte.txt", b"compte administratif 2025", "text/plain")
    second = snapshot.take(ACTOR)
    assert second.s3["coffre"] == {
        "seau": settings.VAULT_S3_BUCKET,
        "objets": stored + 1,
        "nouveaux": 1,
        "retires": 0,
    }
    # The operator reads the same from the command, with the time of each step.
    said = CliRunner().invoke(main, ["backup"])
    assert said.exit_code == 0, said.output
    assert f"Seau S3 {settings.VAULT_S3_BUCKET} (coffre) reflété : {stored + 1} objets, " in (
        said.output.replace("\n", " ")
    )
    assert "Étapes : dépôt" in said.output
    files = read_back()
    kit = tmp_path / "kit.txt"
    keys.write_kit(keys.current_kit(), kit)

    # The second site: the same S3 server software, empty buckets of its own.
    target = f"coffre-restaure-{uuid.uuid4().hex[:8]}"
    fresh.env.update(
        CLOCHER_VAULT_BACKEND="s3",
        CLOCHER_VAULT_S3_ENDPOINT=s3_server.endpoint,
        CLOCHER_VAULT_S3_ACCESS_KEY=s3_server.access_key,
        CLOCHER_VAULT_S3_SECRET_KEY=s3_server.secret_key,
        CLOCHER_VAULT_S3_BUCKET=target,
        CLOCHER_ARCHIVE_S3_BUCKET=f"archives-restaure-{uuid.uuid4().hex[:8]}",
    )
    proc = fresh.clocher("restore", "latest", "--kit", str(kit))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert fresh.python(READ_BACK) == files
    settings.VAULT_S3_BUCKET = target
    assert len(list(blobstore.s3_store().names())) == stored + 1


def test_drill_of_an_s3_platform_serves_its_mirrored_blobs(s3_server, settings, commune_a, agent_a):
    rgw.use_fresh_bucket(settings, s3_server)
    settings.ARCHIVE_S3_BUCKET = f"archives-{uuid.uuid4().hex[:12]}"
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    vault.write_bytes(ACTOR, root, "deliberation.txt", b"deliberation 2026-04", "text/plain")
    snapshot.take(ACTOR)
    in_bucket = set(blobstore.store().names())

    result = drill.run_drill(ACTOR)

    checks = {c["name"]: c for c in result.checks}
    assert result.ok, result.checks
    assert checks["coffre (fsck)"]["ok"]
    assert "identique à la source" in checks["fichier lu en WebDAV"]["detail"]
    # The copy ran on local stores filled from the backup's mirror: the live bucket is as
    # it was.
    assert set(blobstore.store().names()) == in_bucket
