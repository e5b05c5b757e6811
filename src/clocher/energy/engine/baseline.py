"""Baselines: CalTRACK daily change-point model, ASHRAE G14, savings and their uncertainty.

Interface:
- `fit_daily(temp_c, kwh)` → `DailyModel` (intercept-only, HDD-only, CDD-only, HDD+CDD;
  balance points over CalTRACK's 30–90 °F by a 1 °C grid then a local search, selection
  by adjusted R² among candidates with positive slopes, as CalTRACK 2 asks: no p-value
  screen since 2.0); `fit_daily_many(temp_c,
  kwh_matrix)` fits many meters at once: every candidate of every meter is solved with
  a handful of matrix products (closed-form OLS), no per-candidate Python loop.
- `daily_kwh_many(start_utc, kwh, step_s)` → local days and meters × days kWh from
  half-hourly (or any fixed-step) curves of many meters, CalTRACK's coverage rule.
- the CalTRACK 2 hourly model is in `clocher.energy.engine.hourly`.
- `g14(observed, predicted, n_params, granularity)` → `G14Metrics` with the verdict.
- `avoided_energy(model, temp_c, kwh)` and `normalised_savings(before, after, normal_temp)`
  → `Savings` with the ASHRAE 14 fractional savings uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from scipy import stats

from clocher.energy.engine._timeutil import DAY, HOUR, local_days_paris, paris_offset_utc
from clocher.energy.engine.errors import EnergyInputError

#: ASHRAE Guideline 14 limits: granularity → (max CV(RMSE), max |NMBE|). G14 gives
#: monthly and hourly; daily models are held to the hourly limits (docs/energy.md).
G14_LIMITS = {"monthly": (0.15, 0.05), "daily": (0.30, 0.10), "hourly": (0.30, 0.10)}
GRANULARITY_WORDS = {"monthly": "mensuel", "daily": "journalier", "hourly": "horaire"}

#: Balance-point grids in °C: CalTRACK's candidate set, 30–90 °F (−1.1 to 32.2 °C) at
#: most 3 °F apart, here every 1 °C (1.8 °F); `_refined_pick` then refines the best
#: point of each kind locally (± 1 °C, every 0.05 °C or 0.1 °C for a pair).
CALTRACK_RANGE_C = ((30 - 32) * 5 / 9, (90 - 32) * 5 / 9)
HDD_BALANCE_POINTS = np.arange(-1.0, 32.01, 1.0)
CDD_BALANCE_POINTS = HDD_BALANCE_POINTS
#: Slope screen: CalTRACK 2 disqualifies a candidate for a non-positive slope only
#: (no p-value screen since 2.0; eemeter's compliance checklist, 3.4.3.2), then keeps
#: the highest adjusted R². A limit below 1 restores CalTRACK 1's screen.
SLOPE_P_VALUE_MAX = 1.0
#: Level of the F-test a richer day-group model must pass (`_better`).
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
                f"apte au calcul d'économies (ASHRAE 14, modèle "
                f"{GRANULARITY_WORDS[self.granularity]}) : "
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
    #: one intercept per day group (`day_groups`) when the fit chose them; else empty
    group_intercepts: tuple[float, ...] = ()
    #: or one whole model per day group (own slopes and balance points); the fields
    #: above are then those of group 0 (weekdays), for display
    group_models: tuple[DailyModel, ...] = ()

    @property
    def n_params(self) -> int:
        if self.group_models:
            return sum(m.n_params for m in self.group_models)
        slopes = {"intercept_only": 1, "hdd_only": 2, "cdd_only": 2, "hdd_cdd": 3}[self.kind]
        return slopes + max(len(self.group_intercepts) - 1, 0)

    def predict(self, temp_c: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        """kWh per day; `groups` (as given to the fit) selects each day's intercept or
        model. Without them a grouped model predicts its days' average."""
        t = np.asarray(temp_c, dtype=float)
        if self.group_models:
            each = np.stack([m.predict(t) for m in self.group_models])
            if groups is None:
                share = np.array([m.n for m in self.group_models], dtype=float)
                return (share / share.sum()) @ each
            g = np.asarray(groups, dtype=np.int64)
            return np.take_along_axis(each, g[None, :], axis=0)[0]
        if self.group_intercepts and groups is not None:
            y = np.asarray(self.group_intercepts)[np.asarray(groups, dtype=np.int64)]
        else:
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


def daily_kwh_many(
    start_utc: np.ndarray, kwh: np.ndarray, step_s: int, min_coverage: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """(local days as datetime64[D], meters × days kWh) from a shared fixed-step grid.

    `kwh` is meters × intervals on the UTC grid `start_utc` (sorted, `step_s` apart),
    NaN where not measured. Days are Europe/Paris days (23, 24 or 25 h); a day measured
    under `min_coverage` of its intervals is NaN (CalTRACK), a day above is scaled up to
    its full length (the missing intervals taken at the day's mean), so that a missing
    half-hour does not read as a saving. One pass for all meters: what `fit_daily_many`
    needs from half-hourly curves.
    """
    start = np.asarray(start_utc, dtype=np.int64)
    y = np.atleast_2d(np.asarray(kwh, dtype=float))
    if start.size == 0:
        return np.zeros(0, dtype="datetime64[D]"), np.zeros((y.shape[0], 0))
    day = local_days_paris(start)
    cut = np.flatnonzero(np.r_[True, np.diff(day) != 0])
    seen = np.isfinite(y)
    total = np.add.reduceat(np.where(seen, y, 0.0), cut, axis=1)
    count = np.add.reduceat(seen.astype(float), cut, axis=1)
    days = day[cut]
    mid = days * DAY
    length = (mid + DAY - paris_offset_utc(mid + DAY - HOUR)) - (mid - paris_offset_utc(mid - HOUR))
    expected = (length // step_s).astype(float)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count >= min_coverage * expected, total * expected / count, np.nan)
    return days.astype("datetime64[D]"), out


def fit_daily(temp_c: np.ndarray, kwh: np.ndarray) -> DailyModel:
    """Fit the CalTRACK daily model on days where both values are finite."""
    return fit_daily_many(np.asarray(temp_c, dtype=float), np.asarray(kwh, dtype=float)[None, :])[0]


def day_groups(days: np.ndarray) -> np.ndarray:
    """0 for Monday–Friday, 1 for Saturday–Sunday: the day groups of `fit_daily_many`."""
    d = np.asarray(days).astype("datetime64[D]").astype(np.int64)
    return ((d + 3) % 7 >= 5).astype(np.int64)  # 1970-01-01 was a Thursday


def _slope_ok(b: np.ndarray, se: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """A slope a candidate may keep: positive and, under a p-value screen
    (`SLOPE_P_VALUE_MAX` < 1), significant; the t distribution is only evaluated then."""
    ok = b > 0
    if SLOPE_P_VALUE_MAX < 1.0:
        with np.errstate(invalid="ignore", divide="ignore"):
            ok &= 2 * stats.t.sf(np.abs(b / se), dof) < SLOPE_P_VALUE_MAX
    return ok


def _candidates(  # type: ignore[no-untyped-def]
    tt: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    dg: np.ndarray,
    hgrid: np.ndarray = HDD_BALANCE_POINTS,
    cgrid: np.ndarray = CDD_BALANCE_POINTS,
):
    """Every candidate of every meter, one intercept per day group (rows of `dg`), the
    balance points taken from `hgrid` (heating) and `cgrid` (cooling).

    The slopes come from sums within each group (Frisch–Waugh: the group intercepts are
    partialled out by removing each group's mean), all from matrix products.
    Returns per kind (adj R², group intercepts (m, …, G), slopes) over the grids.
    """
    g = dg.shape[0]
    wg = w[:, None, :] * dg[None, :, :]  # (m, G, days)
    ng = wg.sum(axis=2)  # (m, G)
    n = ng.sum(axis=1)[:, None]  # (m, 1)
    syg = (wg * y[:, None, :]).sum(axis=2)  # (m, G)
    syy = (w * y * y).sum(axis=1)[:, None]
    sy = syg.sum(axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_ng = np.where(ng > 0, 1.0 / ng, 0.0)
        sst = syy - sy * sy / n  # total, for the adjusted R²
        vyy = syy - (syg * syg * inv_ng).sum(axis=1)[:, None]  # within groups
    hx = np.maximum(0.0, hgrid[:, None] - tt[None, :])  # (H, days)
    cx = np.maximum(0.0, tt[None, :] - cgrid[:, None])  # (C, days)

    def sums(x):  # type: ignore[no-untyped-def]
        sxg = np.einsum("mgd,kd->mgk", wg, x)  # (m, G, K)
        sxx = w @ (x * x).T
        sxy = (w * y) @ x.T
        nz = w @ (x > 0).T.astype(float)
        vxx = sxx - (sxg * sxg * inv_ng[:, :, None]).sum(axis=1)
        vxy = sxy - (sxg * syg[:, :, None] * inv_ng[:, :, None]).sum(axis=1)
        return sxg, sxg.sum(axis=1), vxx, vxy, nz

    sh_g, sh, vhh, vhy, nh = sums(hx)
    sc_g, sc, vcc, vcy, nc = sums(cx)

    def group_means(s_g, b):  # type: ignore[no-untyped-def]  # (m, G, K) → intercepts
        return (syg[:, :, None] - b[:, None, :] * s_g) * inv_ng[:, :, None]

    def single(s_g, s, vxx, vxy, nz):  # type: ignore[no-untyped-def]
        with np.errstate(invalid="ignore", divide="ignore"):
            b = vxy / vxx
            sse = np.maximum(vyy - b * vxy, 0.0)
            dof = n - g - 1
            adj = 1 - (sse / dof) / (sst / (n - 1))
            a = group_means(s_g, b)
            ok = _slope_ok(b, np.sqrt(sse / dof / vxx), dof)
        ok &= (nz >= MIN_NONZERO_DAYS) & (s >= MIN_DEGREE_DAYS) & np.isfinite(adj)
        return np.where(ok, adj, -np.inf), a, b

    adj_h, a_h, b_h = single(sh_g, sh, vhh, vhy, nh)
    adj_c, a_c, b_c = single(sc_g, sc, vcc, vcy, nc)

    # pairs: hdd·cdd = 0 on every day when cdd_bp ≥ hdd_bp, so the raw cross sum is 0
    pair = cgrid[None, :] >= hgrid[:, None]  # (H, C)
    vhc = -np.einsum("mgh,mgc,mg->mhc", sh_g, sc_g, inv_ng)
    with np.errstate(invalid="ignore", divide="ignore"):
        vhh3, vcc3 = vhh[:, :, None], vcc[:, None, :]
        vhy3, vcy3 = vhy[:, :, None], vcy[:, None, :]
        det = vhh3 * vcc3 - vhc * vhc
        b1 = (vcc3 * vhy3 - vhc * vcy3) / det
        b2 = (vhh3 * vcy3 - vhc * vhy3) / det
        sse = np.maximum(vyy[:, :, None] - b1 * vhy3 - b2 * vcy3, 0.0)
        dof3 = n[:, :, None] - g - 2
        s2 = sse / dof3
        adj_p = 1 - s2 / (sst[:, :, None] / (n[:, :, None] - 1))
        ok1 = _slope_ok(b1, np.sqrt(s2 * vcc3 / det), dof3)
        ok2 = _slope_ok(b2, np.sqrt(s2 * vhh3 / det), dof3)
    okp = (
        pair[None]
        & ok1
        & ok2
        & np.isfinite(adj_p)
        & (nh[:, :, None] >= MIN_NONZERO_DAYS)
        & (nc[:, None, :] >= MIN_NONZERO_DAYS)
        & (sh[:, :, None] >= MIN_DEGREE_DAYS)
        & (sc[:, None, :] >= MIN_DEGREE_DAYS)
    )
    adj_p = np.where(okp, adj_p, -np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        adj_0 = 1 - (vyy / (n - g)) / (sst / (n - 1)) if g > 1 else np.zeros_like(vyy)
        a_0 = syg * inv_ng
    return {
        "intercept_only": (adj_0[:, 0], a_0),
        "hdd_only": (adj_h, a_h, b_h),
        "cdd_only": (adj_c, a_c, b_c),
        "hdd_cdd": (adj_p, b1, b2, sh_g, sc_g, syg, inv_ng),
        "grids": (hgrid, cgrid),
    }


def fit_daily_many(
    temp_c: np.ndarray, kwh: np.ndarray, groups: np.ndarray | None = None
) -> list[DailyModel]:
    """Fit one model per row of `kwh` (meters × days) against one temperature series.

    NaN in `kwh` (or in `temp_c`) marks a day left out for that meter. For each meter
    the candidates are every HDD balance point, every CDD balance point and every pair
    with cdd_bp ≥ hdd_bp; their sums come from matrix products with the day weights.
    With `groups` (an int per day, e.g. `day_groups(days)`: weekdays / weekend) every
    candidate is also tried with one intercept per group — a school or a town hall
    shut at the weekend — and kept when its adjusted R² is higher (the extra parameter
    is paid for); `DailyModel.predict(temp, groups)` then takes the same groups.
    """
    t = np.asarray(temp_c, dtype=float)
    y_all = np.atleast_2d(np.asarray(kwh, dtype=float))
    w = (np.isfinite(y_all) & np.isfinite(t)[None, :]).astype(float)
    y = np.where(w > 0, y_all, 0.0)
    tt = np.where(np.isfinite(t), t, 0.0)
    n = w.sum(axis=1)
    if (n < 10).any():
        raise EnergyInputError("moins de 10 jours utilisables pour un compteur")
    one = np.ones((1, t.size))
    variants: list[_Variant] = [_Variant(_candidates(tt, y, w, one), None, one, w)]
    if groups is not None:
        day_group = np.asarray(groups, dtype=np.int64)
        if day_group.shape != t.shape or day_group.min() < 0:
            raise EnergyInputError("un groupe de jour (entier ≥ 0) par jour est attendu")
        dg = (day_group[None, :] == np.arange(int(day_group.max()) + 1)[:, None]).astype(float)
        variants.append(_Variant(_candidates(tt, y, w, dg), day_group, dg, w))

    models = []
    splits = []
    if groups is not None:
        # every group on its own (its own slopes and balance points): the peer's
        # weekday/weekend split; kept when the whole pays for its extra parameters
        for g in range(int(day_group.max()) + 1):
            wg = w * (day_group == g)[None, :]
            splits.append(_Variant(_candidates(tt, y, wg, one), None, one, wg))
    for i in range(y.shape[0]):
        keep = w[i] > 0
        best = None
        for v in variants:  # plain first, then one intercept per group
            pick = _refined_pick(v, i, tt, y)
            model = _finish(_proto(pick, keep, int(n[i])), t, y_all[i], keep)
            if best is None or _better(model, best):
                best = model
        assert best is not None
        if splits and all(v.w[i].sum() >= MIN_NONZERO_DAYS for v in splits):
            parts = tuple(
                _finish(
                    _proto(_refined_pick(v, i, tt, y), v.w[i] > 0, int(v.w[i].sum())),
                    t,
                    y_all[i],
                    v.w[i] > 0,
                )
                for v in splits
            )
            split = _combine(parts, t, y_all[i], keep, day_group)
            if _better(split, best):
                best = split
        models.append(best)
    return models


@dataclass(frozen=True)
class _Variant:
    """One way of fitting every meter: its grid candidates (`_candidates`), the day
    group of each day when it has one intercept per group, the group rows, the weights."""

    cands: dict  # type: ignore[type-arg]
    groups: np.ndarray | None
    dg: np.ndarray
    w: np.ndarray


#: Local refinement around the grid's best balance point(s): ± one grid step (1 °C)
#: every 0.05 °C for one balance point, every 0.1 °C for a heating/cooling pair.
REFINE_SINGLE = np.round(np.arange(-1.0, 1.0001, 0.05), 10)
REFINE_PAIR = np.round(np.arange(-1.0, 1.0001, 0.1), 10)


def _refined_pick(v: _Variant, i: int, tt: np.ndarray, y: np.ndarray) -> tuple:  # type: ignore[type-arg]
    """Meter i's best candidate of variant `v`, its balance points refined locally.

    The 1 °C grid finds the neighbourhood; the sum of squares is continuous in the
    balance point, so a finer grid around the best point of each kind (single heating,
    single cooling, the pair) finds the optimum the coarse grid straddles. Every point
    tried is an ordinary candidate (same sufficiency and slope rules), so the
    refined pick can only raise the adjusted R².
    """
    coarse = _picks(v.cands, i, v.groups)
    by_kind = {c[1]: c for c in coarse}
    yi, wi = y[i : i + 1], v.w[i : i + 1]
    found = list(coarse)
    h, c = by_kind.get("hdd_only"), by_kind.get("cdd_only")
    if h is not None or c is not None:
        hgrid = _around(h[5], REFINE_SINGLE) if h is not None else HDD_BALANCE_POINTS[:1]
        cgrid = _around(c[6], REFINE_SINGLE) if c is not None else CDD_BALANCE_POINTS[-1:]
        found += _picks(_candidates(tt, yi, wi, v.dg, hgrid, cgrid), 0, v.groups)
    pair = by_kind.get("hdd_cdd")
    if pair is not None:
        hgrid, cgrid = _around(pair[5], REFINE_PAIR), _around(pair[6], REFINE_PAIR)
        found += _picks(_candidates(tt, yi, wi, v.dg, hgrid, cgrid), 0, v.groups)
    return max(found, key=lambda cand: cand[0])


def _around(point: float, offsets: np.ndarray) -> np.ndarray:
    """`point + offsets` kept within CalTRACK's 30–90 °F."""
    grid = point + offsets
    return grid[(grid >= CALTRACK_RANGE_C[0]) & (grid <= CALTRACK_RANGE_C[1])]


def _better(richer: DailyModel, simpler: DailyModel) -> bool:
    """Does the model with more parameters earn them? A higher adjusted R² and an F-test
    of the added terms at p < 0.1 (CalTRACK 1's level for a slope): adjusted R² alone takes
    a spurious weekend term about one time in three."""
    extra = richer.n_params - simpler.n_params
    if richer.adj_r2 <= simpler.adj_r2:
        return False
    if extra <= 0:
        return True
    sse_r = richer.rmse**2 * max(richer.n - richer.n_params, 1)
    sse_s = simpler.rmse**2 * max(simpler.n - simpler.n_params, 1)
    dof = max(richer.n - richer.n_params, 1)
    if sse_r <= 0:
        return True
    f = ((sse_s - sse_r) / extra) / (sse_r / dof)
    return bool(stats.f.sf(f, extra, dof) < P_VALUE_MAX)


def _picks(c: dict, i: int, gr: np.ndarray | None) -> list[tuple]:  # type: ignore[type-arg]
    """Meter i's best candidate of each kind in one variant's arrays."""
    out: list[tuple] = []  # type: ignore[type-arg]
    hgrid, cgrid = c["grids"]
    adj0, a0 = c["intercept_only"]
    out.append((adj0[i], "intercept_only", a0[i], 0.0, 0.0, None, None, gr))
    adj, a, b = c["hdd_only"]
    j = int(np.argmax(adj[i]))
    if np.isfinite(adj[i, j]):
        out.append((adj[i, j], "hdd_only", a[i, :, j], b[i, j], 0.0, hgrid[j], None, gr))
    adj, a, b = c["cdd_only"]
    j = int(np.argmax(adj[i]))
    if np.isfinite(adj[i, j]):
        out.append((adj[i, j], "cdd_only", a[i, :, j], 0.0, b[i, j], None, cgrid[j], gr))
    adj, b1, b2, sh_g, sc_g, syg, inv_ng = c["hdd_cdd"]
    jh, jc = divmod(int(np.argmax(adj[i])), cgrid.size)
    if np.isfinite(adj[i, jh, jc]):
        bh, bc = b1[i, jh, jc], b2[i, jh, jc]
        a = (syg[i] - bh * sh_g[i, :, jh] - bc * sc_g[i, :, jc]) * inv_ng[i]
        hbp, cbp = hgrid[jh], cgrid[jc]
        out.append((adj[i, jh, jc], "hdd_cdd", a, bh, bc, hbp, cbp, gr))
    return out


def _proto(cand: tuple, keep: np.ndarray, n: int) -> tuple[DailyModel, np.ndarray | None]:  # type: ignore[type-arg]
    """A model from a candidate tuple, its metrics still to be computed."""
    adj, kind, a, b_h, b_c, hbp, cbp, gr = cand
    a = np.atleast_1d(np.asarray(a, dtype=float))
    per_group: tuple[float, ...] = ()
    if gr is None:
        intercept = float(a[0])
    else:  # the days' mean intercept stands in when groups are not given
        counts = np.bincount(gr[keep], minlength=a.size)
        intercept = float((a * counts).sum() / counts.sum())
        per_group = tuple(float(v) for v in a)
    model = DailyModel(
        kind,
        intercept,
        float(b_h),
        float(b_c),
        None if hbp is None else float(hbp),
        None if cbp is None else float(cbp),
        float(adj),
        n,
        0.0,
        0.0,
        G14Metrics(0, 0, 0, 0, 0, "daily", False),
        per_group,
    )
    return model, gr


def _finish(
    proto: tuple[DailyModel, np.ndarray | None], t: np.ndarray, y: np.ndarray, keep: np.ndarray
) -> DailyModel:
    """RMSE, residual autocorrelation and G14 metrics on the days the model was fitted."""
    model, gr = proto
    pred = model.predict(t[keep], None if gr is None else gr[keep])
    return _with_residuals(model, y[keep], pred)


def _with_residuals(model: DailyModel, obs: np.ndarray, pred: np.ndarray) -> DailyModel:
    resid = obs - pred
    dof = max(model.n - model.n_params, 1)
    rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if resid.std() > 0 else 0.0
    return replace(
        model,
        rmse=float(np.sqrt(resid @ resid / dof)),
        rho=rho if np.isfinite(rho) else 0.0,
        metrics=g14(obs, pred, model.n_params, "daily"),
    )


def _combine(
    parts: tuple[DailyModel, ...],
    t: np.ndarray,
    y: np.ndarray,
    keep: np.ndarray,
    day_group: np.ndarray,
) -> DailyModel:
    """One model per day group, seen as one: adjusted R² over all days, all parameters."""
    first = parts[0]
    n = int(keep.sum())
    p = sum(m.n_params for m in parts)
    model = replace(first, n=n, group_models=parts, group_intercepts=())
    pred = model.predict(t[keep], day_group[keep])
    obs = y[keep]
    sse = float(((obs - pred) ** 2).sum())
    sst = float(((obs - obs.mean()) ** 2).sum())
    adj = 1 - (sse / max(n - p, 1)) / (sst / max(n - 1, 1)) if sst > 0 else 0.0
    return _with_residuals(replace(model, adj_r2=adj), obs, pred)


@dataclass(frozen=True)
class Savings:
    """Savings in kWh over the reporting period, with ± uncertainty at `confidence`."""

    baseline_kwh: float
    reporting_kwh: float
    savings_kwh: float
    fraction: float
    uncertainty_kwh: float
    confidence: float


class _FittedModel(Protocol):
    """What the savings uncertainty reads of a model, daily or hourly."""

    @property
    def n(self) -> int: ...

    @property
    def rho(self) -> float: ...

    @property
    def metrics(self) -> G14Metrics: ...

    @property
    def n_params(self) -> int: ...


def fsu_kwh(model: _FittedModel, expected_kwh: float, m: int, confidence: float) -> float:
    """ASHRAE 14 (Annex B) absolute savings uncertainty of one model's use over m points
    (days or hours: n, ρ and CV(RMSE) are those of the model's own granularity).

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
    unc = fsu_kwh(model, base, int(ok.sum()), confidence)
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
        np.hypot(fsu_kwh(before, base, t.size, confidence), fsu_kwh(after, rep, t.size, confidence))
    )
    save = base - rep
    return Savings(base, rep, save, save / base if base else 0.0, unc, confidence)
