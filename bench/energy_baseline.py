"""Energy figure: daily baselines, Clocher's CalTRACK fit vs OpenEEmeter's daily model.

Same meters on both sides: synthetic half-hourly curves over two years (2022–2023)
driven by the committed weather fixture (Dijon station, hourly temperature from a sine
between TN and TX), of four structures in turn — heating only, heating + cooling, base
only, heating with outliers (2 % of days ×0.2 or ×2.5) — with AR(1) day-to-day noise,
half-hourly noise and, for one meter in three, a weekend drop (a school shut on
Saturdays and Sundays: −40 %). Each side gets the half-hourly curves and the
temperature and does its own aggregation to days (timed as part of the fit):
- Clocher: `daily_kwh_many` (Europe/Paris days, 90 % coverage) then `fit_daily_many`
  with the weekday/weekend day groups, all meters at once, in this process;
- peer: `opendsm.eemeter.DailyBaselineData.from_series` (half-hourly meter and
  temperature series, °F, Europe/Paris index) then `DailyModel().fit(...)` per meter,
  its default ("current") settings, in a separate process; two years are outside its
  12-month baseline rule, so `ignore_disqualification=True`.
Fit quality: CV(RMSE) = √(mean (y − ŷ)²) / ȳ on the days each side fitted, computed here
the same way for both (no degrees-of-freedom correction: that favours the peer, whose
models have more parameters). Speed: the peer takes ~10–20 s a meter, so it is timed on
a sample of meters (`--peer-sample`), every structure in it, and scaled; the quality
share is over that sample too.

opendsm 1.2.7 imports scikit-fda, which does not import with multimethod ≥ 2 (metaclass
conflict): the dev extra pins multimethod < 2, so the peer is imported as it is.
Usage: .venv/bin/python bench/energy_baseline.py [--meters 1000] [--peer-sample 24]
Goals (issue 17): CV(RMSE) no worse than the peer's on ≥ 90 % of meters; ≥ 2× faster.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from _peer import run_peer

from clocher.energy.engine._timeutil import local_days_paris, paris_offset_utc
from clocher.energy.engine.baseline import daily_kwh_many, day_groups, fit_daily_many
from clocher.energy.engine.weather import parse_meteo_france_daily

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests/energy/fixtures/Q_21_synthetique-2022-2023_RR-T-Vent.csv"
KINDS = ("chauffage", "chauffage+clim", "base seule", "chauffage+aberrants")
STEP = 1800


def weather() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(half-hour UTC starts, half-hourly °C, local days, daily mean °C) for 2022–2023."""
    w = parse_meteo_france_daily(FIXTURE).stations["21999001"]
    first = int(np.datetime64("2021-12-31T23:00", "s").astype(np.int64))  # 00:00 local
    last = int(np.datetime64("2023-12-31T23:00", "s").astype(np.int64))
    start = np.arange(first, last, STEP, dtype=np.int64)
    day = local_days_paris(start)
    idx = np.searchsorted(w.days.astype(np.int64), day)
    tn, tx = w.tn[idx], w.tx[idx]
    hour = ((start + paris_offset_utc(start)) % 86_400) / 3600.0
    t = tn + (tx - tn) * (np.cos((hour - 15) / 24 * 2 * np.pi) * 0.5 + 0.5)
    days = np.unique(day)
    j = np.searchsorted(w.days.astype(np.int64), days)
    return start, t, days, (w.tn[j] + w.tx[j]) / 2.0


def meters(n: int, start: np.ndarray, days: np.ndarray, tday: np.ndarray) -> np.ndarray:
    """n × half-hours kWh (float32 to halve the memory: 1,000 meters are 140 MB)."""
    rng = np.random.default_rng(2026)
    day = local_days_paris(start)
    col = np.searchsorted(days, day)
    hour = ((start + paris_offset_utc(start)) % 86_400) / 3600.0
    weekday = (days + 3) % 7  # 0 = Monday
    out = np.empty((n, start.size), dtype=np.float32)
    for m in range(n):
        kind = m % 4
        base = rng.uniform(40, 400)
        y = np.full(days.size, base)
        if kind in (0, 1, 3):
            y += rng.uniform(0.05, 0.25) * base * np.maximum(0.0, rng.uniform(13, 18) - tday)
        if kind == 1:
            y += rng.uniform(0.03, 0.10) * base * np.maximum(0.0, tday - rng.uniform(20, 24))
        if m % 3 == 0:
            y *= np.where(weekday >= 5, 0.6, 1.0)
        e = rng.normal(0, 0.06, days.size)
        for i in range(1, e.size):  # AR(1), ρ = 0.5
            e[i] += 0.5 * e[i - 1]
        y *= 1 + e
        if kind == 3:
            bad = rng.random(days.size) < 0.02
            y = np.where(bad, y * rng.choice([0.2, 2.5], days.size), y)
        shape = 0.6 + 0.8 * np.exp(-(((hour - 13.0) / 4.0) ** 2))
        share = shape / np.bincount(col, weights=shape)[col]
        hh = y[col] * share * (1 + rng.normal(0, 0.1, start.size))
        out[m] = np.maximum(hh, 0.0)
    return out


def cvrmse(y: np.ndarray, yhat: np.ndarray, p: int = 0) -> float:
    """√(Σ(y − ŷ)²/(n − p)) / ȳ: ASHRAE G14's with p the model's parameters, plain with 0."""
    ok = np.isfinite(y) & np.isfinite(yhat)
    r = y[ok] - yhat[ok]
    return float(np.sqrt((r @ r) / (r.size - p)) / np.mean(y[ok]))


def clocher_fit(start: np.ndarray, hh: np.ndarray, tday: np.ndarray) -> tuple[list, np.ndarray]:
    days, daily = daily_kwh_many(start, hh, STEP)
    models = fit_daily_many(tday, daily, day_groups(days))
    return models, daily


def peer_worker(work: str, rows: list[int], out: mp.Queue) -> None:  # type: ignore[type-arg]
    """In its own process: import, one warm-up fit (numba compiles), then the timed fits."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    import pandas as pd
    from opendsm.eemeter import DailyBaselineData, DailyModel

    start = np.load(Path(work) / "start.npy")
    temp = np.load(Path(work) / "temp.npy")
    hh = np.load(Path(work) / "hh.npy", mmap_mode="r")
    index = pd.to_datetime(start, unit="s", utc=True).tz_convert("Europe/Paris")
    temp_f = pd.Series(temp * 9 / 5 + 32, index=index)

    def fit(m: int) -> tuple[pd.Series, pd.Series, int]:
        meter = pd.Series(np.asarray(hh[m], dtype=float), index=index)
        data = DailyBaselineData.from_series(meter, temp_f, is_electricity_data=True)
        model = DailyModel().fit(data, ignore_disqualification=True)
        pred = model.predict(data, ignore_disqualification=True)
        p = int(model.baseline_metrics.num_model_params)
        return pred["observed"], pred["predicted"], p

    fit(rows[0])  # warm-up: numba's JIT compilation is not the fit
    results = {}
    c0, w0 = time.process_time(), time.perf_counter()
    for m in rows:
        obs, pred, p = fit(m)
        o, e = obs.to_numpy(dtype=float), pred.to_numpy(dtype=float)
        results[m] = (cvrmse(o, e, p), cvrmse(o, e))
    out.put((results, time.perf_counter() - w0, time.process_time() - c0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--peer-sample", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3, help="Clocher's fit: best of N")
    args = ap.parse_args()
    start, temp, days, tday = weather()
    t0 = time.perf_counter()
    hh = meters(args.meters, start, days, tday)
    print(
        f"{args.meters} meters × {start.size:,} half-hours ({days.size} days), "
        f"generated in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )

    best, cpu = float("inf"), 0.0
    for _ in range(args.rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        models, daily = clocher_fit(start, hh, tday)
        wall = time.perf_counter() - w0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    groups = day_groups(days)
    ours = np.array(
        [cvrmse(daily[i], m.predict(tday, groups), m.n_params) for i, m in enumerate(models)]
    )
    ours_plain = np.array([cvrmse(daily[i], m.predict(tday, groups)) for i, m in enumerate(models)])
    kinds = [m.kind for m in models]
    print(
        f"Clocher: {args.meters} meters aggregated and fitted in {best:.2f} s "
        f"(CPU {cpu:.2f} s, best of {args.rounds}), {best / args.meters * 1000:.2f} ms/meter; "
        f"models: " + ", ".join(f"{k} {kinds.count(k)}" for k in sorted(set(kinds)))
    )

    sample = np.unique(np.linspace(0, args.meters - 1, args.peer_sample).round().astype(int))
    with tempfile.TemporaryDirectory(prefix="clocher-energy-baseline-") as work:
        np.save(Path(work) / "start.npy", start)
        np.save(Path(work) / "temp.npy", temp)
        np.save(Path(work) / "hh.npy", hh)
        peer, wall_p, cpu_p = run_peer(peer_worker, (work, sample.tolist()))
    per_meter = wall_p / sample.size
    scaled = per_meter * args.meters
    print(
        f"OpenEEmeter (opendsm DailyModel): {sample.size} meters in {wall_p:.1f} s "
        f"(CPU {cpu_p:.1f} s), {per_meter:.2f} s/meter → scaled to {args.meters}: "
        f"{scaled:,.0f} s (timed on a sample of {sample.size} and scaled)"
    )
    ratio = scaled / best
    verdict = "met" if ratio >= 2 else "NOT met"
    print(f"speed ratio peer/Clocher: {ratio:,.0f}× (goal ≥ 2×: {verdict})")

    ok = ok_plain = 0
    for m in sample:
        g14_p, plain_p = peer[m]
        ok += ours[m] <= g14_p
        ok_plain += ours_plain[m] <= plain_p
        split = "split" if models[m].group_models else "grp" if models[m].group_intercepts else ""
        print(
            f"  meter {m:4d} {KINDS[m % 4]:20s} {'w-e' if m % 3 == 0 else '   '} "
            f"Clocher {ours[m]:6.2%} ({models[m].kind} {split}, p={models[m].n_params}) "
            f"peer {g14_p:6.2%}  {'ok' if ours[m] <= g14_p else 'worse'}"
            f"   plain: {ours_plain[m]:6.2%} vs {plain_p:6.2%}"
        )
    share = ok / sample.size
    rel = np.array([ours[m] / peer[m][0] for m in sample])
    near = int((rel <= 1.01).sum())
    print(
        f"CV(RMSE) (G14, n − p) no worse than the peer's on {ok}/{sample.size} meters = "
        f"{share:.0%} (goal ≥ 90 %: {'met' if share >= 0.9 else 'NOT met'}); median "
        f"Clocher/peer {np.median(rel):.3f}, worst {rel.max():.3f}; plain √mean(r²)/ȳ: "
        f"{ok_plain}/{sample.size}; within 1 % of the peer's value (G14): {near}/{sample.size}; "
        f"Clocher on all {args.meters}: median {np.median(ours):.2%}"
    )
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"process CPU: Clocher {cpu:.2f} s, peer {cpu_p:.1f} s; "
        f"max RSS of the peer process {rss:.0f} MiB; {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
