"""CalTRACK 2 hourly baseline: time of week × occupancy × temperature, one model per month.

Interface:
- `fit_hourly(start_utc, temp_c, kwh)` → `HourlyModel` on hourly rows (UTC epoch starts
  of the hours, hourly °C, kWh of each hour);
- `HourlyModel.predict(start_utc, temp_c)` → kWh per hour;
- `HourlyModel.to_params()` / `HourlyModel.from_params(dict)`: JSON-ready storage;
- `avoided_energy_hourly(model, start_utc, temp_c, kwh)` → `Savings` (ASHRAE 14).

What CalTRACK 2 specifies (section 3.x of the CalTRACK methods, as OpenEEmeter's
`hourly_caltrack` implements it) and is done here:
- 12 models, one per calendar month: the model of month m is a weighted least squares
  on months m−1, m and m+1 with weights 0.5, 1 and 0.5 ("three_month_weighted");
- occupancy per model: a weighted regression kWh ~ 1 + HDD(10 °C) + CDD(18.3 °C), each
  hour of the week (168, Europe/Paris, Monday 00 h = 0) is occupied when more than 65 %
  of its residuals are positive;
- temperature bins per model and per occupancy: endpoints 30/45/55/65/75/90 °F, a bin
  with fewer than 20 hours is merged with its neighbour (outer bins first);
- kWh = α[hour of week] + Σ_k β_occ(h),k · bin_k(T): 168 intercepts, one piecewise-linear
  temperature response for occupied hours and one for unoccupied hours.
The sums are taken in closed form: the 168 intercepts are partialled out (within-hour
means, Frisch–Waugh), leaving at most 14 columns per model. A month without any hour
in its window is predicted by the model of the whole baseline (fitted the same way,
every hour weighted 1), and so is an hour of the week a month's window never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clocher.energy.engine._timeutil import DAY, HOUR, paris_offset_utc
from clocher.energy.engine.baseline import G14Metrics, Savings, fsu_kwh, g14
from clocher.energy.engine.errors import EnergyInputError

#: CalTRACK's temperature bin endpoints, 30/45/55/65/75/90 °F, in °C.
BIN_EDGES_F = (30.0, 45.0, 55.0, 65.0, 75.0, 90.0)
BIN_EDGES_C = tuple((f - 32.0) * 5.0 / 9.0 for f in BIN_EDGES_F)
MIN_BIN_HOURS = 20  # a bin with fewer hours is merged (CalTRACK)
OCCUPANCY_SHARE = 0.65  # occupied: more than 65 % of the hour's residuals positive
OCCUPANCY_HDD_C = (50.0 - 32.0) * 5.0 / 9.0  # 50 °F: the occupancy regression's HDD …
OCCUPANCY_CDD_C = (65.0 - 32.0) * 5.0 / 9.0  # … and 65 °F its CDD
NEIGHBOUR_WEIGHT = 0.5  # months m−1 and m+1 in the model of month m
MIN_HOURS = 24 * 28


def time_of_week(start_utc: np.ndarray) -> np.ndarray:
    """0–167, Monday 00 h local (Europe/Paris) = 0."""
    start = np.asarray(start_utc, dtype=np.int64)
    local = start + paris_offset_utc(start)
    day = local // DAY
    return ((day + 3) % 7) * 24 + (local % DAY) // HOUR  # 1970-01-01 was a Thursday


def local_month(start_utc: np.ndarray) -> np.ndarray:
    """Calendar month (1–12) of each instant in Europe/Paris."""
    start = np.asarray(start_utc, dtype=np.int64)
    local = (start + paris_offset_utc(start)).astype("datetime64[s]")
    return local.astype("datetime64[M]").astype(np.int64) % 12 + 1


def kept_edges(temps: np.ndarray, edges: tuple[float, ...] = BIN_EDGES_C) -> np.ndarray:
    """CalTRACK's bin merging: drop the endpoint of an outer bin holding fewer than
    `MIN_BIN_HOURS` hours (both ends at once), else of every thin inner bin, until none."""
    t = np.asarray(temps, dtype=float)
    kept = sorted(edges)
    while kept:
        counts = np.bincount(np.searchsorted(kept, t, side="left"), minlength=len(kept) + 1)
        thin = counts < MIN_BIN_HOURS
        drop = set()
        if thin[0]:
            drop.add(kept[0])
        if thin[-1]:
            drop.add(kept[-1])
        if not drop:
            drop = {kept[i] for i in range(1, len(kept)) if thin[i]}
        if not drop:
            break
        kept = [e for e in kept if e not in drop]
    return np.asarray(kept, dtype=float)


def bin_features(temp_c: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Piecewise-linear features (hours × (bins)): the first is min(T, e₁), the k-th
    the part of T inside bin k; they add up to T, so each coefficient is a slope."""
    t = np.asarray(temp_c, dtype=float)[:, None]
    e = np.asarray(edges, dtype=float)
    if e.size == 0:
        return t.copy()
    lo = np.r_[-np.inf, e][None, :]
    hi = np.r_[e, np.inf][None, :]
    out = np.clip(t, lo, hi) - np.where(np.isfinite(lo), lo, 0.0)
    return out


@dataclass(frozen=True)
class HourlySegment:
    """One weighted least-squares model (a month's window, or the whole baseline)."""

    month: int  # 1–12, or 0 for the whole baseline
    tow_coef: np.ndarray  # 168 intercepts, NaN for an hour of the week never seen
    occupied: np.ndarray  # 168 booleans
    edges_occ: np.ndarray
    coef_occ: np.ndarray
    edges_unocc: np.ndarray
    coef_unocc: np.ndarray
    n_params: int

    def predict(self, tow: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        occ = self.occupied[tow]
        y_occ = bin_features(temp_c, self.edges_occ) @ self.coef_occ
        y_unocc = bin_features(temp_c, self.edges_unocc) @ self.coef_unocc
        return np.asarray(self.tow_coef[tow] + np.where(occ, y_occ, y_unocc))

    def to_params(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "tow": [None if not np.isfinite(v) else round(float(v), 6) for v in self.tow_coef],
            "occupied": "".join("1" if o else "0" for o in self.occupied),
            "edges_occ": [round(float(v), 6) for v in self.edges_occ],
            "coef_occ": [round(float(v), 6) for v in self.coef_occ],
            "edges_unocc": [round(float(v), 6) for v in self.edges_unocc],
            "coef_unocc": [round(float(v), 6) for v in self.coef_unocc],
            "n_params": self.n_params,
        }

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> HourlySegment:
        return cls(
            int(p["month"]),
            np.array([np.nan if v is None else v for v in p["tow"]], dtype=float),
            np.array([c == "1" for c in p["occupied"]], dtype=bool),
            np.asarray(p["edges_occ"], dtype=float),
            np.asarray(p["coef_occ"], dtype=float),
            np.asarray(p["edges_unocc"], dtype=float),
            np.asarray(p["coef_unocc"], dtype=float),
            int(p["n_params"]),
        )


def _occupancy(tow: np.ndarray, t: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """CalTRACK: an hour of the week is occupied when the use exceeds a plain weighted
    HDD(50 °F)/CDD(65 °F) fit more than 65 % of the time."""
    x = np.column_stack(
        [
            np.ones_like(t),
            np.maximum(0.0, OCCUPANCY_HDD_C - t),
            np.maximum(0.0, t - OCCUPANCY_CDD_C),
        ]
    )
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
    seen = w > 0
    above = np.bincount(tow[seen], weights=(y - x @ beta > 0)[seen].astype(float), minlength=168)
    count = np.bincount(tow[seen], minlength=168)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(above / count > OCCUPANCY_SHARE)


def _fit_segment(
    month: int, tow: np.ndarray, t: np.ndarray, y: np.ndarray, w: np.ndarray
) -> HourlySegment:
    """Weighted least squares of one window, the 168 intercepts partialled out."""
    keep = w > 0
    tow, t, y, w = tow[keep], t[keep], y[keep], w[keep]
    occupied = _occupancy(tow, t, y, w)
    occ_row = occupied[tow]
    edges_occ = kept_edges(t[occ_row])
    edges_unocc = kept_edges(t[~occ_row])
    x = np.hstack(
        [
            bin_features(t, edges_occ) * occ_row[:, None],
            bin_features(t, edges_unocc) * (~occ_row)[:, None],
        ]
    )
    wg = np.bincount(tow, weights=w, minlength=168)
    seen = wg > 0
    inv = np.where(seen, 1.0 / np.where(seen, wg, 1.0), 0.0)
    ybar = np.bincount(tow, weights=w * y, minlength=168) * inv
    xbar = np.column_stack(
        [np.bincount(tow, weights=w * x[:, k], minlength=168) * inv for k in range(x.shape[1])]
    )
    sw = np.sqrt(w)
    beta, _, rank, _ = np.linalg.lstsq(
        (x - xbar[tow]) * sw[:, None], (y - ybar[tow]) * sw, rcond=None
    )
    tow_coef = np.where(seen, ybar - xbar @ beta, np.nan)
    k_occ = edges_occ.size + 1
    return HourlySegment(
        month,
        tow_coef,
        occupied,
        edges_occ,
        beta[:k_occ],
        edges_unocc,
        beta[k_occ:],
        int(seen.sum()) + int(rank),
    )


@dataclass(frozen=True)
class HourlyModel:
    """CalTRACK 2 hourly model: `months[m − 1]` predicts the hours of month m (None when
    the baseline had no hour in its window), `year` the rest.

    `n`, `rmse`, `rho` (lag-1 autocorrelation of the hourly residuals) and `metrics` (G14,
    hourly limits) describe the fit on the baseline hours; `daily_rmse` and `daily_n` the
    error of the model's daily totals (the interval of a day's kWh, for the drifts).
    """

    months: tuple[HourlySegment | None, ...]
    year: HourlySegment
    n: int
    rmse: float
    rho: float
    metrics: G14Metrics
    daily_rmse: float
    daily_n: int

    kind = "caltrack_hourly"

    @property
    def n_params(self) -> int:
        return self.metrics.p

    def predict(self, start_utc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        """kWh of each hour starting at `start_utc` (UTC epoch s) at `temp_c` °C."""
        start = np.asarray(start_utc, dtype=np.int64)
        t = np.asarray(temp_c, dtype=float)
        pred, _ = _predict(self.months, self.year, time_of_week(start), local_month(start), t)
        return pred

    def occupied_share(self) -> float:
        """Share of the hours of the week occupied, averaged over the months' models."""
        shown = [s.occupied.mean() for s in self.months if s is not None] or [
            self.year.occupied.mean()
        ]
        return float(np.mean(shown))

    def to_params(self) -> dict[str, Any]:
        return {
            "months": [None if s is None else s.to_params() for s in self.months],
            "year": self.year.to_params(),
            "rmse": self.rmse,
            "rho": self.rho,
            "daily_rmse": self.daily_rmse,
            "daily_n": self.daily_n,
            "n_params": self.metrics.p,
        }

    @classmethod
    def from_params(cls, p: dict[str, Any], metrics: G14Metrics) -> HourlyModel:
        return cls(
            tuple(None if s is None else HourlySegment.from_params(s) for s in p["months"]),
            HourlySegment.from_params(p["year"]),
            metrics.n,
            float(p["rmse"]),
            float(p["rho"]),
            metrics,
            float(p["daily_rmse"]),
            int(p["daily_n"]),
        )


def month_weights(month: np.ndarray, m: int) -> np.ndarray:
    """CalTRACK 2's weights of the model of month m: 1 for m, 0.5 for m ± 1, else 0."""
    before, after = (m - 2) % 12 + 1, m % 12 + 1
    return np.where(
        month == m, 1.0, np.where((month == before) | (month == after), NEIGHBOUR_WEIGHT, 0.0)
    )


def fit_hourly(start_utc: np.ndarray, temp_c: np.ndarray, kwh: np.ndarray) -> HourlyModel:
    """Fit the CalTRACK 2 hourly model on the hours where both °C and kWh are finite."""
    start = np.asarray(start_utc, dtype=np.int64)
    t = np.asarray(temp_c, dtype=float)
    y = np.asarray(kwh, dtype=float)
    if not start.shape == t.shape == y.shape:
        raise EnergyInputError("heures, températures et consommations de longueurs différentes")
    ok = np.isfinite(t) & np.isfinite(y)
    start, t, y = start[ok], t[ok], y[ok]
    if y.size < MIN_HOURS:
        raise EnergyInputError(
            f"moins de 4 semaines de mesures horaires ({y.size} heures) : modèle horaire refusé"
        )
    order = np.argsort(start, kind="stable")
    start, t, y = start[order], t[order], y[order]
    tow = time_of_week(start)
    month = local_month(start)
    year = _fit_segment(0, tow, t, y, np.ones_like(y))
    months: list[HourlySegment | None] = []
    for m in range(1, 13):
        w = month_weights(month, m)
        months.append(_fit_segment(m, tow, t, y, w) if (month == m).any() else None)
    pred, fallback = _predict(months, year, tow, month, t)
    p = sum(s.n_params for s in months if s is not None)
    if fallback.any():
        p += year.n_params  # the whole-baseline model predicts some hours
    metrics = g14(y, pred, p, "hourly")
    resid = y - pred
    rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if resid.std() > 0 else 0.0
    daily_rmse, daily_n = _daily_error(start, resid)
    return HourlyModel(
        tuple(months),
        year,
        int(y.size),
        float(np.sqrt(resid @ resid / max(y.size - p, 1))),
        rho if np.isfinite(rho) else 0.0,
        metrics,
        daily_rmse,
        daily_n,
    )


def _predict(
    months: tuple[HourlySegment | None, ...] | list[HourlySegment | None],
    year: HourlySegment,
    tow: np.ndarray,
    month: np.ndarray,
    t: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each hour by its month's model; (predictions, hours left to the whole-year model)."""
    out = np.full(t.shape, np.nan)
    for segment in months:
        if segment is not None:
            mine = month == segment.month
            if mine.any():
                out[mine] = segment.predict(tow[mine], t[mine])
    fallback = ~np.isfinite(out)
    if fallback.any():
        out[fallback] = year.predict(tow[fallback], t[fallback])
    return out, fallback


def _daily_error(start: np.ndarray, resid: np.ndarray) -> tuple[float, int]:
    """RMS of the residuals summed over each complete local day (≥ 23 measured hours)."""
    day = (start + paris_offset_utc(start)) // DAY
    cut = np.flatnonzero(np.r_[True, np.diff(day) != 0])
    sums = np.add.reduceat(resid, cut)
    hours = np.diff(np.r_[cut, resid.size])
    full = sums[hours >= 23]
    if full.size == 0:
        return float("nan"), 0
    return float(np.sqrt(np.mean(full**2))), int(full.size)


def avoided_energy_hourly(
    model: HourlyModel,
    start_utc: np.ndarray,
    temp_c: np.ndarray,
    kwh: np.ndarray,
    confidence: float = 0.9,
) -> Savings:
    """Avoided energy use on the reporting hours: baseline model − metered (ASHRAE 14
    uncertainty with the hourly residuals' autocorrelation)."""
    t = np.asarray(temp_c, dtype=float)
    y = np.asarray(kwh, dtype=float)
    pred = model.predict(start_utc, t)
    ok = np.isfinite(pred) & np.isfinite(y)
    base = float(pred[ok].sum())
    rep = float(y[ok].sum())
    save = base - rep
    unc = fsu_kwh(model, base, int(ok.sum()), confidence)
    return Savings(base, rep, save, save / base if base else 0.0, unc, confidence)


def normalised_savings_hourly(
    before: HourlyModel,
    after: HourlyModel,
    start_utc: np.ndarray,
    normal_temp_c: np.ndarray,
    confidence: float = 0.9,
) -> Savings:
    """Both hourly models over the same hours at a normal year's temperatures; the
    uncertainty combines both models' ASHRAE 14 uncertainties in quadrature."""
    base_h = before.predict(start_utc, normal_temp_c)
    rep_h = after.predict(start_utc, normal_temp_c)
    ok = np.isfinite(base_h) & np.isfinite(rep_h)
    base, rep = float(base_h[ok].sum()), float(rep_h[ok].sum())
    m = int(ok.sum())
    unc = float(np.hypot(fsu_kwh(before, base, m, confidence), fsu_kwh(after, rep, m, confidence)))
    save = base - rep
    return Savings(base, rep, save, save / base if base else 0.0, unc, confidence)
