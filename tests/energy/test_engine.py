"""Energy engine: parameter recovery, G14 by hand, hostile CSVs, DJU by hand, 5R1C sanity."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from clocher.energy.engine.baseline import day_groups, fit_daily, fit_daily_many, g14
from clocher.energy.engine.errors import EnergyInputError
from clocher.energy.engine.loadcurve import parse_load_curve
from clocher.energy.engine.tertiaire import (
    OPERAT_COLUMNS,
    EfaDeclaration,
    YearConsumption,
    climate_adjusted,
    operat_rows,
    trajectory,
    write_operat_csv,
)
from clocher.energy.engine.thermal import Building5R1C, calibrate, simulate
from clocher.energy.engine.weather import (
    dju_costic,
    dju_meteo_france,
    nearest_station,
    parse_meteo_france_daily,
)

FIXTURE = Path(__file__).parent / "fixtures" / "Q_21_synthetique-2022-2023_RR-T-Vent.csv"


def _heating_meter(
    base: float, slope: float, balance: float, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(°C, kWh) of two years at the fixture's Dijon station: base + slope·HDD + noise."""
    t = parse_meteo_france_daily(FIXTURE).stations["21999001"].mean_temperature()
    rng = np.random.default_rng(seed)  # fixed seed: the same draw every run
    return t, base + slope * np.maximum(0.0, balance - t) + rng.normal(0, noise, t.size)


def test_daily_regression_recovers_base_load_slope_and_balance_point() -> None:
    t, kwh = _heating_meter(120.0, 6.0, 16.0, noise=8.0, seed=7)
    m = fit_daily(t, kwh)
    assert m.kind == "hdd_only"
    assert m.intercept == pytest.approx(120.0, abs=3.0)
    assert m.beta_hdd == pytest.approx(6.0, rel=0.05)
    assert m.hdd_bp == pytest.approx(16.0, abs=0.5)
    assert m.metrics.fit


def test_balance_point_between_grid_points_is_found_by_local_refinement() -> None:
    """The 1 °C grid straddles 15.37 °C; the local search (every 0.05 °C) lands on it.
    The former 0.5 °C grid without refinement stopped at 15.5 (0.13 °C off)."""
    t, kwh = _heating_meter(80.0, 5.0, 15.37, noise=0.5, seed=12)
    m = fit_daily(t, kwh)
    assert m.kind == "hdd_only"
    assert m.hdd_bp == pytest.approx(15.37, abs=0.05)
    assert m.beta_hdd == pytest.approx(5.0, rel=0.01)

    # the refined point is the least-squares one to its 0.05 °C step: a 0.01 °C search
    # nearby gains under 0.5 % of the sum of squares
    def sse(bp: float) -> float:
        x = np.column_stack([np.ones_like(t), np.maximum(0.0, bp - t)])
        r = kwh - x @ np.linalg.lstsq(x, kwh, rcond=None)[0]
        return float(r @ r)

    fine = np.arange(m.hdd_bp - 0.1, m.hdd_bp + 0.1, 0.01)
    assert sse(m.hdd_bp) <= min(sse(bp) for bp in fine) * 1.005


def test_caltrack2_keeps_a_positive_slope_without_a_p_value_screen() -> None:
    """CalTRACK 2 drops a candidate for a non-positive slope only, then takes the highest
    adjusted R²: a weak heating slope (p ≈ 0.2, not significant at 0.1) still wins over
    the intercept when it explains more than it costs. CalTRACK 1's screen rejected it."""
    weather = parse_meteo_france_daily(FIXTURE).stations["21999001"]
    t = weather.mean_temperature()
    hdd = np.maximum(0.0, 14.0 - t)
    rng = np.random.default_rng(3)  # fixed seed: the same draw every run
    noise = rng.normal(0, 10.0, t.size)
    # remove the noise's own projection on the heating term, then add a slope worth
    # a t-statistic of 1.3 exactly at 14 °C: no draw can make it significant
    x = np.column_stack([np.ones_like(t), hdd])
    noise -= x @ np.linalg.lstsq(x, noise, rcond=None)[0]
    se = np.sqrt(noise @ noise / (t.size - 2) / ((hdd - hdd.mean()) @ (hdd - hdd.mean())))
    kwh = 100.0 + 1.3 * se * hdd + noise
    m = fit_daily(t, kwh)
    assert m.kind == "hdd_only" and m.beta_hdd > 0
    assert m.adj_r2 > 0  # the intercept-only model's adjusted R² is 0
    # its own slope p-value, computed here at the chosen balance point: above 0.1
    xb = np.column_stack([np.ones_like(t), np.maximum(0.0, m.hdd_bp - t)])
    beta, res, *_ = np.linalg.lstsq(xb, kwh, rcond=None)
    s2 = float(res[0]) / (t.size - 2)
    cov = s2 * np.linalg.inv(xb.T @ xb)
    p_value = 2 * stats.t.sf(abs(beta[1]) / np.sqrt(cov[1, 1]), t.size - 2)
    assert 0.1 < p_value < 0.32


def test_g14_metrics_match_a_hand_computation() -> None:
    y = np.array([10.0, 12.0, 14.0, 16.0])
    yhat = np.array([11.0, 12.0, 13.0, 15.0])
    m = g14(y, yhat, 2, "monthly")
    # residuals y − ŷ: −1, 0, 1, 1; SSE 3; n − p = 2; ȳ = 13; SST = 20
    assert m.cvrmse == pytest.approx(np.sqrt(3 / 2) / 13)
    assert m.nmbe == pytest.approx(1 / (2 * 13))
    assert m.r2 == pytest.approx(1 - 3 / 20)
    assert m.fit and m.verdict.startswith("apte")  # 9.4 % ≤ 15 %, 3.8 % ≤ 5 %


def test_load_curve_dst_offsets_steps_duplicates_and_gaps() -> None:
    text = (
        "Identifiant PRM;Type de donnees;Unite\n12345678901234;Courbe de charge;W\n"
        "Horodate;Valeur;Pas\n"
        "2023-10-29T02:30:00+01:00;600;PT30M\n"  # unsorted
        "2023-10-29T02:00:00+02:00;600;PT30M\n"
        "2023-10-29T02:30:00+02:00;600;PT30M\n"
        "2023-10-29T02:00:00+01:00;600;PT30M\n"
        "2023-10-29T02:00:00+01:00;900;PT30M\n"  # duplicate, other value
        "2023-10-29T03:10:00+01:00;1200;PT10M\n"  # step changes, 02:30–03:00 missing
    )
    c = parse_load_curve(text)
    assert c.prm == "12345678901234"
    assert list(np.diff(c.start)) == [1800, 1800, 1800, 3600]
    assert list(c.wh) == [300.0, 300.0, 300.0, 300.0, 200.0]
    codes = {i.code: i.line for i in c.issues}
    assert codes["doublon"] == 8
    assert c.gaps == [(int(c.start[3]) + 1800, int(c.start[4]))]


def test_load_curve_fold_rule_without_offset_and_nonexistent_hour() -> None:
    text = (
        "Horodate;Valeur\n2023-10-29 02:30:00;100\n2023-10-29 03:00:00;100\n"
        "2023-10-29 02:30:00;100\n2023-03-26 02:30:00;5\n"
    )
    c = parse_load_curve(text)
    # first 02:30 = summer (00:30 UTC), second = winter (01:30 UTC), 03:00 = 02:00 UTC
    assert [int(s) % 86400 for s in c.start + c.step] == [1800, 5400, 7200]
    assert any(i.line == 5 and "heure d'été" in i.message for i in c.issues)


def test_load_curve_wrong_separator_is_refused_with_the_lines_named() -> None:
    with pytest.raises(EnergyInputError, match="ligne 2"):
        parse_load_curve("Horodate;Valeur;Pas\n2023-01-01 00:30:00,100,PT30M\n")
    c = parse_load_curve("Horodate,Valeur,Pas\n2023-01-01 00:30:00,100,PT30M\n")
    assert c.issues[0].code == "separateur" and c.wh[0] == 50.0


def test_dju_both_methods_on_hand_computed_days() -> None:
    tn = np.array([2.0, 10.0, 20.0])
    tx = np.array([8.0, 22.0, 30.0])
    h, c = dju_meteo_france(tn, tx)
    assert list(h) == [13.0, 2.0, 0.0] and list(c) == [0.0, 0.0, 7.0]
    h, c = dju_costic(tn, tx)
    # day 2: (18−10)·(0.08 + 0.42·8/12) = 8·0.36 = 2.88 ; cooling (22−18)·(0.08+0.42·4/12)
    assert h == pytest.approx([13.0, 2.88, 0.0])
    assert c == pytest.approx([0.0, 4 * (0.08 + 0.42 * 4 / 12), 7.0])


def test_weather_fixture_and_nearest_station() -> None:
    w = parse_meteo_france_daily(FIXTURE)
    station, km = nearest_station(47.02, 4.84, w.stations)  # Beaune
    assert station.num_poste == "21999002" and km < 1
    with pytest.raises(EnergyInputError, match="séparateur"):
        parse_meteo_france_daily("NUM_POSTE,NOM_USUEL,LAT,LON,AAAAMMJJ\n")


def test_tertiaire_adjustment_and_gap() -> None:
    cold = YearConsumption(2012, {"gaz_naturel": 100_000.0}, dju_heating=2800, heating_share=0.5)
    assert climate_adjusted(cold, 2500) == pytest.approx(50_000 + 50_000 * 2500 / 2800)
    now = YearConsumption(2024, {"gaz_naturel": 70_000.0}, dju_heating=2500, heating_share=0.5)
    tr = trajectory("école", [cold, now], 2500)
    assert tr.reference_year == 2012
    assert tr.gap(2030) == pytest.approx(70_000 - 0.6 * tr.reference_kwh)


def test_5r1c_more_insulation_means_less_heating() -> None:
    hours = np.arange(24 * 60)
    t = 3.0 - 4 * np.cos(2 * np.pi * hours / 24)
    sol = np.zeros(hours.size)
    b = Building5R1C(floor_area=500, h_tr_op=400, h_tr_roof=150, h_tr_w=200, h_ve=150)
    poor = simulate(b, t, sol).sum()
    better = simulate(Building5R1C(500, 200, 75, 100, 150), t, sol).sum()
    assert 0 < better < poor


def _hourly_year(year: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UTC hour starts, hourly °C, solar W) of the fixture's Dijon station for a year:
    a sine between TN (at 3 h) and TX (at 15 h), a clear-sky solar proxy by season."""
    w = parse_meteo_france_daily(FIXTURE).stations["21999001"]
    sel = (w.days >= np.datetime64(f"{year}-01-01")) & (w.days < np.datetime64(f"{year + 1}-01-01"))
    tn, tx = w.tn[sel], w.tx[sel]
    hours = np.arange(24)
    shape = np.cos((hours - 15) / 24 * 2 * np.pi) * 0.5 + 0.5
    t = (tn[:, None] + (tx - tn)[:, None] * shape[None, :]).ravel()
    season = 0.6 + 0.4 * np.sin((np.arange(tn.size) - 80) / 365 * 2 * np.pi)
    sun = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None)
    solar = (3000.0 * season[:, None] * sun[None, :]).ravel()
    start = w.days[sel][0].astype("datetime64[s]").astype(np.int64) + 3600 * np.arange(t.size)
    return start, t, solar


def test_5r1c_calibration_recovers_a_known_envelope_and_base_load() -> None:
    _, t, solar = _hourly_year(2022)
    prior = Building5R1C(floor_area=800, h_tr_op=1150, h_tr_roof=480, h_tr_w=340, h_ve=440)
    true_scale, base = 1.6, 40.0
    true = replace(
        prior,
        h_tr_op=prior.h_tr_op * true_scale,
        h_tr_roof=prior.h_tr_roof * true_scale,
        h_tr_w=prior.h_tr_w * true_scale,
    )
    heat = simulate(true, t, solar).reshape(-1, 24).sum(axis=1) / 1000.0 / true.efficiency
    rng = np.random.default_rng(5)  # fixed seed; noise 5 % of the mean daily use
    obs = base + heat + rng.normal(0, 0.05 * (base + heat.mean()), heat.size)
    obs[rng.choice(obs.size, 20, replace=False)] = np.nan  # missing days are left out
    cal = calibrate(prior, t, solar, obs)
    # stated tolerance: the envelope within 3 %, the base load within 10 %
    assert cal.envelope_scale == pytest.approx(true_scale, rel=0.03)
    assert cal.building.h_tr_op == pytest.approx(true.h_tr_op, rel=0.03)
    assert cal.building.h_ve == prior.h_ve  # not identifiable from daily energy: kept
    assert cal.base_kwh_day == pytest.approx(base, rel=0.10)
    assert abs(cal.envelope_scale - true_scale) < 4 * cal.envelope_scale_se + 0.01
    assert cal.n_days == 345 and cal.cv_rmse == pytest.approx(0.05, abs=0.01)


def test_daily_regression_with_day_groups_recovers_weekend_drops() -> None:
    weather = parse_meteo_france_daily(FIXTURE).stations["21999001"]
    t = weather.mean_temperature()
    groups = day_groups(weather.days)
    rng = np.random.default_rng(7)  # fixed seed: the same draw every run
    heating = 6.0 * np.maximum(0.0, 16.0 - t)
    # a building closed at the weekend: base 120 → 70 kWh/day, the same heating
    offset = 120.0 - 50.0 * groups + heating + rng.normal(0, 8.0, t.size)
    # a school in setback at the weekend: everything × 0.6 (slope 6 → 3.6)
    setback = (120.0 + heating) * np.where(groups == 1, 0.6, 1.0) + rng.normal(0, 8.0, t.size)
    m_off, m_set = fit_daily_many(t, np.vstack([offset, setback]), groups)
    cold, mild = np.array([0.0, 0.0]), np.array([20.0, 20.0])
    week_end = np.array([0, 1])
    # stated tolerance: ±6 kWh/day on a 70–216 kWh/day prediction
    assert m_off.predict(cold, week_end) == pytest.approx([216.0, 166.0], abs=6.0)
    assert m_off.predict(mild, week_end) == pytest.approx([120.0, 70.0], abs=6.0)
    assert m_set.predict(cold, week_end) == pytest.approx([216.0, 129.6], abs=6.0)
    assert m_set.predict(mild, week_end) == pytest.approx([120.0, 72.0], abs=6.0)
    assert len(m_set.group_models) == 2  # its own slope per group: an offset cannot fit
    assert m_set.group_models[1].beta_hdd == pytest.approx(3.6, rel=0.1)
    assert m_set.n_params == 4
    for m, y in ((m_off, offset), (m_set, setback)):
        assert m.metrics.cvrmse < 0.6 * fit_daily(t, y).metrics.cvrmse


#: The header of Météo-France's daily files as published in 2025–2026 (`DRR;QDRR` came
#: after the others): the parser finds its columns by name, whatever follows.
CURRENT_HEADER = (
    "NUM_POSTE;NOM_USUEL;LAT;LON;ALTI;AAAAMMJJ;RR;QRR;TN;QTN;HTN;QHTN;TX;QTX;HTX;QHTX;"
    "TM;QTM;TNTXM;QTNTXM;TAMPLI;QTAMPLI;TNSOL;QTNSOL;TN50;QTN50;DG;QDG;FFM;QFFM;FF2M;"
    "QFF2M;FXY;QFXY;DXY;QDXY;HXY;QHXY;FXI;QFXI;DXI;QDXI;HXI;QHXI;FXI2;QFXI2;DXI2;QDXI2;"
    "HXI2;QHXI2;FXI3S;QFXI3S;DXI3S;QDXI3S;HXI3S;QHXI3S;DRR;QDRR"
)


def _daily_row(num: str, name: str, lat: float, lon: float, day: str, tn: str, tx: str) -> str:
    """One line in the published layout: the other parameters empty, as unmeasured ones are."""
    cells = dict.fromkeys(CURRENT_HEADER.split(";"), "")
    cells.update(NUM_POSTE=num, NOM_USUEL=name, LAT=f"{lat:.6f}", LON=f"{lon:.6f}")
    cells.update(ALTI="200", AAAAMMJJ=day, TN=tn, QTN="1" if tn else "", TX=tx, QTX="1")
    return ";".join(cells.values())


def test_weather_current_layout_missing_values_dju_and_nearest_station() -> None:
    """Columns found by name in the current header, an unmeasured TN left out of the
    degree-days (not read as 0 °C), both DJU methods against a computation done here,
    and each commune given its nearest station."""
    lines = [CURRENT_HEADER]
    for day, tn, tx in (
        ("20250106", "-2.4", "4.6"),
        ("20250107", "", "9.0"),
        ("20250108", "12.0", "21.0"),
    ):
        lines.append(_daily_row("21473001", "DIJON-LONGVIC", 47.268833, 5.088333, day, tn, tx))
    lines.append(_daily_row("21054001", "BEAUNE", 47.0253, 4.8447, "20250106", "-1.0", "6.0"))
    w = parse_meteo_france_daily("\n".join(lines) + "\n")
    assert not w.issues and set(w.stations) == {"21473001", "21054001"}
    dijon = w.stations["21473001"]
    assert dijon.station.name == "DIJON-LONGVIC" and dijon.days.size == 3
    assert np.isnan(dijon.tn[1]) and dijon.tx[1] == 9.0
    heat_mf, _ = dju_meteo_france(dijon.tn, dijon.tx)
    heat_costic, cool_costic = dju_costic(dijon.tn, dijon.tx)
    # by hand: day 1 mean (−2.4 + 4.6)/2 = 1.1 → 16.9 by both methods (TX < 18);
    # day 3: Météo-France 18 − 16.5 = 1.5; COSTIC (18 − 12)·(0.08 + 0.42·6/9) = 2.16,
    # cooling (21 − 18)·(0.08 + 0.42·3/9) = 0.66
    assert heat_mf[[0, 2]] == pytest.approx([16.9, 1.5])
    assert heat_costic[[0, 2]] == pytest.approx([16.9, 2.16])
    assert cool_costic[2] == pytest.approx(0.66)
    assert np.isnan(heat_mf[1]) and np.isnan(heat_costic[1])

    # Flavigny-sur-Ozerain (47.51, 4.53) is nearer Dijon-Longvic (49.9 km) than Beaune
    # (58.9 km); Meursault (46.98, 4.77) is 7.6 km from Beaune, 40.1 km from Dijon.
    # Distances checked by the spherical law of cosines, not the haversine used inside.
    def cosines_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
        return float(
            6371 * np.arccos(np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl))
        )

    station, km = nearest_station(47.51, 4.53, w.stations)
    assert station.num_poste == "21473001"
    assert km == pytest.approx(cosines_km(47.51, 4.53, 47.268833, 5.088333), abs=0.01)
    assert km == pytest.approx(49.86, abs=0.05)
    station, km = nearest_station(46.98, 4.77, w.stations)
    assert station.num_poste == "21054001"
    assert km == pytest.approx(cosines_km(46.98, 4.77, 47.0253, 4.8447), abs=0.01)


def test_operat_csv_layout_column_by_column() -> None:
    """Clocher's OPERAT layout (docs/energy.md): `;`, a header of the columns in order,
    one row per EFA and energy (energies sorted), decimal comma without thousands
    separator, kWh, a four-digit year, accents kept, a `;` inside a name quoted."""
    year = YearConsumption(
        2024, {"gaz_naturel": 81234.5678, "electricite": 1234567.0}, dju_heating=2512.345
    )
    decl = EfaDeclaration("21271-7", "École; maternelle", "212102716", "21271", 1250.5,
                          "Enseignement primaire", 2024, year)  # fmt: skip
    out = io.StringIO()
    write_operat_csv(operat_rows([decl]), out)
    text = out.getvalue()
    lines = text.split("\n")
    assert lines[0] == (
        "identifiant_efa;nom_efa;siren_structure;code_insee;surface_m2;categorie_activite;"
        "annee;type_energie;consommation_kwh;unite;dju_annee"
    )
    assert len(lines) == 4 and lines[3] == ""  # header, two energies, final newline
    assert lines[1].startswith('21271-7;"École; maternelle";212102716;')
    rows = [dict(zip(OPERAT_COLUMNS, cells, strict=True))
            for cells in csv.reader(io.StringIO(text), delimiter=";")][1:]  # fmt: skip
    elec, gas = rows
    assert elec["identifiant_efa"] == "21271-7" and elec["nom_efa"] == "École; maternelle"
    assert elec["siren_structure"] == "212102716" and elec["code_insee"] == "21271"
    assert elec["surface_m2"] == "1250,5"
    assert elec["categorie_activite"] == "Enseignement primaire"
    assert elec["annee"] == "2024"
    assert elec["type_energie"] == "electricite" and gas["type_energie"] == "gaz_naturel"
    assert elec["consommation_kwh"] == "1234567" and gas["consommation_kwh"] == "81234,568"
    assert elec["unite"] == gas["unite"] == "kWh"
    assert elec["dju_annee"] == gas["dju_annee"] == "2512,345"
