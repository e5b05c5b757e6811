# ruff: noqa: B023 — `air()` is called only inside the iteration that defines it
"""ISO 13790 5R1C hourly model (the "simple hourly method"), calibration and what-if.

Interface: `Building5R1C` (parameters), `simulate(b, t_out, solar_w, internal_w)` →
hourly heating need (W); `calibrate(b, t_out_hourly, solar, days, observed_kwh, ...)`
→ `Calibration`; `what_if(calibration, ...)` → one `WhatIf` per measure with kWh, €,
CO2 saved per year and their uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import least_squares

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


def _run(
    p: dict[str, np.ndarray],
    t_out: np.ndarray,
    solar_w: np.ndarray,
    internal_w: np.ndarray,
    setpoint: np.ndarray,
) -> np.ndarray:
    """Annex C hourly Crank–Nicolson steps for k parameter sets → heating need (hours, k)."""
    h_ve, h_tr_w, h_tr_em = p["h_ve"], p["h_tr_w"], p["h_tr_em"]
    h_tr_is, h_tr_ms, c_m = p["h_tr_is"], p["h_tr_ms"], p["c_m"]
    h1 = 1 / (1 / h_ve + 1 / h_tr_is)
    h2 = h1 + h_tr_w
    h3 = 1 / (1 / h2 + 1 / h_tr_ms)
    cm = c_m / 3600.0
    frac_m = p["a_m"] / p["a_t"]
    frac_s = 1 - frac_m - h_tr_w / (9.1 * p["a_t"])
    theta_m = np.full(h_ve.shape, 18.0)
    out = np.zeros((t_out.size, h_ve.size))
    for i in range(t_out.size):
        te = t_out[i]
        phi_ia = 0.5 * internal_w[i]
        rest = 0.5 * internal_w[i] + solar_w[i]
        phi_st, phi_m = frac_s * rest, frac_m * rest

        def air(phi_hc: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
            phi_mtot = (
                phi_m
                + h_tr_em * te
                + h3 * (phi_st + h_tr_w * te + h1 * ((phi_ia + phi_hc) / h_ve + te)) / h2
            )
            tm_new = (theta_m * (cm - 0.5 * (h3 + h_tr_em)) + phi_mtot) / (
                cm + 0.5 * (h3 + h_tr_em)
            )
            tm_avg = (tm_new + theta_m) / 2
            ts = (
                h_tr_ms * tm_avg + phi_st + h_tr_w * te + h1 * (te + (phi_ia + phi_hc) / h_ve)
            ) / (h_tr_ms + h_tr_w + h1)
            ta = (h_tr_is * ts + h_ve * te + phi_ia + phi_hc) / (h_tr_is + h_ve)
            return ta, tm_new

        ta0, tm0 = air(0.0)
        need = np.zeros(h_ve.shape)
        cold = ta0 < setpoint
        if cold.any():
            ta10, _ = air(10.0)  # θ_air is linear in φ_HC: interpolate (ISO 13790 §C.4)
            need = np.where(cold, 10.0 * (setpoint - ta0) / (ta10 - ta0), 0.0)
            _, tm0 = air(need)
        theta_m = tm0
        out[i] = need
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
    building: Building5R1C
    base_kwh_day: float
    covariance: np.ndarray
    cv_rmse: float
    n_days: int


def _daily(hourly_w: np.ndarray) -> np.ndarray:
    return hourly_w.reshape(-1, 24, hourly_w.shape[-1]).sum(axis=1) / 1000.0


def calibrate(
    b: Building5R1C,
    t_out_hourly: np.ndarray,
    solar_w_hourly: np.ndarray,
    observed_kwh_day: np.ndarray,
) -> Calibration:
    """Fit envelope scale, ventilation and base load to the daily metered kWh.

    Model of a day: base + heating need / efficiency. Least squares (scipy) on three
    parameters; the Jacobian's columns are simulated in one batched run.
    """
    t = np.asarray(t_out_hourly, dtype=float)
    sol = np.asarray(solar_w_hourly, dtype=float)
    obs = np.asarray(observed_kwh_day, dtype=float)
    if t.size != obs.size * 24:
        raise EnergyInputError("il faut 24 températures horaires par jour mesuré")
    gains = np.full(t.shape, b.internal_w_per_m2 * b.floor_area)
    ok = np.isfinite(obs)

    def model(theta: np.ndarray) -> np.ndarray:  # theta: (k, 3) → (days, k)
        p = _batch(b, theta[:, 0], theta[:, 1] * b.h_ve)
        need = _run(p, t, sol, gains, np.full(theta.shape[0], b.setpoint))
        return _daily(need) / b.efficiency + theta[:, 2][None, :]

    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def both(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = x.tobytes()
        if key not in cache:
            steps = np.maximum(np.abs(x) * 1e-3, 1e-4)
            thetas = np.vstack([x, x + np.diag(steps)])
            pred = model(thetas)[ok]
            cache.clear()
            cache[key] = (pred[:, 0] - obs[ok], (pred[:, 1:] - pred[:, :1]) / steps)
        return cache[key]

    x0 = np.array([1.0, 1.0, max(float(np.nanmin(obs)), 0.0)])
    fit = least_squares(
        lambda x: both(x)[0],
        x0,
        jac=lambda x: both(x)[1],
        bounds=([0.05, 0.05, 0.0], [10.0, 10.0, np.inf]),
        x_scale=[1.0, 1.0, max(x0[2], 1.0)],
    )
    resid = fit.fun
    dof = max(resid.size - 3, 1)
    s2 = float(resid @ resid / dof)
    jac = fit.jac
    cov = np.linalg.pinv(jac.T @ jac) * s2
    cal_b = replace(
        b,
        h_tr_op=b.h_tr_op * fit.x[0],
        h_tr_roof=b.h_tr_roof * fit.x[0],
        h_tr_w=b.h_tr_w * fit.x[0],
        h_ve=b.h_ve * fit.x[1],
    )
    return Calibration(
        cal_b, float(fit.x[2]), cov, float(np.sqrt(s2) / np.mean(obs[ok])), int(ok.sum())
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
