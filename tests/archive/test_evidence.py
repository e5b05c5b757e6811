"""Evidence package: CLI and page; checked offline by openssl and the documented script
(docs/archive_verify.py, run as a separate process), and by `clocher archive verify`."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.urls import reverse

from clocher.cli import main
from tests.archive.conftest import deposit, pdf
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db
SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "archive_verify.py"


def _offline(package: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(package)],
        capture_output=True,
        text=True,
        check=False,
        cwd=package.parent,
    )


def test_evidence_package_checks_offline_and_detects_tampering(commune_a, tmp_path):
    deposit(commune_a, title="Arrêté voisin", code="arretes")
    obj = deposit(commune_a, title="Délibération budget 2025", data=pdf("Budget 2025"))
    deposit(commune_a, title="Arrêté suivant", code="arretes")
    package = tmp_path / "preuve.zip"
    result = CliRunner().invoke(main, ["archive", "evidence", str(obj.pk), "-o", str(package)])
    assert result.exit_code == 0, result.output

    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        assert {
            "document/deliberation.pdf",
            "metadonnees.json",
            "horodatage.tsr",
            "autorite-horodatage.pem",
            "journal.json",
            "attestation.pdf",
            "verifier.py",
            "LISEZMOI.txt",
        } <= names
        assert archive.read("attestation.pdf").startswith(b"%PDF")
        meta = json.loads(archive.read("metadonnees.json"))
        assert meta["sha256"] == obj.sha256 and meta["horodatage"]["qualifie"] is False
        section = json.loads(archive.read("journal.json"))
        assert [e["event"] for e in section["entrees"]] == ["depot", "preuve"]
        assert all("preuve" in e for e in section["entrees"])
        assert "Arrêté voisin" not in archive.read("journal.json").decode()
        archive.extractall(tmp_path / "x")

    checked = _offline(package)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK")
    root = tmp_path / "x"
    plain = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(root / "document/deliberation.pdf"),
         "-in", str(root / "horodatage.tsr"), "-CAfile", str(root / "autorite-horodatage.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    result = CliRunner().invoke(main, ["archive", "verify", str(package)])
    assert result.exit_code == 0, result.output

    # A modified document, then an edited journal entry: each named.
    tampered = tmp_path / "falsifie.zip"
    _rewrite(package, tampered, "document/deliberation.pdf", pdf("Budget 2026"))
    checked = _offline(tampered)
    assert checked.returncode == 1
    assert (
        "SHA-256 différent" in checked.stdout
        and "jeton d'horodatage du document refusé" in checked.stdout
    )
    section["entrees"][0]["actor"] = "quelqu'un d'autre"
    _rewrite(package, tampered, "journal.json", json.dumps(section).encode())
    checked = _offline(tampered)
    assert checked.returncode == 1
    assert f"entrée n°{section['entrees'][0]['seq']} modifiée" in checked.stdout
    result = CliRunner().invoke(main, ["archive", "verify", str(tampered)])
    assert result.exit_code == 1 and "modifiée" in result.output


def _rewrite(source: Path, target: Path, name: str, data: bytes) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            new.writestr(item.filename, data if item.filename == name else old.read(item))


def test_evidence_download_from_the_page(commune_a, agent_a):
    obj = deposit(commune_a)
    url = reverse("archive:evidence", kwargs={"insee": commune_a.insee, "object_id": obj.pk})
    response = logged_in(agent_a).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f"preuve-{obj.reference}.zip" in response["Content-Disposition"]
