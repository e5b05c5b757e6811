"""Forecast services on the real engine and database: uploads (good and bad), runs
stored with their data version, other apps feeding series, predicted vs actual."""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from datetime import date

import pytest
from click.testing import CliRunner
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from clocher.cli import main
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry
from clocher.forecast import services
from clocher.forecast.engine.series import shift
from clocher.forecast.models import Forecast, ForecastStatus, Series

ACTOR = Actor(label="tests")


def monthly_points(count: int, seed: int = 7) -> list[tuple[date, float]]:
    """Water in m³: summer peak, slight trend, noise — a fixed seed, always the same."""
    rng = random.Random(seed)
    season = [220 * math.cos((m - 6) / 12 * 2 * math.pi) for m in range(12)]
    return [
        (
            shift(date(2019, 1, 1), "MS", i),
            round(1000 + 3 * i + season[i % 12] + rng.gauss(0, 15), 1),
        )
        for i in range(count)
    ]


def csv_of(points: list[tuple[date, float]], sep: str = ";") -> bytes:
    lines = [f"date{sep}valeur"]
    lines += [f"{d:%d/%m/%Y}{sep}{str(v).replace('.', ',')}" for d, v in points]
    return ("\n".join(lines) + "\n").encode()


def xlsx_of(points: list[tuple[date, float]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Date", "Valeur"])
    for day, value in points:
        sheet.append([day, value])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def water_series(commune, months: int) -> Series:
    """`months` months of water sent by the commune as a CSV, stored."""
    return services.import_series(
        ACTOR, commune, upload("eau.csv", csv_of(monthly_points(months)))
    ).series


@pytest.mark.django_db
def test_upload_stores_the_series_with_its_data_version_once(commune_a):
    points = monthly_points(48)
    stored = services.import_series(ACTOR, commune_a, upload("eau.csv", csv_of(points)), unit="m³")
    series = stored.series
    assert stored.created and stored.changed
    assert (series.name, series.key, series.frequency, series.points) == (
        "eau",
        "upload:eau",
        "MS",
        48,
    )
    canonical = json.dumps(series.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert series.data_version == hashlib.sha256(canonical.encode()).hexdigest()
    assert series.data["values"][:2] == [points[0][1], points[1][1]]
    entry = AuditEntry.objects.get(action="forecast.series_created")
    assert entry.commune == commune_a and entry.data["version"] == series.data_version

    # The same figures again, even as XLSX: same version, nothing written.
    again = services.import_series(
        ACTOR, commune_a, upload("eau.xlsx", xlsx_of(points)), name="eau"
    )
    assert not again.created and not again.changed
    assert again.series.data_version == series.data_version
    assert AuditEntry.objects.filter(action__startswith="forecast.").count() == 1


GAP = csv_of(monthly_points(20)[:8] + monthly_points(20)[10:])
DUPLICATE = csv_of(monthly_points(10) + monthly_points(10)[-1:])
TEXT = csv_of(monthly_points(3)) + b"01/04/2019;beaucoup\n" + csv_of(monthly_points(9)[4:])[13:]
SINGLE = csv_of(monthly_points(1))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        (
            "trou.csv",
            GAP,
            "Trou dans la série entre les lignes 9 et 10 : 2 période(s) manquante(s)",
        ),
        ("double.csv", DUPLICATE, "Date en double"),
        ("texte.csv", TEXT, "Ligne 5 : « beaucoup » n'est pas un nombre"),
        ("un-point.csv", SINGLE, "Un seul point"),
        ("vide.csv", b"", "vide"),
        ("tronque.xlsx", xlsx_of(monthly_points(12))[:300], "XLSX illisible"),
    ],
    ids=["trou", "doublon", "texte", "un-point", "vide", "xlsx-tronque"],
)
def test_bad_uploads_get_a_clear_message_and_store_nothing(commune_a, filename, data, expected):
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as refused:
        services.import_series(ACTOR, commune_a, upload(filename, data))
    message = " ".join(refused.value.messages)
    assert message.startswith(f"{filename} : ") and expected in message, message
    assert not Series.objects.exists() and AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_too_big_a_file_is_refused_before_reading(commune_a):
    big = upload("enorme.csv", b"date;valeur\n" + b"01/01/2020;1\n" * 500_000)
    with pytest.raises(ValidationError, match="trop gros"):
        services.import_series(ACTOR, commune_a, big)
    assert not Series.objects.exists()


@pytest.mark.django_db
def test_run_stores_the_forecast_with_card_cpu_and_version(commune_a):
    series = water_series(commune_a, 48)
    forecast = services.run(ACTOR, series, 12)
    assert forecast.status == ForecastStatus.DONE and forecast.data_version == series.data_version
    prediction = forecast.prediction
    assert prediction["dates"][0] == "2023-01-01" and len(prediction["mean"]) == 12
    for i in range(12):
        assert prediction["lower"]["95"][i] <= prediction["lower"]["80"][i] <= prediction["mean"][i]
        assert prediction["mean"][i] <= prediction["upper"]["80"][i] <= prediction["upper"]["95"][i]
    assert {s["libelle"] for s in forecast.scores} >= {forecast.model}
    assert "erreur" in forecast.explanation or "trompé" in forecast.explanation
    assert forecast.card["donnees"]["version_clocher"] == series.data_version
    assert forecast.card["limites"] and forecast.cpu_seconds and forecast.cpu_seconds > 0
    entry = AuditEntry.objects.get(action="forecast.run")
    assert entry.data["prevision"] == forecast.pk and entry.data["version"] == series.data_version


@pytest.mark.django_db
def test_a_horizon_longer_than_the_history_fails_with_the_reason(commune_a):
    series = water_series(commune_a, 8)
    forecast = services.run(ACTOR, series, 12)
    assert forecast.status == ForecastStatus.FAILED and "Horizon trop long" in forecast.error
    assert not AuditEntry.objects.filter(action="forecast.run").exists()
    with pytest.raises(ValidationError, match="Horizon"):
        services.run(ACTOR, series, 0)


@pytest.mark.django_db
def test_new_data_compares_past_forecasts_with_what_happened(commune_a):
    points = monthly_points(42)
    first = services.import_series(ACTOR, commune_a, upload("eau.csv", csv_of(points[:36]))).series
    past = services.run(ACTOR, first, 6)
    assert past.realised == {}
    updated = services.import_series(ACTOR, commune_a, upload("eau.csv", csv_of(points)))
    assert updated.changed and updated.series.data_version != past.data_version
    past.refresh_from_db()
    realised = past.realised
    assert realised["compares"] == 6 and realised["version"] == updated.series.data_version
    assert [p["reel"] for p in realised["points"]] == [v for _, v in points[36:]]
    error = sum(abs(p["reel"] - p["prevu"]) for p in realised["points"])
    assert realised["erreur_pct"] == round(error / sum(v for _, v in points[36:]) * 100, 1)
    assert 0 <= realised["dans_95"] <= 6
    entry = AuditEntry.objects.get(action="forecast.series_updated")
    assert entry.data["previsions_comparees"] == 1


@pytest.mark.django_db
def test_other_apps_feed_a_series_by_key_and_reuse_its_forecast(commune_a, commune_b):
    points = monthly_points(36)
    key = "energy:building:12"
    fed = services.series_from_points(
        ACTOR, commune_a, key, "Mairie : électricité", points, unit="kWh"
    )
    assert fed.created and fed.series.source == "app"
    assert not services.series_from_points(
        ACTOR, commune_a, key, "Mairie : électricité", points
    ).changed
    made = services.forecast_for(commune_a, key, 6)
    assert made.status == ForecastStatus.DONE and made.horizon == 6
    assert services.forecast_for(commune_a, key, 6).pk == made.pk  # stored, not recomputed
    assert Forecast.objects.count() == 1
    with pytest.raises(ValidationError, match="Série inconnue"):
        services.forecast_for(commune_b, key, 6)  # another commune's key is not theirs
    with pytest.raises(ValidationError, match="Clé de série invalide"):
        services.series_from_points(ACTOR, commune_a, "upload:eau", "x", points)
    with pytest.raises(ValidationError, match="Date en double"):
        services.series_from_points(
            ACTOR, commune_a, "finance:epargne_brute", "É", points + points[-1:]
        )


@pytest.mark.django_db
def test_cli_imports_and_lists_series(commune_a, tmp_path):
    path = tmp_path / "déchets.csv"
    path.write_bytes(csv_of(monthly_points(30)))
    runner = CliRunner()
    result = runner.invoke(main, ["forecast", "import", commune_a.insee, str(path), "--unit", "t"])
    assert result.exit_code == 0, result.output
    assert "Série « déchets » créée" in result.output and "30 points" in result.output
    listed = runner.invoke(main, ["forecast", "series", "list", commune_a.insee])
    assert listed.exit_code == 0 and "déchets" in listed.output and "30" in listed.output
    path.write_bytes(b"date;valeur\n01/01/2020;1\n")
    refused = runner.invoke(main, ["forecast", "import", commune_a.insee, str(path)])
    assert refused.exit_code == 1 and "Un seul point" in refused.output
    assert Series.objects.get().points == 30


@pytest.mark.django_db
def test_an_engine_crash_ends_the_run_as_failed_not_running_for_ever(commune_a, monkeypatch):
    series = water_series(commune_a, 24)

    def crash(*args, **kwargs):
        raise FloatingPointError("overflow")

    monkeypatch.setattr(services.engine, "run_forecast", crash)
    forecast = services.request_run(ACTOR, series, 6)
    assert forecast.status == ForecastStatus.FAILED
    assert forecast.error == "Erreur du moteur de prévision (FloatingPointError)."
