"""`clocher forecast run` end to end, as a real process: a French CSV in, the chosen model,
why, the table of forecasts with 80/95 % bounds and the model card out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import monthly


def clocher(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clocher.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", **_data_env()},
    )


def _data_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k.startswith(("CLOCHER_", "DJANGO_", "HOME"))}


def test_run_prints_model_reason_table_and_writes_the_card(tmp_path: Path) -> None:
    series = monthly(2, 60)
    upload = tmp_path / "cantine.csv"
    lines = ["Date;Repas"] + [
        f"{d:%d/%m/%Y};{v:.1f}".replace(".", ",")
        for d, v in zip(series.dates, series.values, strict=True)
    ]
    upload.write_text("\n".join(lines), encoding="utf-8-sig")
    card = tmp_path / "fiches" / "cantine.json"
    done = clocher("forecast", "run", str(upload), "--horizon", "6", "--card", str(card))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Série « Repas » : 60 points, mensuelle, du 01/01/2012 au 01/12/2016." in out
    assert "Modèle retenu :" in out and "s'est trompé en moyenne de" in out
    assert "80 % bas" in out and "95 % haut" in out and "01/06/2017" in out
    assert f"Fiche du modèle : {card}" in out
    written = json.loads(card.read_text(encoding="utf-8"))
    assert written["donnees"]["points"] == 60 and written["methode"]["modele_retenu"]

    as_json = clocher("forecast", "run", str(upload), "--horizon", "6", "--json")
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert len(result["previsions"]) == 6
    assert set(result["previsions"][0]) == {
        "date",
        "prevision",
        "bas_80",
        "haut_80",
        "bas_95",
        "haut_95",
    }


def test_run_refuses_a_bad_file_in_french(tmp_path: Path) -> None:
    upload = tmp_path / "trou.csv"
    upload.write_text("date;valeur\n2015;1\n2016;2\n2018;3\n2019;4\n2020;5\n2021;6\n")
    done = clocher("forecast", "run", str(upload))
    assert done.returncode == 1
    assert "trou.csv : Trou dans la série entre les lignes 3 et 4" in done.stdout
    assert "01/01/2017" in done.stdout
