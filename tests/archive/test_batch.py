"""Batch deposits: several documents of a commune deposited at once share one RFC 3161
token over the Merkle root of their SHA-256, each deposit entry carrying its document's
path to that root; each document's proof still stands alone (verify, evidence package
checked offline by openssl and docs/archive_verify.py); a refusal stores nothing."""

from __future__ import annotations

import json
import zipfile
from datetime import date

import pytest
from click.testing import CliRunner
from django.core.exceptions import ValidationError

from clocher.archive import journal, offline, services, tsa
from clocher.archive.models import ArchivedObject, JournalEntry
from clocher.cli import main
from clocher.core.models import AuditEntry
from tests.archive.conftest import ACTOR, pdf, rule
from tests.archive.test_evidence import _offline


def _inputs(*texts: str, data: dict[str, bytes] | None = None) -> list[services.DepositInput]:
    return [
        services.DepositInput(
            f"Arrêté {text}",
            "Arrêté",
            date(2025, 2, 1),
            "Le maire",
            rule("arretes"),
            f"arrete-{n}.pdf",
            (data or {}).get(text, pdf(text)),
        )  # fmt: skip
        for n, text in enumerate(texts)
    ]


def test_a_batch_shares_one_token_over_the_merkle_root(commune_a, archive_dir, db):
    audit_before = AuditEntry.objects.count()
    done = services.deposit_many(ACTOR, commune_a, _inputs("un", "deux", "trois"))
    objects = [d.obj for d in done]
    digests = [o.sha256 for o in objects]
    root = offline.merkle_root(digests)
    assert len({bytes(o.timestamp_token) for o in objects}) == 1
    assert tsa.check_response(bytes(objects[0].timestamp_token), bytes.fromhex(root))
    for n, obj in enumerate(objects):
        proof = services.batch_proof(obj)
        assert proof == {
            "racine": root,
            "chemin": offline.merkle_proof(digests, n),
            "rang": n + 1,
            "documents": 3,
        }
        assert services.verify_object(obj) == []
        assert services.read_document(ACTOR, obj) == pdf(["un", "deux", "trois"][n])
    assert journal.verify().ok
    assert AuditEntry.objects.count() == audit_before + 3
    assert not list(archive_dir.rglob("*.tmp"))  # no temporary file left behind
    # A document deposited alone keeps a token over its own SHA-256.
    alone = services.deposit_many(ACTOR, commune_a, _inputs("seul"))[0].obj
    assert services.batch_proof(alone) is None
    assert tsa.check_response(bytes(alone.timestamp_token), bytes.fromhex(alone.sha256))


def test_a_batch_documents_token_does_not_cover_another_document(commune_a, db):
    """The path proves membership of this SHA-256 only: another document's is refused."""
    first, _ = (d.obj for d in services.deposit_many(ACTOR, commune_a, _inputs("a", "b")))
    other = services.deposit(ACTOR, commune_a, _inputs("c")[0]).obj
    proof = services.batch_proof(first)
    assert offline.root_from_proof(other.sha256, proof["chemin"]) != proof["racine"]


def test_a_refused_document_stores_nothing_and_is_named(commune_a, archive_dir, db):
    entries = JournalEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        services.deposit_many(ACTOR, commune_a, _inputs("un", "vide", data={"vide": b""}))
    assert caught.value.messages == ["arrete-1.pdf : Le fichier est vide : rien à archiver."]
    assert not ArchivedObject.objects.exists() and JournalEntry.objects.count() == entries
    assert not (archive_dir / "blobs").exists()


def test_a_batch_documents_evidence_checks_offline(commune_a, tmp_path, db):
    objects = [d.obj for d in services.deposit_many(ACTOR, commune_a, _inputs("x", "y", "z"))]
    package = tmp_path / "preuve.zip"
    package.write_bytes(services.evidence_package(ACTOR, objects[1]))
    result = _offline(package)
    assert result.returncode == 0, result.stdout + result.stderr
    assert services.verify_package(package) == []
    with zipfile.ZipFile(package) as archive:
        meta = json.loads(archive.read("metadonnees.json"))
        assert meta["horodatage"]["lot"]["racine"] == services.batch_proof(objects[1])["racine"]
        readme = archive.read("LISEZMOI.txt").decode()
        assert f"-digest {meta['horodatage']['lot']['racine']}" in readme

    # The document's path to the root altered in the package: refused, and named.
    forged = tmp_path / "falsifie.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(forged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "journal.json":
                section = json.loads(data)
                path = section["entrees"][0]["data"]["lot"]["chemin"]
                path[0][1] = "00" * 32
                data = json.dumps(section).encode()
            target.writestr(item, data)
    result = _offline(forged)
    assert result.returncode == 1
    assert "lot du dépôt : chemin de Merkle ne menant pas à la racine" in result.stdout


def test_cli_deposits_several_files_as_one_batch(commune_a, tmp_path, db):
    files = []
    for n in range(3):
        path = tmp_path / f"arrete-{n}.pdf"
        path.write_bytes(pdf(f"CLI {n}"))
        files.append(str(path))
    result = CliRunner().invoke(
        main,
        ["archive", "deposit", commune_a.insee, *files, "--title", "Arrêtés de voirie",
         "--kind", "Arrêté", "--date", "2025-02-01", "--author", "Le maire",
         "--rule", "arretes"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    objects = list(ArchivedObject.objects.order_by("pk"))
    assert [o.title for o in objects] == [f"Arrêtés de voirie (arrete-{n}.pdf)" for n in range(3)]
    assert all(services.batch_proof(o)["documents"] == 3 for o in objects)
    assert "3 documents déposés en un lot" in result.output


def test_a_batch_without_syncfs_falls_back_to_one_fsync_per_copy(
    commune_a, archive_dir, monkeypatch, db
):
    """Off Linux (no syncfs), each copy is fsynced before its rename, then directories."""
    import os

    from clocher.storage.blobstore import local

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(local, "_SYNCFS", None)
    monkeypatch.setattr(local.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    objects = [d.obj for d in services.deposit_many(ACTOR, commune_a, _inputs("p", "q"))]
    assert len(synced) >= 2 + 1  # each copy, then at least its directory
    assert [services.read_document(ACTOR, o) for o in objects] == [pdf("p"), pdf("q")]
    assert not list(archive_dir.rglob("*.tmp"))
