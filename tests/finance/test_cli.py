"""`clocher finance import|schedule|indicators|report`, in-process on the test database."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from clocher.cli import main
from clocher.finance.models import Loan
from tests.finance.finance_data import BAD, GOOD

pytestmark = pytest.mark.django_db


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["finance", *args], env={"COLUMNS": "200"})


def test_import_then_schedule_indicators_and_report(commune_a, tmp_path: Path):
    good = tmp_path / "dette.csv"
    good.write_text(GOOD, encoding="utf-8")
    done = run("import", commune_a.insee, str(good))
    assert done.exit_code == 0, done.output
    assert "2 emprunt(s) créé(s)" in done.output

    csv_out = run("schedule", "FIX-1", "--csv")
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.output.strip().splitlines()
    assert lines[0].startswith("echeance;taux") and len(lines) == 21
    assert lines[-1].endswith(";0,00")

    table = run("indicators", commune_a.insee)
    assert table.exit_code == 0 and "2021" in table.output

    pdf, csv_path = tmp_path / "rob.pdf", tmp_path / "rob.csv"
    made = run(
        "report", commune_a.insee, "--year", "2022", "--pdf", str(pdf), "--csv", str(csv_path)
    )
    assert made.exit_code == 0, made.output
    assert "budget 2022" in made.output
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Rapport d'orientation budgétaire 2022" in text and "FIX-1" in text
    assert "Charte Gissler" in text
    assert "indicateurs;2021" in csv_path.read_text(encoding="utf-8-sig")


def test_malformed_import_fails_and_writes_nothing(commune_a, tmp_path: Path):
    bad = tmp_path / "dette.csv"
    bad.write_text(BAD, encoding="utf-8")
    done = run("import", commune_a.insee, str(bad))
    assert done.exit_code == 1
    assert "ligne 3 (FIX-3)" in done.output and "rien n'a été importé" in done.output
    assert not Loan.objects.exists()


def test_unknown_commune_and_loan_are_named(db, tmp_path: Path):
    assert "Commune 99999 inconnue" in run("indicators", "99999").output
    assert "introuvable" in run("schedule", "NOPE").output
