"""Energy figure: Enedis load-curve import, Clocher's parser vs pandas.read_csv, rows/s.

One year (2023) of 10-minute load curve per meter, in the SGE layout the engine reads
(`Horodate;Valeur;Pas`, local Europe/Paris wall times without offset, so the October
hour appears twice and the March hour not at all; mean power in W; `PT10M`), one file per
meter, generated into a temporary directory first (not timed). Every file is read once
before timing so that both sides parse from the page cache, not the disk; then rounds
alternate which side goes first and each side keeps its best round.

Peer: `pandas.read_csv(path, sep=";", parse_dates=["Horodate"], date_format=...)` with
its C engine — timestamps and values typed, nothing more. Clocher's parser also checks
every field, applies the DST fold rule, converts to UTC, sorts, deduplicates and lists
gaps. Both sides run in this one process, one after the other (one core each).

Usage: .venv/bin/python bench/energy_import.py [--meters 1000] [--rounds 2] [--work DIR]
Goal (issue 17): ≥ 1,000,000 rows/s for Clocher.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from clocher.energy.engine._timeutil import paris_offset_utc
from clocher.energy.engine.loadcurve import parse_load_curve

GOAL_ROWS_S = 1_000_000


def generate(work: Path, meters: int) -> int:
    """Write one file per meter; return the rows per file."""
    first = int(np.datetime64("2022-12-31T23:10:00", "s").astype(np.int64))  # 00:10 local
    end_utc = first + np.arange(365 * 144) * 600
    local = (end_utc + paris_offset_utc(end_utc)).astype("datetime64[s]")
    stamps = [s.replace("T", " ") + ";" for s in np.datetime_as_string(local, unit="s")]
    hour = (local.astype(np.int64) % 86_400) / 3600.0
    profile = 800.0 + 1500.0 * np.exp(-(((hour - 13.0) / 4.0) ** 2))
    rng = np.random.default_rng(17)
    for m in range(meters):
        watts = np.maximum(profile * rng.uniform(0.5, 3.0) + rng.normal(0, 120, hour.size), 0)
        values = watts.astype(np.int64).astype(str)
        body = "".join([s + v + ";PT10M\n" for s, v in zip(stamps, values, strict=True)])
        (work / f"courbe_{m:04d}.csv").write_text("Horodate;Valeur;Pas\n" + body)
    return len(stamps)


def clocher_side(files: list[Path]) -> float:
    total = 0.0
    for f in files:
        total += float(parse_load_curve(f).wh.sum())
    return total


def pandas_side(files: list[Path]) -> float:
    import pandas as pd

    total = 0.0
    for f in files:
        df = pd.read_csv(f, sep=";", parse_dates=["Horodate"], date_format="%Y-%m-%d %H:%M:%S")
        total += float(df["Valeur"].sum())
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clocher-energy-import-", dir=args.work))
    try:
        t0 = time.perf_counter()
        rows_per_file = generate(work, args.meters)
        files = sorted(work.glob("courbe_*.csv"))
        size = sum(f.stat().st_size for f in files)
        for f in files:  # into the page cache: the parsers are measured, not the disk
            f.read_bytes()
        rows = rows_per_file * len(files)
        print(
            f"{len(files)} meters × {rows_per_file:,} rows = {rows:,} rows, "
            f"{size / 2**20:,.0f} MiB, generated in {time.perf_counter() - t0:.1f} s"
        )
        best = {"clocher": float("inf"), "pandas": float("inf")}
        cpu = {"clocher": 0.0, "pandas": 0.0}
        sides = {"clocher": clocher_side, "pandas": pandas_side}
        check: dict[str, float] = {}
        for r in range(args.rounds):
            order = ["clocher", "pandas"] if r % 2 == 0 else ["pandas", "clocher"]
            for name in order:
                c0, w0 = time.process_time(), time.perf_counter()
                check[name] = sides[name](files)
                wall = time.perf_counter() - w0
                if wall < best[name]:
                    best[name], cpu[name] = wall, time.process_time() - c0
                print(f"  round {r + 1} {name:8s} {wall:7.2f} s  {rows / wall:>12,.0f} rows/s")
        # Clocher's Wh = W × 600/3600: the same readings on both sides
        assert abs(check["clocher"] * 6 - check["pandas"]) <= 1e-6 * check["pandas"]
        rc, rp = rows / best["clocher"], rows / best["pandas"]
        print(
            f"Clocher parse_load_curve: {rc:,.0f} rows/s (best {best['clocher']:.2f} s, "
            f"CPU {cpu['clocher']:.2f} s)"
        )
        print(
            f"pandas.read_csv (C engine): {rp:,.0f} rows/s (best {best['pandas']:.2f} s, "
            f"CPU {cpu['pandas']:.2f} s)"
        )
        met = "met" if rc >= GOAL_ROWS_S else "NOT met"
        print(f"ratio Clocher/pandas: {rc / rp:.2f}; goal ≥ {GOAL_ROWS_S:,} rows/s: {met}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
