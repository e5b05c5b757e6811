"""Baselines: CalTRACK daily change-point model, simplified hourly model, ASHRAE G14.

Interface:
- `fit_daily(temp_c, kwh)` → `DailyModel` (intercept-only, HDD-only, CDD-only, HDD+CDD;
  balance points by grid search, selection by adjusted R² among candidates whose slopes
  are positive and significant, p < 0.1, as CalTRACK 2 asks); `fit_daily_many(temp_c,
  kwh_matrix)` fits many meters at once: every candidate of every meter is solved with
  a handful of matrix products (closed-form OLS), no per-candidate Python loop.
- `fit_hourly(start_utc, temp_c, kwh)` → `HourlyModel` (time-of-week × temperature bins).
- `g14(observed, predicted, n_params, granularity)` → `G14Metrics` with the verdict.
- `avoided_energy(model, temp_c, kwh)` and `normalised_savings(before, after, normal_temp)`
  → `Savings` with the ASHRAE 14 fractional savings uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from clocher.energy.engine._timeutil import HOUR, paris_offset_utc
from clocher.energy.engine.errors import EnergyInputError

#: ASHRAE Guideline 14 limits: granularity → (max CV(RMSE), max |NMBE|). G14 gives
#: monthly and hourly; daily models are held to the hourly limits (docs/energy.md).
G14_LIMITS = {"monthly": (0.15, 0.05), "daily": (0.30, 0.10), "hourly": (0.30, 0.10)}

#: Balance-point grids in °C (CalTRACK searches 30–90 °F; buildings here heat below
#: 8–22 °C and cool above 16–28 °C), 0.5 °C apart.
HDD_BALANCE_POINTS = np.arange(8.0, 22.01, 0.5)
CDD_BALANCE_POINTS = np.arange(16.0, 28.01, 0.5)
P_VALUE_MAX = 0.1
MIN_DEGREE_DAYS = 20.0  # CalTRACK: ≥ 20 degree-days in total …
MIN_NONZERO_DAYS = 10  # … and ≥ 10 days with a non-zero value, for a slope to be tried


@dataclass(frozen=True)
class G14Metrics:
    """ASHRAE Guideline 14 goodness of fit; ratios (0.12 = 12 %)."""

    cvrmse: float
    nmbe: float
    r2: float
    n: int
    p: int
    granularity: str
    fit: bool

    @property
    def verdict(self) -> str:
        """French verdict: "apte" or "inapte" for savings, naming the failing metric."""
        cv_max, nmbe_max = G14_LIMITS[self.granularity]
        if self.fit:
            return (
                f"apte au calcul d'économies (ASHRAE 14, {self.granularity}) : "
                f"CV(RMSE) {self.cvrmse:.1%} ≤ {cv_max:.0%}, NMBE {self.nmbe:+.1%}"
            )
        why = []
        if not self.cvrmse <= cv_max:
            why.append(f"CV(RMSE) {self.cvrmse:.1%} > {cv_max:.0%}")
        if not abs(self.nmbe) <= nmbe_max:
            why.append(f"NMBE {self.nmbe:+.1%} hors ±{nmbe_max:.0%}")
        return f"inapte au calcul d'économies (ASHRAE 14) : {', '.join(why)}"


def g14(observed: np.ndarray, predicted: np.ndarray, n_params: int, granularity: str) -> G14Metrics:
    """CV(RMSE) = √(Σ(y−ŷ)²/(n−p))/ȳ, NMBE = Σ(y−ŷ)/((n−p)·ȳ), R² = 1 − SSE/SST."""
    y = np.asarray(observed, dtype=float)
    yhat = np.asarray(predicted, dtype=float)
    ok = np.isfinite(y) & np.isfinite(yhat)
    y, yhat = y[ok], yhat[ok]
    n, p = int(y.size), int(n_params)
    if n <= p:
        raise EnergyInputError(f"trop peu de points ({n}) pour {p} paramètres")
    ybar = float(y.mean())
    resid = y - yhat
    sse = float(resid @ resid)
    sst = float(((y - ybar) ** 2).sum())
    cv = float(np.sqrt(sse / (n - p)) / ybar) if ybar else float("inf")
    nmbe = float(resid.sum() / ((n - p) * ybar)) if ybar else float("inf")
    r2 = 1.0 - sse / sst if sst > 0 else 0.0
    cv_max, nmbe_max = G14_LIMITS[granularity]
    return G14Metrics(cv, nmbe, r2, n, p, granularity, cv <= cv_max and abs(nmbe) <= nmbe_max)


@dataclass(frozen=True)
class DailyModel:
    """kWh/day = intercept + beta_hdd·max(0, hdd_bp − T) + beta_cdd·max(0, T − cdd_bp)."""

    kind: str  # "intercept_only" | "hdd_only" | "cdd_only" | "hdd_cdd"
    intercept: float
    beta_hdd: float
    beta_cdd: float
    hdd_bp: float | None
    cdd_bp: float | None
    adj_r2: float
    n: int
    rmse: float
    rho: float  # lag-1 autocorrelation of the residuals (for the savings uncertainty)
    metrics: G14Metrics

    @property
    def n_params(self) -> int:
        return {"intercept_only": 1, "hdd_only": 2, "cdd_only": 2, "hdd_cdd": 3}[self.kind]

    def predict(self, temp_c: np.ndarray) -> np.ndarray:
        t = np.asarray(temp_c, dtype=float)
        y = np.full(t.shape, self.intercept)
        if self.hdd_bp is not None:
            y = y + self.beta_hdd * np.maximum(0.0, self.hdd_bp - t)
        if self.cdd_bp is not None:
            y = y + self.beta_cdd * np.maximum(0.0, t - self.cdd_bp)
        return y

    def interval(self, temp_c: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) prediction interval of a day's kWh (residual-based, Student t)."""
        y = self.predict(temp_c)
        half = stats.t.ppf((1 + level) / 2, max(self.n - self.n_params, 1)) * self.rmse
        half *= np.sqrt(1 + 1 / max(self.n, 1))
        return y - half, y + half


def _ols1(n, sx, sxx, sy, sxy, syy):  # type: ignore[no-untyped-def]
    """Closed-form simple regression on sums (arrays broadcast): slope, intercept, SSE, se."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        vxx = sxx - n * mx * mx
        vxy = sxy - n * mx * my
        vyy = syy - n * my * my
        b = vxy / vxx
        sse = np.maximum(vyy - b * vxy, 0.0)
        se = np.sqrt(sse / (n - 2) / vxx)
        return b, my - b * mx, sse, se


def fit_daily(temp_c: np.ndarray, kwh: np.ndarray) -> DailyModel:
    """Fit the CalTRACK daily model on days where both values are finite."""
    return fit_daily_many(np.asarray(temp_c, dtype=float), np.asarray(kwh, dtype=float)[None, :])[0]


def fit_daily_many(temp_c: np.ndarray, kwh: np.ndarray) -> list[DailyModel]:
    """Fit one model per row of `kwh` (meters × days) against one temperature series.

    NaN in `kwh` (or in `temp_c`) marks a day left out for that meter. For each meter
    the candidates are every HDD balance point, every CDD balance point and every pair
    with cdd_bp ≥ hdd_bp; their sums come from matrix products with the day weights.
    """
    t = np.asarray(temp_c, dtype=float)
    y_all = np.atleast_2d(np.asarray(kwh, dtype=float))
    w = (np.isfinite(y_all) & np.isfinite(t)[None, :]).astype(float)
    y = np.where(w > 0, y_all, 0.0)
    tt = np.where(np.isfinite(t), t, 0.0)
    n = w.sum(axis=1)
    if (n < 10).any():
        raise EnergyInputError("moins de 10 jours utilisables pour un compteur")
    sy, syy = y.sum(axis=1), (y * y).sum(axis=1)
    hx = np.maximum(0.0, HDD_BALANCE_POINTS[:, None] - tt[None, :])  # (H, days)
    cx = np.maximum(0.0, tt[None, :] - CDD_BALANCE_POINTS[:, None])  # (C, days)

    def sums(x):  # type: ignore[no-untyped-def]
        return w @ x.T, w @ (x * x).T, y @ x.T, w @ (x > 0).T.astype(float)

    sh, shh, shy, nh = sums(hx)  # each (meters, H)
    sc, scc, scy, nc = sums(cx)
    N = n[:, None]
    my = (sy / n)[:, None]
    vyy = syy[:, None] - N * my * my  # (m, 1)
    dof_t = stats.t.sf

    # single-slope candidates
    def single(s, ss, sxy, nz):  # type: ignore[no-untyped-def]
        b, a, sse, se = _ols1(N, s, ss, sy[:, None], sxy, syy[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            pval = 2 * dof_t(np.abs(b / se), N - 2)
            adj = 1 - (sse / (N - 2)) / (vyy / (N - 1))
        ok = (b > 0) & (pval < P_VALUE_MAX) & (nz >= MIN_NONZERO_DAYS) & (s >= MIN_DEGREE_DAYS)
        return b, a, np.where(ok, adj, -np.inf)

    bh, ah, adj_h = single(sh, shh, shy, nh)
    bc, ac, adj_c = single(sc, scc, scy, nc)

    # pairs: hdd·cdd = 0 on every day when cdd_bp ≥ hdd_bp, so the cross sum is 0
    pair = CDD_BALANCE_POINTS[None, :] >= HDD_BALANCE_POINTS[:, None]  # (H, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        mh, mc = (sh / N)[:, :, None], (sc / N)[:, None, :]
        vhh = (shh / N)[:, :, None] * N[:, :, None] - N[:, :, None] * mh * mh
        vcc = (scc / N)[:, None, :] * N[:, :, None] - N[:, :, None] * mc * mc
        vhc = -N[:, :, None] * mh * mc
        vhy = shy[:, :, None] - N[:, :, None] * mh * my[:, :, None]
        vcy = scy[:, None, :] - N[:, :, None] * mc * my[:, :, None]
        det = vhh * vcc - vhc * vhc
        b1 = (vcc * vhy - vhc * vcy) / det
        b2 = (vhh * vcy - vhc * vhy) / det
        sse = np.maximum(vyy[:, :, None] - b1 * vhy - b2 * vcy, 0.0)
        s2 = sse / (N[:, :, None] - 3)
        p1 = 2 * dof_t(np.abs(b1 / np.sqrt(s2 * vcc / det)), N[:, :, None] - 3)
        p2 = 2 * dof_t(np.abs(b2 / np.sqrt(s2 * vhh / det)), N[:, :, None] - 3)
        adj_p = 1 - s2 / (vyy[:, :, None] / (N[:, :, None] - 1))
        a_p = my[:, :, None] - b1 * mh - b2 * mc
    okp = (
        pair[None]
        & (b1 > 0)
        & (b2 > 0)
        & (p1 < P_VALUE_MAX)
        & (p2 < P_VALUE_MAX)
        & (nh[:, :, None] >= MIN_NONZERO_DAYS)
        & (nc[:, None, :] >= MIN_NONZERO_DAYS)
        & (sh[:, :, None] >= MIN_DEGREE_DAYS)
        & (sc[:, None, :] >= MIN_DEGREE_DAYS)
    )
    adj_p = np.where(okp, adj_p, -np.inf)

    models = []
    for i in range(y.shape[0]):
        cands = [(0.0, "intercept_only", float(my[i, 0]), 0.0, 0.0, None, None)]
        j = int(np.argmax(adj_h[i]))
        if np.isfinite(adj_h[i, j]):
            cands.append(
                (adj_h[i, j], "hdd_only", ah[i, j], bh[i, j], 0.0, HDD_BALANCE_POINTS[j], None)
            )
        j = int(np.argmax(adj_c[i]))
        if np.isfinite(adj_c[i, j]):
            cands.append(
                (adj_c[i, j], "cdd_only", ac[i, j], 0.0, bc[i, j], None, CDD_BALANCE_POINTS[j])
            )
        flat = int(np.argmax(adj_p[i]))
        jh, jc = divmod(flat, CDD_BALANCE_POINTS.size)
        if np.isfinite(adj_p[i, jh, jc]):
            cands.append(
                (
                    adj_p[i, jh, jc],
                    "hdd_cdd",
                    a_p[i, jh, jc],
                    b1[i, jh, jc],
                    b2[i, jh, jc],
                    HDD_BALANCE_POINTS[jh],
                    CDD_BALANCE_POINTS[jc],
                )
            )
        adj, kind, a, b_h, b_c, hbp, cbp = max(cands, key=lambda c: c[0])
        proto = DailyModel(
            kind,
            float(a),
            float(b_h),
            float(b_c),
            None if hbp is None else float(hbp),
            None if cbp is None else float(cbp),
            float(adj),
            int(n[i]),
            0.0,
            0.0,
            G14Metrics(0, 0, 0, 0, 0, "daily", False),
        )
        keep = w[i] > 0
        pred = proto.predict(t[keep])
        obs = y_all[i, keep]
        resid = obs - pred
        dof = max(int(n[i]) - proto.n_params, 1)
        rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if resid.std() > 0 else 0.0
        models.append(
            DailyModel(
                kind,
                proto.intercept,
                proto.beta_hdd,
                proto.beta_cdd,
                proto.hdd_bp,
                proto.cdd_bp,
                proto.adj_r2,
                proto.n,
                float(np.sqrt(resid @ resid / dof)),
                rho if np.isfinite(rho) else 0.0,
                g14(obs, pred, proto.n_params, "daily"),
            )
        )
    return models


#: Temperature bin edges (°C) of the hourly model: CalTRACK's 30/45/55/65/75/90 °F.
HOURLY_BIN_EDGES = np.array([-1.1, 7.2, 12.8, 18.3, 23.9, 32.2])


def _segments(temp: np.ndarray) -> np.ndarray:
    """Piecewise-linear temperature features, one per bin (CalTRACK's segmented basis)."""
    t = np.asarray(temp, dtype=float)[:, None]
    lo = np.r_[-np.inf, HOURLY_BIN_EDGES][None, :]
    hi = np.r_[HOURLY_BIN_EDGES, np.inf][None, :]
    base = np.r_[HOURLY_BIN_EDGES[0], HOURLY_BIN_EDGES][None, :]
    seg = np.clip(t, lo, hi) - np.where(np.isfinite(lo), lo, base)
    return seg


def _time_of_week(start_utc: np.ndarray) -> np.ndarray:
    """0–167, Monday 00h local (Europe/Paris) = 0."""
    local = np.asarray(start_utc, dtype=np.int64) + paris_offset_utc(start_utc)
    day = local // 86_400
    return ((day + 3) % 7) * 24 + (local % 86_400) // HOUR  # 1970-01-01 was a Thursday


@dataclass(frozen=True)
class HourlyModel:
    """Time-of-week (168 h) occupancy × temperature-bin model (CalTRACK hourly, simplified).

    kWh/h = tow_coef[tow] + Σ_k coef[occupied(tow), k] · segment_k(T). Occupancy of
    an hour of the week: the metered use exceeds a plain heating/cooling fit more than
    65 % of the time (CalTRACK's rule). One model over the whole year (no monthly
    weighting, the simplification documented).
    """

    tow_coef: np.ndarray
    temp_coef_occ: np.ndarray
    temp_coef_unocc: np.ndarray
    occupied: np.ndarray
    metrics: G14Metrics

    def predict(self, start_utc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        tow = _time_of_week(start_utc)
        seg = _segments(temp_c)
        occ = self.occupied[tow]
        coef = np.where(occ[:, None], self.temp_coef_occ[None, :], self.temp_coef_unocc[None, :])
        return self.tow_coef[tow] + (seg * coef).sum(axis=1)


def fit_hourly(start_utc: np.ndarray, temp_c: np.ndarray, kwh: np.ndarray) -> HourlyModel:
    """Fit the hourly model on hourly rows (UTC epoch starts, °C, kWh)."""
    start_utc = np.asarray(start_utc, dtype=np.int64)
    t = np.asarray(temp_c, dtype=float)
    y = np.asarray(kwh, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    start_utc, t, y = start_utc[ok], t[ok], y[ok]
    if y.size < 24 * 28:
        raise EnergyInputError("moins de 4 semaines de mesures horaires : modèle horaire refusé")
    tow = _time_of_week(start_utc)
    hdd, cdd = np.maximum(0.0, 10.0 - t), np.maximum(0.0, t - 18.3)
    x0 = np.column_stack([np.ones_like(t), hdd, cdd])
    simple = x0 @ np.linalg.lstsq(x0, y, rcond=None)[0]
    above = np.bincount(tow, weights=(y > simple).astype(float), minlength=168)
    count = np.maximum(np.bincount(tow, minlength=168), 1)
    occupied = above / count > 0.65
    seg = _segments(t)
    nb = seg.shape[1]
    occ_row = occupied[tow]
    x = np.zeros((y.size, 168 + 2 * nb))
    x[np.arange(y.size), tow] = 1.0
    x[:, 168 : 168 + nb] = np.where(occ_row[:, None], seg, 0.0)
    x[:, 168 + nb :] = np.where(occ_row[:, None], 0.0, seg)
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    pred = x @ beta
    n_used = int((np.abs(x).sum(axis=0) > 0).sum())
    return HourlyModel(
        beta[:168], beta[168 : 168 + nb], beta[168 + nb :], occupied, g14(y, pred, n_used, "hourly")
    )


@dataclass(frozen=True)
class Savings:
    """Savings in kWh over the reporting period, with ± uncertainty at `confidence`."""

    baseline_kwh: float
    reporting_kwh: float
    savings_kwh: float
    fraction: float
    uncertainty_kwh: float
    confidence: float


def _fsu_kwh(model: DailyModel, expected_kwh: float, m: int, confidence: float) -> float:
    """ASHRAE 14 (Annex B) absolute savings uncertainty of one model's use over m points.

    ΔE = 1.26 · t · CV · √((n/n′)·(1 + 2/n)·(1/m)) · E, n′ = n·(1 − ρ)/(1 + ρ).
    """
    n = model.n
    rho = min(max(model.rho, 0.0), 0.99)
    n_eff = n * (1 - rho) / (1 + rho)
    t = stats.t.ppf((1 + confidence) / 2, max(n - model.n_params, 1))
    cv = model.metrics.cvrmse
    return float(1.26 * t * cv * np.sqrt((n / n_eff) * (1 + 2 / n) / max(m, 1)) * expected_kwh)


def avoided_energy(
    model: DailyModel, temp_c: np.ndarray, kwh: np.ndarray, confidence: float = 0.9
) -> Savings:
    """Avoided energy use: baseline model on the reporting weather − metered use."""
    t = np.asarray(temp_c, dtype=float)
    y = np.asarray(kwh, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    base = float(model.predict(t[ok]).sum())
    rep = float(y[ok].sum())
    save = base - rep
    unc = _fsu_kwh(model, base, int(ok.sum()), confidence)
    return Savings(base, rep, save, save / base if base else 0.0, unc, confidence)


def normalised_savings(
    before: DailyModel, after: DailyModel, normal_temp_c: np.ndarray, confidence: float = 0.9
) -> Savings:
    """Both models on a normal year's weather: savings independent of the weather.

    The uncertainty combines both models' ASHRAE 14 uncertainties in quadrature.
    """
    t = np.asarray(normal_temp_c, dtype=float)
    t = t[np.isfinite(t)]
    base = float(before.predict(t).sum())
    rep = float(after.predict(t).sum())
    unc = float(
        np.hypot(
            _fsu_kwh(before, base, t.size, confidence), _fsu_kwh(after, rep, t.size, confidence)
        )
    )
    save = base - rep
    return Savings(base, rep, save, save / base if base else 0.0, unc, confidence)
