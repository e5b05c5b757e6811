"""Drifts worth a phone call, from a load curve and a daily model → `Drift` (French text).

Interface: `detect_drifts(...)` runs all detectors;
`base_load_drifts`, `outlier_days`, `residual_jump` are the detectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from clocher.energy.engine._timeutil import paris_offset_utc
from clocher.energy.engine.baseline import DailyModel


@dataclass(frozen=True)
class Drift:
    """kind: "talon_nuit" | "talon_weekend" | "jour_hors_modele" | "rupture"."""

    kind: str
    start: date
    end: date
    value: float
    expected: float
    text: str


def _day(d: np.datetime64 | int) -> date:
    return date.fromisoformat(str(np.datetime64(int(d), "D")))


#: Nights (or weekend days) of the earlier weeks count as "the same temperature" within
#: this many °C of the recent one; with fewer than `SAME_TEMP_MIN` of them, the expected
#: base load comes from a degree-day line fitted on all earlier days.
SAME_TEMP_C = 2.0
SAME_TEMP_MIN = 3
BASE_C = 18.0


def _per_day(
    days: np.ndarray, mask: np.ndarray, e: np.ndarray, step: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(local days, mean kW over the masked steps of each day)."""
    uniq, inv = np.unique(days[mask], return_inverse=True)
    hours = np.bincount(inv, step[mask]) / 3600
    return uniq, np.bincount(inv, e[mask]) / hours


def _expected_same_weather(
    t_before: np.ndarray, kw_before: np.ndarray, t_after: np.ndarray
) -> np.ndarray:
    """Each recent day's expected base load: the mean of the earlier days at the same
    temperature (±2 °C), else the earlier days' line against heating degrees."""
    slope, intercept = np.polyfit(np.maximum(BASE_C - t_before, 0.0), kw_before, 1)
    line = intercept + slope * np.maximum(BASE_C - t_after, 0.0)
    near = np.abs(t_after[:, None] - t_before[None, :]) <= SAME_TEMP_C
    count = near.sum(axis=1)
    same = (near * kw_before[None, :]).sum(axis=1) / np.maximum(count, 1)
    return np.where(count >= SAME_TEMP_MIN, same, line)


def base_load_drifts(
    start_utc: np.ndarray,
    kwh: np.ndarray,
    step_s: np.ndarray | int,
    recent_days: int = 28,
    weather: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Drift]:
    """Night (0–5 h local) and weekend base load rising above its earlier level.

    Base load = mean power over night hours (or over Saturday–Sunday) in kW. The last
    `recent_days` are compared with the weeks before; a rise of 20 % and 0.2 kW or more
    is a drift: heating or lights left on, a pump that no longer stops.

    `weather` = (days as datetime64[D], mean daily °C): an electrically heated building
    draws more at night in winter, so each recent day is then compared with the earlier
    days of the same temperature (not with a flat autumn level, a false alarm every
    winter). Without weather, the flat comparison.
    """
    start = np.asarray(start_utc, dtype=np.int64)
    e = np.asarray(kwh, dtype=float)
    step = np.broadcast_to(np.asarray(step_s, dtype=float), e.shape)
    local = start + paris_offset_utc(start)
    days = local // 86_400
    hour = (local % 86_400) // 3600
    weekday = (days + 3) % 7  # Monday = 0
    if days.size == 0:
        return []
    cut = days.max() - recent_days
    temp_of: dict[int, float] = {}
    if weather is not None:
        w_days = np.asarray(weather[0]).astype("datetime64[D]").astype(np.int64)
        w_temp = np.asarray(weather[1], dtype=float)
        temp_of = {int(d): float(t) for d, t in zip(w_days, w_temp, strict=True) if np.isfinite(t)}
    out = []
    for kind, mask, label in (
        ("talon_nuit", hour < 5, "la nuit (0 h–5 h)"),
        ("talon_weekend", weekday >= 5, "le week-end"),
    ):
        before, after = mask & (days <= cut), mask & (days > cut)
        if before.sum() < 10 or after.sum() < 5:
            continue
        kw_before = e[before].sum() / (step[before].sum() / 3600)
        kw_after = e[after].sum() / (step[after].sum() / 3600)
        how = "avant"
        if temp_of:
            d_b, k_b = _per_day(days, before, e, step)
            d_a, k_a = _per_day(days, after, e, step)
            t_b = np.array([temp_of.get(int(d), np.nan) for d in d_b])
            t_a = np.array([temp_of.get(int(d), np.nan) for d in d_a])
            ok_b, ok_a = np.isfinite(t_b), np.isfinite(t_a)
            if ok_b.sum() >= 5 and ok_a.sum() >= 2:
                kw_after = float(k_a[ok_a].mean())
                kw_before = float(_expected_same_weather(t_b[ok_b], k_b[ok_b], t_a[ok_a]).mean())
                how = "attendus à température égale"
        if kw_after > 1.2 * kw_before and kw_after - kw_before >= 0.2:
            out.append(
                Drift(
                    kind,
                    _day(cut + 1),
                    _day(days.max()),
                    float(kw_after),
                    float(kw_before),
                    f"Consommation de fond {label} : {kw_after:.1f} kW sur les {recent_days} "
                    f"derniers jours contre {kw_before:.1f} kW {how} (+"
                    f"{kw_after / kw_before - 1:.0%}) — un équipement reste allumé ?",
                )
            )
    return out


def outlier_days(
    days: np.ndarray, kwh: np.ndarray, low: np.ndarray, high: np.ndarray
) -> list[Drift]:
    """Days outside the model's prediction interval [low, high]."""
    d = np.asarray(days).astype("datetime64[D]").astype(np.int64)
    y = np.asarray(kwh, dtype=float)
    out = []
    for i in np.flatnonzero(np.isfinite(y) & ((y > high) | (y < low))):
        expected = (low[i] + high[i]) / 2
        word = "au-dessus" if y[i] > high[i] else "au-dessous"
        out.append(
            Drift(
                "jour_hors_modele",
                _day(d[i]),
                _day(d[i]),
                float(y[i]),
                float(expected),
                f"Le {_day(d[i]).strftime('%d/%m/%Y')} : {y[i]:.0f} kWh, {word} de l'intervalle "
                f"attendu pour la météo du jour ({low[i]:.0f}–{high[i]:.0f} kWh)",
            )
        )
    return out


def residual_jump(days: np.ndarray, residuals: np.ndarray, min_days: int = 14) -> Drift | None:
    """The most likely change point of the residuals' mean, if significant.

    Every split with at least `min_days` on each side is scored by the two-sample t
    statistic (vectorised with cumulative sums); a jump is reported when |t| > 5 and
    the shift exceeds one residual standard deviation.
    """
    d = np.asarray(days).astype("datetime64[D]").astype(np.int64)
    r = np.asarray(residuals, dtype=float)
    ok = np.isfinite(r)
    d, r = d[ok], r[ok]
    n = r.size
    if n < 2 * min_days:
        return None
    k = np.arange(min_days, n - min_days + 1)
    cs, cs2 = np.cumsum(r), np.cumsum(r * r)
    m1 = cs[k - 1] / k
    m2 = (cs[-1] - cs[k - 1]) / (n - k)
    v1 = cs2[k - 1] / k - m1**2
    v2 = (cs2[-1] - cs2[k - 1]) / (n - k) - m2**2
    pooled = np.sqrt(np.maximum((v1 * k + v2 * (n - k)) / (n - 2), 1e-12))
    tstat = (m2 - m1) / (pooled * np.sqrt(1 / k + 1 / (n - k)))
    j = int(np.argmax(np.abs(tstat)))
    shift = m2[j] - m1[j]
    if abs(tstat[j]) <= 5 or abs(shift) <= pooled[j]:
        return None
    when = _day(d[k[j]])
    word = "hausse" if shift > 0 else "baisse"
    return Drift(
        "rupture",
        when,
        _day(d[-1]),
        float(m2[j]),
        float(m1[j]),
        f"Rupture le {when.strftime('%d/%m/%Y')} : {word} durable de {abs(shift):.0f} kWh/jour "
        "par rapport au modèle (travaux, changement d'usage, panne ?)",
    )


def detect_drifts(
    start_utc: np.ndarray,
    kwh: np.ndarray,
    step_s: np.ndarray | int,
    days: np.ndarray,
    daily_kwh: np.ndarray,
    temp_c: np.ndarray,
    model: DailyModel,
) -> list[Drift]:
    """All detectors: base loads on the curve, outlier days and a jump against the model."""
    out = base_load_drifts(start_utc, kwh, step_s, weather=(days, temp_c))
    low, high = model.interval(temp_c, 0.99)
    out += outlier_days(days, daily_kwh, low, high)
    jump = residual_jump(days, np.asarray(daily_kwh) - model.predict(temp_c))
    if jump:
        out.append(jump)
    return out
