"""Energy figure: hourly baselines, Clocher's CalTRACK 2 hourly model vs OpenEEmeter's.

Same meters on both sides: synthetic hourly load curves over 2022 (baseline) and 2023
(reporting, for the out-of-sample error), driven by the committed weather fixture (Dijon
station; hourly temperature interpolated from TN/TX by `weather.hourly_temperatures`,
the app's own method, given to both sides), four structures in turn — an office (open
8–18 h on weekdays) with electric heating, a school (same, shut in July–August), an
office with heating and cooling, a building with no occupancy pattern — with AR(1)
hourly noise (ρ = 0.6, 8 %). Each side fits its CalTRACK hourly model on 2022:
- Clocher: `engine.hourly.fit_hourly` (12 monthly models, three-month weights), one
  meter after the other, in this process;
- peer: `opendsm.eemeter.models.hourly_caltrack.HourlyModel` (CalTRACK hourly,
  "three_month_weighted" segments, °F), per meter, in a separate process, its
  `HourlyBaselineData.from_series` included in the timed fit.
Fit quality: G14 CV(RMSE) = √(Σ(y − ŷ)²/(n − p))/ȳ on the baseline hours, each side
with its own parameter count (the peer's: the coefficients of its 12 segment models),
computed here the same way for both; and the plain √mean(r²)/ȳ on 2023 (out of sample).
Speed: CPU seconds of the fits on the same meters; the peer takes seconds a meter, so
it runs on a sample (`--peer-sample`) and Clocher's per-meter time is compared with it.

Usage: .venv/bin/python bench/energy_hourly.py [--meters 40] [--peer-sample 12]
Goals (issue 17): CV(RMSE) no worse than the peer's on ≥ 90 % of meters; faster.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _peer import run_peer
from energy_baseline import cvrmse

from clocher.energy.engine.hourly import fit_hourly, local_month, time_of_week
from clocher.energy.engine.weather import hourly_temperatures, parse_meteo_france_daily

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests/energy/fixtures/Q_21_synthetique-2022-2023_RR-T-Vent.csv"
KINDS = ("bureau chauffé", "école (fermée l'été)", "bureau chauffé+clim", "sans horaires")


def weather() -> tuple[np.ndarray, np.ndarray, int]:
    """(UTC hour starts of 2022–2023 local, hourly °C, index of the first 2023 hour)."""
    w = parse_meteo_france_daily(FIXTURE).stations["21999001"]
    first = int(np.datetime64("2021-12-31T23:00", "s").astype(np.int64))  # 00:00 local
    split = int(np.datetime64("2022-12-31T23:00", "s").astype(np.int64))
    last = int(np.datetime64("2023-12-31T23:00", "s").astype(np.int64))
    start = np.arange(first, last, 3600, dtype=np.int64)
    temp = hourly_temperatures(w.days, w.tn, w.tx, w.tm, start)
    temp = np.where(np.isfinite(temp), temp, np.nanmean(temp[:48]))  # 1 Jan before 06 h
    return start, temp, int(np.searchsorted(start, split))


def meters(n: int, start: np.ndarray, temp: np.ndarray) -> np.ndarray:
    """n × hours kWh."""
    rng = np.random.default_rng(2026)
    tow = time_of_week(start)
    open_ = (tow // 24 < 5) & (tow % 24 >= 8) & (tow % 24 < 18)
    summer = np.isin(local_month(start), [7, 8])
    out = np.empty((n, start.size))
    for m in range(n):
        kind = m % 4
        base = rng.uniform(2, 40)
        y = np.full(start.size, base)
        if kind != 3:
            y = y * np.where(open_, rng.uniform(2.0, 4.0), 1.0)
        if kind == 1:
            y = np.where(summer & open_, base * 1.1, y)
        heat = rng.uniform(0.03, 0.12) * base * np.maximum(0.0, rng.uniform(12, 17) - temp)
        y = y + heat * np.where(open_ | (kind == 3), 1.0, 0.5)
        if kind == 2:
            y = y + rng.uniform(0.05, 0.15) * base * np.maximum(0.0, temp - 22) * open_
        e = rng.normal(0, 0.08, start.size)
        for i in range(1, e.size):  # AR(1), ρ = 0.6
            e[i] += 0.6 * e[i - 1]
        out[m] = np.maximum(y * (1 + e), 0.01)
    return out


def peer_worker(work: str, rows: list[int], split: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """In its own process: import, one warm-up fit, then the timed fits."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    import pandas as pd
    from opendsm.eemeter.models.hourly_caltrack import (
        HourlyBaselineData,
        HourlyModel,
    )
    from opendsm.eemeter.models.hourly_caltrack.data import HourlyReportingData

    start = np.load(Path(work) / "start.npy")
    temp = np.load(Path(work) / "temp.npy")
    kwh = np.load(Path(work) / "kwh.npy", mmap_mode="r")
    index = pd.to_datetime(start, unit="s", utc=True).tz_convert("Europe/Paris")
    temp_f = pd.Series(temp * 9 / 5 + 32, index=index, name="temperature")

    def fit(m: int) -> tuple[object, int]:
        meter = pd.Series(kwh[m, :split], index=index[:split], name="observed", dtype=float)
        data = HourlyBaselineData.from_series(meter, temp_f[:split], is_electricity_data=True)
        model = HourlyModel().fit(data)
        p = sum(len(s.model_params or {}) for s in model.model.model.segment_models)
        return model, p

    def predict(model: object, m: int, part: slice) -> tuple[np.ndarray, np.ndarray]:
        meter = pd.Series(kwh[m, part], index=index[part], name="observed", dtype=float)
        data = HourlyReportingData.from_series(meter, temp_f[part], is_electricity_data=True)
        pred = model.predict(data)  # type: ignore[attr-defined]
        return pred["observed"].to_numpy(dtype=float), pred["predicted"].to_numpy(dtype=float)

    fit(rows[0])  # warm-up: first imports and caches are not the fit
    results, cpu = {}, 0.0
    for m in rows:
        c0 = time.process_time()
        model, p = fit(m)
        cpu += time.process_time() - c0
        obs, pred = predict(model, m, slice(0, split))
        obs2, pred2 = predict(model, m, slice(split, None))
        results[m] = (cvrmse(obs, pred, p), cvrmse(obs2, pred2), p)
    out.put((results, cpu))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meters", type=int, default=40)
    ap.add_argument("--peer-sample", type=int, default=12)
    args = ap.parse_args()
    start, temp, split = weather()
    kwh = meters(args.meters, start, temp)
    print(f"{args.meters} meters × {start.size:,} hours (2022 baseline, 2023 reporting)")

    ours, cpu = {}, 0.0
    for m in range(args.meters):
        c0 = time.process_time()
        model = fit_hourly(start[:split], temp[:split], kwh[m, :split])
        cpu += time.process_time() - c0
        later = model.predict(start[split:], temp[split:])
        ours[m] = (model.metrics.cvrmse, cvrmse(kwh[m, split:], later), model.metrics.p)
    per_meter = cpu / args.meters
    print(f"Clocher: {args.meters} meters fitted, CPU {cpu:.2f} s, {per_meter * 1000:.0f} ms/meter")

    sample = np.unique(np.linspace(0, args.meters - 1, args.peer_sample).round().astype(int))
    with tempfile.TemporaryDirectory(prefix="clocher-energy-hourly-") as work:
        np.save(Path(work) / "start.npy", start)
        np.save(Path(work) / "temp.npy", temp)
        np.save(Path(work) / "kwh.npy", kwh)
        peer, cpu_p = run_peer(peer_worker, (work, sample.tolist(), split))
    peer_per_meter = cpu_p / sample.size
    print(
        f"OpenEEmeter (opendsm hourly_caltrack.HourlyModel): {sample.size} meters, CPU "
        f"{cpu_p:.1f} s, {peer_per_meter:.2f} s/meter"
    )
    ratio = peer_per_meter / per_meter
    print(f"speed ratio peer/Clocher (CPU per meter): {ratio:,.1f}×")
    ok = ok_out = 0
    for m in sample:
        g14_o, out_o, p_o = ours[m]
        g14_p, out_p, p_p = peer[m]
        ok += g14_o <= g14_p * 1.0005
        ok_out += out_o <= out_p * 1.0005
        print(
            f"  meter {m:3d} {KINDS[m % 4]:22s} G14 CV(RMSE) Clocher {g14_o:6.2%} (p={p_o}) "
            f"peer {g14_p:6.2%} (p={p_p})  {'ok' if g14_o <= g14_p * 1.0005 else 'worse'}"
            f"   2023: {out_o:6.2%} vs {out_p:6.2%}"
        )
    share = ok / sample.size
    rel = np.array([ours[m][0] / peer[m][0] for m in sample])
    print(
        f"G14 CV(RMSE) on 2022 no worse than the peer's (within 0.05 %) on {ok}/{sample.size} "
        f"meters = {share:.0%} (goal ≥ 90 %: {'met' if share >= 0.9 else 'NOT met'}); median "
        f"Clocher/peer {np.median(rel):.4f}, worst {rel.max():.4f}; out of sample (2023): "
        f"{ok_out}/{sample.size}"
    )
    print(
        f"process CPU: Clocher {per_meter * sample.size:.2f} s for the sample's {sample.size} "
        f"meters, peer {cpu_p:.1f} s; load average {os.getloadavg()[0]:.2f}; "
        f"{os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
