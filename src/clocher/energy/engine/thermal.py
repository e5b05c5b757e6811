"""ISO 13790 5R1C hourly model (the "simple hourly method"), calibration and what-if.

Interface: `Building5R1C` (parameters), `simulate(b, t_out, solar_w, internal_w)` →
hourly heating need (W); `calibrate(b, t_out_hourly, solar, observed_kwh_day)` →
`Calibration` (envelope scale and base load); `what_if(calibration, ...)` → one
`WhatIf` per measure with kWh, €, CO2 saved per year and their uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from clocher.energy.engine.errors import EnergyInputError

#: kgCO2e per kWh of final energy (ADEME Base Empreinte; see docs/energy.md).
EMISSION_FACTORS: dict[str, float] = {
    "electricite": 0.079,  # électricité, usage chauffage (mensualisé), France continentale
    "gaz_naturel": 0.227,  # gaz naturel, combustion + amont, kWh PCI
    "fioul": 0.324,  # fioul domestique, combustion + amont, kWh PCI
    "bois": 0.030,  # bûches/granulés, amont (combustion biogénique exclue)
    "reseau_chaleur": 0.110,  # réseau de chaleur, moyenne nationale (varie par réseau)
}


@dataclass(frozen=True)
class Building5R1C:
    """ISO 13790 5R1C parameters of a zone (W/K, J/K, m², °C)."""

    floor_area: float
    h_tr_op: float  # opaque envelope (walls, roof, floor)
    h_tr_roof: float  # the roof's part of h_tr_op (for "insulate the roof")
    h_tr_w: float  # windows
    h_ve: float  # ventilation / infiltration
    c_m_per_m2: float = 165_000.0  # "medium" class
    a_m_factor: float = 2.5  # A_m = factor × floor area ("medium")
    setpoint: float = 19.0
    internal_w_per_m2: float = 4.0
    efficiency: float = 0.9  # boiler efficiency, or COP for a heat pump
    energy: str = "gaz_naturel"


def _batch(b: Building5R1C, scale: np.ndarray, h_ve: np.ndarray) -> dict[str, np.ndarray]:
    """ISO 13790 §12.2 conductances for k parameter sets (envelope scale, ventilation)."""
    af = b.floor_area
    a_m = b.a_m_factor * af
    a_t = 4.5 * af
    return {
        "h_ve": np.asarray(h_ve, dtype=float),
        "h_tr_w": b.h_tr_w * scale,
        "h_tr_em": b.h_tr_op * scale,  # opaque: all of it through the mass node (simplified)
        "h_tr_is": np.full(scale.shape, 3.45 * a_t),
        "h_tr_ms": np.full(scale.shape, 9.1 * a_m),
        "c_m": np.full(scale.shape, b.c_m_per_m2 * af),
        "a_m": np.full(scale.shape, a_m),
        "a_t": np.full(scale.shape, a_t),
    }


def _step_terms(
    p: dict[str, np.ndarray],
    te: np.ndarray,
    phi_ia: np.ndarray,
    phi_st: np.ndarray,
    phi_m: np.ndarray,
    theta_m: np.ndarray | float,
    phi_hc: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """ISO 13790 Annex C, one step (C.2–C.11): (θ_air, θ_m at the end of the step).

    Broadcasts over hours × parameter sets; every node temperature is affine in the
    start mass temperature and the heating power, which `_run` relies on.
    """
    h_ve, h_tr_w, h_tr_em = p["h_ve"], p["h_tr_w"], p["h_tr_em"]
    h_tr_is, h_tr_ms, cm = p["h_tr_is"], p["h_tr_ms"], p["c_m"] / 3600.0
    h1 = 1 / (1 / h_ve + 1 / h_tr_is)
    h2 = h1 + h_tr_w
    h3 = 1 / (1 / h2 + 1 / h_tr_ms)
    phi_mtot = (
        phi_m
        + h_tr_em * te
        + h3 * (phi_st + h_tr_w * te + h1 * ((phi_ia + phi_hc) / h_ve + te)) / h2
    )
    tm_new = (theta_m * (cm - 0.5 * (h3 + h_tr_em)) + phi_mtot) / (cm + 0.5 * (h3 + h_tr_em))
    tm_avg = (tm_new + theta_m) / 2
    ts = (h_tr_ms * tm_avg + phi_st + h_tr_w * te + h1 * (te + (phi_ia + phi_hc) / h_ve)) / (
        h_tr_ms + h_tr_w + h1
    )
    ta = (h_tr_is * ts + h_ve * te + phi_ia + phi_hc) / (h_tr_is + h_ve)
    return ta, tm_new


def _run(
    p: dict[str, np.ndarray],
    t_out: np.ndarray,
    solar_w: np.ndarray,
    internal_w: np.ndarray,
    setpoint: np.ndarray,
) -> np.ndarray:
    """Annex C hourly Crank–Nicolson steps for k parameter sets → heating need (hours, k).

    A step is affine in the start mass temperature θ and the heating power φ:
    θ_air = a·θ + e_t + f·φ, θ_m' = g·θ + b_t + c·φ. The forcing terms e_t, b_t are
    computed for all hours at once and the slopes once; the loop that remains (the
    recurrence on θ) is three multiply-adds per hour, where the step itself was forty
    array operations: a year takes milliseconds, not seconds. The need is the exact
    solution of θ_air = setpoint, the same as the standard's interpolation at 10 W/m²
    since θ_air is linear in φ.
    """
    te = np.asarray(t_out, dtype=float)[:, None]
    frac_m = p["a_m"] / p["a_t"]
    frac_s = 1 - frac_m - p["h_tr_w"] / (9.1 * p["a_t"])
    phi_ia = (0.5 * np.asarray(internal_w, dtype=float))[:, None]
    rest = phi_ia + np.asarray(solar_w, dtype=float)[:, None]
    phi_st, phi_m = frac_s * rest, frac_m * rest
    e, b = _step_terms(p, te, phi_ia, phi_st, phi_m, 0.0, 0.0)
    one, zero = np.ones(1), np.zeros(1)
    ta1, tm1 = _step_terms(p, zero, zero, zero, zero, 1.0, 0.0)
    ta0, tm0 = _step_terms(p, zero, zero, zero, zero, 0.0, 0.0)
    taf, tmf = _step_terms(p, zero, zero, zero, zero, 0.0, one)
    a, g = ta1 - ta0, tm1 - tm0
    inv_f, c = 1.0 / (taf - ta0), tmf - tm0
    sp = np.broadcast_to(np.asarray(setpoint, dtype=float), a.shape)
    out = np.empty((te.shape[0], a.size))
    # One parameter set at a time on plain floats: per hour, numpy's call overhead on
    # k-element arrays costs ten times the arithmetic.
    for j in range(a.size):
        a_, g_, if_, c_, s_ = float(a[j]), float(g[j]), float(inv_f[j]), float(c[j]), float(sp[j])
        th = 18.0
        needs = []
        for ei, bi in zip(e[:, j].tolist(), b[:, j].tolist(), strict=True):
            need = (s_ - a_ * th - ei) * if_
            if need < 0.0:
                need = 0.0
            th = g_ * th + bi + c_ * need
            needs.append(need)
        out[:, j] = needs
    return out


def simulate(
    b: Building5R1C, t_out: np.ndarray, solar_w: np.ndarray, internal_w: np.ndarray | None = None
) -> np.ndarray:
    """Hourly heating need in W (≥ 0) for the hourly outdoor temperatures `t_out`."""
    t = np.asarray(t_out, dtype=float)
    gains = (
        np.full(t.shape, b.internal_w_per_m2 * b.floor_area) if internal_w is None else internal_w
    )
    p = _batch(b, np.ones(1), np.array([b.h_ve]))
    return _run(p, t, np.asarray(solar_w, dtype=float), gains, np.array([b.setpoint]))[:, 0]


@dataclass(frozen=True)
class Calibration:
    """A calibrated building and how well the data pinned it down.

    covariance: 3×3 over (envelope factor relative to the calibrated value, ventilation
    factor, base load in kWh/day); the ventilation is not fitted (its row and column are
    zero, see `calibrate`). envelope_scale: the calibrated envelope conductances over the
    initial ones, with its standard error.
    """

    building: Building5R1C
    base_kwh_day: float
    covariance: np.ndarray
    cv_rmse: float
    n_days: int
    envelope_scale: float = 1.0
    envelope_scale_se: float = 0.0


def _daily(hourly_w: np.ndarray) -> np.ndarray:
    return hourly_w.reshape(-1, 24, hourly_w.shape[-1]).sum(axis=1) / 1000.0


#: Envelope scales tried first (× the initial conductances), then refined around the best.
ENVELOPE_GRID = np.geomspace(0.1, 10.0, 25)


def calibrate(
    b: Building5R1C,
    t_out_hourly: np.ndarray,
    solar_w_hourly: np.ndarray,
    observed_kwh_day: np.ndarray,
) -> Calibration:
    """Fit the envelope's scale and the base load to the daily metered kWh.

    Model of a day: base + heating need / efficiency. What daily energy can tell apart
    decides what is fitted. The envelope (H_tr) and the ventilation (H_ve) both multiply
    the indoor–outdoor difference: no meter separates them, so the ventilation stays at
    its initial value (from the volume and the use) and the envelope scale carries the
    rest. The base load is what the summer days consume: it enters linearly, so for each
    envelope scale it is solved in closed form (the mean of observed − modelled heating),
    which leaves a one-dimensional search — a batch of 25 scales from 0.1 to 10, then 9
    around the best, then a parabola through the three best. A year of data needs a few
    dozen simulations (well under a second), where the former three-parameter least
    squares took ~20 s and traded the envelope off against the base load and the air.
    Without heating-free days (a winter only) the base load is weakly determined: its
    standard error in `covariance` says so.
    """
    t = np.asarray(t_out_hourly, dtype=float)
    sol = np.asarray(solar_w_hourly, dtype=float)
    obs = np.asarray(observed_kwh_day, dtype=float)
    if t.size != obs.size * 24:
        raise EnergyInputError("il faut 24 températures horaires par jour mesuré")
    ok = np.isfinite(obs)
    if ok.sum() < 14:
        raise EnergyInputError(f"trop peu de jours mesurés ({int(ok.sum())}) pour calibrer")
    gains = np.full(t.shape, b.internal_w_per_m2 * b.floor_area)
    y = obs[ok]

    def heating(scales: np.ndarray) -> np.ndarray:  # (days used, k) kWh of final energy
        p = _batch(b, scales, np.full(scales.shape, b.h_ve))
        need = _run(p, t, sol, gains, np.full(scales.shape, b.setpoint))
        return _daily(need)[ok] / b.efficiency

    def sse(heat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        base = np.maximum((y[:, None] - heat).mean(axis=0), 0.0)
        r = y[:, None] - heat - base[None, :]
        return (r * r).sum(axis=0), base

    coarse = ENVELOPE_GRID
    err, _ = sse(heating(coarse))
    i = int(np.argmin(err))
    fine = np.linspace(coarse[max(i - 1, 0)], coarse[min(i + 1, coarse.size - 1)], 9)
    err, _ = sse(heating(fine))
    j = int(np.clip(np.argmin(err), 1, fine.size - 2))
    x0, x1, x2 = fine[j - 1 : j + 2]
    e0, e1, e2 = err[j - 1 : j + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    qa = (x2 * (e1 - e0) + x1 * (e0 - e2) + x0 * (e2 - e1)) / denom
    qb = (x2 * x2 * (e0 - e1) + x1 * x1 * (e2 - e0) + x0 * x0 * (e1 - e2)) / denom
    scale = float(np.clip(-qb / (2 * qa), x0, x2)) if qa > 0 else float(fine[np.argmin(err)])
    step = max(scale * 1e-3, 1e-4)
    heat = heating(np.array([scale, scale + step]))
    base = float(sse(heat[:, :1])[1][0])
    resid = y - heat[:, 0] - base
    dof = max(y.size - 2, 1)
    s2 = float(resid @ resid / dof)
    jac = np.column_stack([(heat[:, 1] - heat[:, 0]) / step, np.ones(y.size)])
    cov2 = np.linalg.pinv(jac.T @ jac) * s2  # over (scale, base)
    cov = np.zeros((3, 3))
    cov[0, 0] = cov2[0, 0] / scale**2
    cov[0, 2] = cov[2, 0] = cov2[0, 1] / scale
    cov[2, 2] = cov2[1, 1]
    cal_b = replace(
        b,
        h_tr_op=b.h_tr_op * scale,
        h_tr_roof=b.h_tr_roof * scale,
        h_tr_w=b.h_tr_w * scale,
    )
    return Calibration(
        cal_b,
        base,
        cov,
        float(np.sqrt(s2) / np.mean(y)),
        int(y.size),
        scale,
        float(np.sqrt(max(cov2[0, 0], 0.0))),
    )


@dataclass(frozen=True)
class WhatIf:
    measure: str
    kwh_saved: float
    eur_saved: float
    co2_kg_saved: float
    kwh_uncertainty: float


#: What each measure changes (docs/energy.md gives the assumptions).
MEASURES: dict[str, str] = {
    "toiture": "isoler la toiture (U de la toiture divisé par 4)",
    "fenetres": "changer les fenêtres (U des fenêtres divisé par 2)",
    "consigne_moins_1": "baisser la consigne de 1 °C",
    "pompe_a_chaleur": "remplacer la chaudière par une pompe à chaleur (COP 3)",
}


def _apply(b: Building5R1C, measure: str) -> Building5R1C:
    if measure == "toiture":
        return replace(b, h_tr_op=b.h_tr_op - 0.75 * b.h_tr_roof, h_tr_roof=0.25 * b.h_tr_roof)
    if measure == "fenetres":
        return replace(b, h_tr_w=b.h_tr_w / 2)
    if measure == "consigne_moins_1":
        return replace(b, setpoint=b.setpoint - 1.0)
    if measure == "pompe_a_chaleur":
        return replace(b, efficiency=3.0, energy="electricite")
    raise EnergyInputError(f"mesure « {measure} » inconnue : {', '.join(MEASURES)}")


def what_if(
    cal: Calibration,
    t_out_hourly: np.ndarray,
    solar_w_hourly: np.ndarray,
    prices_eur_kwh: dict[str, float],
    measures: tuple[str, ...] = ("toiture", "fenetres", "consigne_moins_1", "pompe_a_chaleur"),
) -> list[WhatIf]:
    """Yearly savings of each measure against the calibrated building.

    The uncertainty is the calibration's: the heating kWh scaled by the relative standard
    error of the envelope scale, and by CV(RMSE)/√days, added in quadrature.
    """
    t = np.asarray(t_out_hourly, dtype=float)
    sol = np.asarray(solar_w_hourly, dtype=float)
    years = t.size / 8760.0
    b0 = cal.building
    heat0 = simulate(b0, t, sol).sum() / 1000.0 / years
    rel = float(
        np.hypot(np.sqrt(max(cal.covariance[0, 0], 0.0)), cal.cv_rmse / np.sqrt(cal.n_days))
    )
    out = []
    for m in measures:
        b1 = _apply(b0, m)
        heat1 = simulate(b1, t, sol).sum() / 1000.0 / years
        e0, e1 = heat0 / b0.efficiency, heat1 / b1.efficiency
        eur = e0 * prices_eur_kwh.get(b0.energy, 0.0) - e1 * prices_eur_kwh.get(b1.energy, 0.0)
        co2 = e0 * EMISSION_FACTORS[b0.energy] - e1 * EMISSION_FACTORS[b1.energy]
        saved = e0 - e1
        out.append(WhatIf(m, float(saved), float(eur), float(co2), float(abs(saved) * rel)))
    return out
