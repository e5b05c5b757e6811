"""Energy services against the database: imports (good and hostile, all or nothing),
baselines, décret tertiaire, OPERAT export, drifts and their weekly mail, what-if."""

from __future__ import annotations

import pytest
from django.core import mail

from clocher.core.models import AuditEntry
from clocher.energy import imports, services
from clocher.energy.models import Baseline, Building, DailyReading, Drift, LoadCurveDay, Meter
from tests.energy.conftest import ACTOR

CURVE = (
    "Identifiant PRM;Type de donnees;Unite\n12345678901234;Courbe de charge;W\n"
    "Horodate;Valeur;Pas\n"
    + "".join(f"2023-03-26T{h:02d}:{m:02d}:00+01:00;1000;PT30M\n" for h in (0, 1) for m in (30,))
)


def _meter(commune) -> Meter:
    building = services.create_building(
        ACTOR, commune, services.BuildingInput("Mairie", floor_area_m2=300.0)
    )
    return services.add_meter(ACTOR, building, "electricite", "12345678901234")


def _day_curve(day: str, watts: int, offset: str = "+01:00") -> str:
    rows = [
        f"{day}T{h:02d}:{m:02d}:00{offset};{watts};PT30M" for h in range(1, 24) for m in (0, 30)
    ]
    rows.insert(0, f"{day}T00:30:00{offset};{watts};PT30M")
    return "Horodate;Valeur;Pas\n" + "\n".join(rows) + "\n"


@pytest.mark.django_db
def test_load_curve_import_stores_one_row_per_day_and_reimport_replaces(commune_a) -> None:
    meter = _meter(commune_a)
    text = _day_curve("2024-01-10", 2000)
    result = imports.import_file(ACTOR, commune_a, "courbe", text.encode(), "c.csv", meter)
    assert result.written == 1
    day = LoadCurveDay.objects.get(meter=meter)
    assert day.step_s == 1800 and day.wh().size == 48
    # 47 half hours of 2 kW measured on 2024-01-10 (the 48th stamps the next day's 00:00)
    assert DailyReading.objects.filter(meter=meter).count() in (0, 1)
    imports.import_file(ACTOR, commune_a, "courbe", text.encode(), "c.csv", meter)
    assert LoadCurveDay.objects.filter(meter=meter).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("Horodate;Valeur;Pas\n2024-01-10T00:30:00+01:00;abc;PT30M\n", "ligne"),
        ("Horodate,Valeur,Pas\n2024-01-10T00:30:00+01:00;1,PT30M\n", "ligne"),
        (
            "Horodate;Valeur;Pas\n2024-01-10T00:30:00+01:00;100;PT30M\n"
            "2024-01-10T00:30:00+01:00;900;PT30M\n",
            "horodate déjà lue",
        ),
        ("pas un fichier enedis\n", "refusé"),
    ],
    ids=["valeur", "separateur", "doublon", "entete"],
)
def test_hostile_load_curve_is_refused_whole_and_keeps_what_was_stored(
    commune_a, body: str, words: str
) -> None:
    meter = _meter(commune_a)
    imports.import_file(
        ACTOR, commune_a, "courbe", _day_curve("2024-01-10", 2000).encode(), "", meter
    )
    before = bytes(LoadCurveDay.objects.get(meter=meter).values)
    audits = AuditEntry.objects.count()
    # The same hostile lines after a good day: that day is not written either.
    tail = body.split("\n", 1)[1] if body.startswith("Horodate") else ""
    for data in (body, _day_curve("2024-01-11", 500) + tail) if tail else (body,):
        with pytest.raises(imports.ImportRefused) as refused:
            imports.import_file(ACTOR, commune_a, "courbe", data.encode(), "x.csv", meter)
        assert words in " ".join(refused.value.messages)
    assert LoadCurveDay.objects.filter(meter=meter).count() == 1
    assert bytes(LoadCurveDay.objects.get(meter=meter).values) == before
    assert AuditEntry.objects.count() == audits


@pytest.mark.django_db
def test_import_task_records_progress_report_and_drops_the_payload(
    commune_a, django_capture_on_commit_callbacks
) -> None:
    meter = _meter(commune_a)
    with django_capture_on_commit_callbacks(execute=True):
        job = imports.start_import(
            ACTOR, commune_a, "courbe", "c.csv", _day_curve("2024-01-10", 100).encode(), meter
        )
    job.refresh_from_db()  # the immediate backend of the tests ran it on commit
    assert job.status == "done" and job.percent == 100 and bytes(job.payload) == b""
    assert "ligne(s) lue(s)" in job.report["summary"]
    with django_capture_on_commit_callbacks(execute=True):
        bad = imports.start_import(
            ACTOR, commune_a, "courbe", "b.csv", b"Horodate;Valeur\nx;y\n", meter
        )
    bad.refresh_from_db()
    assert bad.status == "failed" and "refusé" in bad.report["error"]


@pytest.mark.django_db
def test_demo_buildings_get_fit_baselines_trajectory_operat_and_drifts(demo_a) -> None:
    buildings = list(Building.objects.filter(commune=demo_a))
    assert len(buildings) == 3 and all(b.station for b in buildings)
    gas = Baseline.objects.filter(commune=demo_a, meter__kind="gaz")
    assert gas.count() == 2 and all(b.fit and b.model_kind == "hdd_only" for b in gas)
    for b in gas:  # the demo's generator: 15.5 °C balance point, 9 and 22 kWh/degree-day
        assert 13 <= b.params["hdd_bp"] <= 18
        assert b.params["beta_hdd"] == pytest.approx(
            9 if b.meter.building.name == "Mairie" else 22, rel=0.2
        )
    total, rows = services.commune_trajectory(demo_a)
    assert total is not None and all(r.trajectory for r in rows)
    assert rows[0].trajectory.reference_year in range(2015, 2020)
    csv_text = services.operat_csv(demo_a, 2023)
    assert csv_text.count("\n") >= 1 + 5  # header, then 2 energies × 2 buildings + 1
    assert "Mairie" in csv_text
    mairie = Drift.objects.filter(meter__building__name="Mairie", kind="talon_nuit")
    assert mairie.exists() and "nuit" in mairie.first().text


@pytest.mark.django_db
def test_weekly_drift_mail_goes_to_the_commune_admin_once(
    demo_a, admin_a, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        found, mailed = services.weekly_drift_round(ACTOR)
    assert mailed == 1
    assert [m.to for m in mail.outbox] == [[admin_a.email]]
    assert "Mairie" in mail.outbox[0].body and "nuit" in mail.outbox[0].body
    assert services.weekly_drift_round(ACTOR)[1] == 0  # nothing new: no second mail
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_what_if_returns_each_measure_with_savings(demo_a) -> None:
    school = Building.objects.get(commune=demo_a, name__startswith="École")
    results, calibration = services.what_if(school)
    by = {r.measure: r for r in results}
    assert set(by) == {"toiture", "fenetres", "consigne_moins_1", "pompe_a_chaleur"}
    for r in results:  # kWh, € and kg CO2 saved per year, each with its uncertainty
        assert r.kwh_saved > 0 and r.eur_saved > 0 and r.co2_kg_saved > 0, r
        assert 0 < r.kwh_uncertainty < r.kwh_saved, r
    # gas → heat pump (COP 3, electricity): fewer kWh of final energy and far less CO2
    # per kWh saved than lowering the setpoint, which saves gas only
    pump, setpoint = by["pompe_a_chaleur"], by["consigne_moins_1"]
    assert pump.co2_kg_saved / pump.kwh_saved > setpoint.co2_kg_saved / setpoint.kwh_saved
    assert calibration.n_days >= 300


def test_consecutive_outlier_days_on_one_side_make_one_drift() -> None:
    from datetime import date, timedelta

    from clocher.energy.engine.drifts import Drift as Found
    from clocher.energy.services.drifts import merge_outlier_runs

    first = date(2023, 12, 11)
    dates = [first + timedelta(n) for n in range(21)]
    days = [Found("jour_hors_modele", d, d, 50, 25, "") for d in dates]
    low = Found("jour_hors_modele", date(2023, 12, 1), date(2023, 12, 1), 10, 25, "seul")
    night = Found("talon_nuit", date(2023, 12, 4), date(2023, 12, 31), 1.9, 0.7, "nuit")
    merged = merge_outlier_runs([*days, low, night])
    runs = [d for d in merged if d.kind == "jour_hors_modele"]
    assert [(d.start, d.end) for d in runs] == [
        (date(2023, 12, 1), date(2023, 12, 1)),
        (first, first + timedelta(20)),
    ]
    assert runs[1].value == 21 * 50 and "21 jours de suite au-dessus" in runs[1].text
    assert night in merged and low in merged
