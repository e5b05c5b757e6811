"""`clocher energy …`: import (refusal with the line named), buildings, baseline, operat."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from clocher.cli import main as cli
from clocher.energy.models import Building


@pytest.mark.django_db
def test_cli_buildings_baseline_operat(demo_a, tmp_path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["energy", "buildings", demo_a.insee])
    assert out.exit_code == 0, out.output
    assert "Mairie" in out.output
    school = Building.objects.get(commune=demo_a, name__startswith="École")
    out = runner.invoke(cli, ["energy", "baseline", str(school.pk)])
    assert out.exit_code == 0, out.output
    assert "CV(RMSE)" in out.output and "apte" in out.output
    target = tmp_path / "operat.csv"
    out = runner.invoke(
        cli, ["energy", "operat", demo_a.insee, "--year", "2023", "-o", str(target)]
    )
    assert out.exit_code == 0, out.output
    assert "Mairie" in target.read_text(encoding="utf-8")


@pytest.mark.django_db
def test_cli_import_refuses_a_hostile_file_naming_the_line(demo_a, tmp_path) -> None:
    meter = Building.objects.get(commune=demo_a, name="Mairie").meters.get(kind="electricite")
    bad = tmp_path / "courbe.csv"
    bad.write_text("Horodate;Valeur;Pas\n2024-01-10T00:30:00+01:00;abc;PT30M\n")
    out = CliRunner().invoke(
        cli, ["energy", "import", demo_a.insee, str(bad), "--meter", meter.identifier]
    )
    assert out.exit_code == 1 and "ligne 2" in out.output
    good = tmp_path / "good.csv"
    good.write_text("Horodate;Valeur;Pas\n2024-01-10T00:30:00+01:00;1000;PT30M\n")
    out = CliRunner().invoke(
        cli, ["energy", "import", demo_a.insee, str(good), "--meter", meter.identifier]
    )
    assert out.exit_code == 0, out.output
    assert "Importé" in out.output
