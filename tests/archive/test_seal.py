"""Deposit and seal: fingerprints, format, write-once copy, RFC 3161 token that the
standard `openssl ts -verify` accepts for the document and rejects for another."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from clocher.archive import journal, store, tsa
from clocher.archive.models import JournalEntry
from tests.archive.conftest import deposit, pdf

pytestmark = pytest.mark.django_db


def openssl_verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "ts", "-verify", *args], capture_output=True, text=True, check=False
    )


def test_deposit_seals_fingerprints_format_and_token(commune_a, archive_dir, tmp_path):
    data = pdf("Arrêté du maire n°12")
    obj = deposit(commune_a, title="Arrêté n°12", code="arretes", data=data)

    assert obj.sha256 == hashlib.sha256(data).hexdigest()
    assert obj.sha512 == hashlib.sha512(data).hexdigest()
    assert obj.size == len(data)
    assert obj.puid == "fmt/18" and "PDF" in obj.format_name
    assert not obj.long_term_fit  # a plain PDF 1.4, not PDF/A
    assert obj.retention_end is None and obj.final_fate == "keep"
    assert "non qualifiée" in obj.tsa_name and not obj.tsa_qualified
    # The stored copy is encrypted, under the archive's own directory, and reads back.
    stored = (archive_dir / "blobs" / str(commune_a.pk) / obj.sha256[:2] / obj.sha256).read_bytes()
    assert data not in stored
    assert store.read(commune_a, obj.blob_key) == data
    entry = JournalEntry.objects.get(archived_object=obj)
    assert entry.event == "depot" and entry.data["sha256"] == obj.sha256

    document, token = tmp_path / "acte.pdf", tmp_path / "token.tsr"
    document.write_bytes(data)
    token.write_bytes(bytes(obj.timestamp_token))
    ca = archive_dir / "tsa" / "tsa.pem"
    accepted = openssl_verify("-data", str(document), "-in", str(token), "-CAfile", str(ca))
    assert accepted.returncode == 0 and "Verification: OK" in accepted.stdout

    modified = tmp_path / "acte-modifie.pdf"
    modified.write_bytes(data.replace(b"12", b"13"))
    refused = openssl_verify("-data", str(modified), "-in", str(token), "-CAfile", str(ca))
    assert refused.returncode != 0
    assert "message imprint mismatch" in refused.stderr


def test_token_of_another_tsa_key_is_refused(commune_a, archive_dir, settings, tmp_path):
    obj = deposit(commune_a)
    settings.ARCHIVE_DIR = tmp_path / "autre"  # a fresh TSA key and certificate
    with pytest.raises(tsa.TimeStampError, match="Signature"):
        tsa.check_response(bytes(obj.timestamp_token), bytes.fromhex(obj.sha256))


def test_embedded_tsa_endpoint_answers_openssl_queries(db, archive_dir, tmp_path):
    document = tmp_path / "doc.txt"
    document.write_bytes(b"Compte rendu du conseil")
    query = tmp_path / "q.tsq"
    subprocess.run(
        ["openssl", "ts", "-query", "-data", str(document), "-sha256", "-cert", "-out", str(query)],
        check=True,
        capture_output=True,
    )
    response = Client().post(
        reverse("archive:tsa"), query.read_bytes(), content_type="application/timestamp-query"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/timestamp-reply"
    reply = tmp_path / "r.tsr"
    reply.write_bytes(response.content)
    ca = Client().get(reverse("archive:tsa_certificate"))
    assert b"BEGIN CERTIFICATE" in ca.content
    (tmp_path / "ca.pem").write_bytes(ca.content)
    result = openssl_verify(
        "-queryfile", str(query), "-in", str(reply), "-CAfile", str(tmp_path / "ca.pem")
    )
    assert result.returncode == 0, result.stderr

    garbage = Client().post(reverse("archive:tsa"), b"pas une requete", content_type="x/y")
    assert tsa.response_status(garbage.content) == ("rejection", "requête d'horodatage illisible")


def test_bad_deposits_are_refused_in_french_and_leave_nothing(commune_a):
    with pytest.raises(ValidationError, match="vide"):
        deposit(commune_a, data=b"")
    with pytest.raises(ValidationError, match="futur"):
        deposit(commune_a, act_date=date(2999, 1, 1))
    with pytest.raises(ValidationError, match="Intitulé"):
        deposit(commune_a, title="  ")
    assert not JournalEntry.objects.exists()


def test_merkle_seal_and_proof(commune_a):
    for n in range(5):
        deposit(commune_a, title=f"Arrêté {n}", code="arretes")
    seal = journal.seal_pending()
    assert seal is not None and (seal.first_seq, seal.last_seq) == (1, 5)
    tsa.check_response(bytes(seal.timestamp_token), bytes.fromhex(seal.root))
    from clocher.archive import offline

    for entry in JournalEntry.objects.all():
        found = journal.proof_for(entry)
        assert found is not None
        assert offline.root_from_proof(entry.hash, found[1]) == seal.root
    assert journal.seal_pending() is None  # nothing new
    assert journal.verify().ok
