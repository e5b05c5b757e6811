"""The night/weekend base-load detector weighs the weather: an electrically heated
building that draws more at night as winter comes raises no alarm; the same building
with a heater left on at night does."""

from __future__ import annotations

import numpy as np

from clocher.energy.engine import drifts as dr
from clocher.energy.engine._timeutil import paris_offset_utc

DAYS = 168
START = np.datetime64("2024-09-02", "D")


def heated_building(extra_night_kw: float = 0.0):  # type: ignore[no-untyped-def]
    """24 weeks of half-hourly kWh from September to February: base load 1 kW plus
    0.3 kW per degree under 15 °C (electric heating), 5 kW more on weekday daytimes;
    `extra_night_kw` left on at night (0–5 h) over the last 4 weeks."""
    rng = np.random.default_rng(17)  # fixed: the same weather every run
    day_index = np.arange(DAYS)
    temp = np.minimum(14.0 - 12.0 * day_index / 140, 14.0) + rng.normal(0, 1.5, DAYS)
    temp[day_index >= 140] = 2.0 + rng.normal(0, 1.5, 28)
    starts = (START.astype("datetime64[s]").astype(np.int64) + np.arange(DAYS * 48) * 1800).astype(
        np.int64
    )
    local = starts + paris_offset_utc(starts)
    local_day = local // 86_400 - START.astype(np.int64)
    hour = (local % 86_400) // 3600
    weekday = (local // 86_400 + 3) % 7
    t = temp[np.clip(local_day, 0, DAYS - 1)]
    kw = 1.0 + 0.3 * np.maximum(15.0 - t, 0.0)
    kw = kw + np.where((weekday < 5) & (hour >= 8) & (hour < 18), 5.0, 0.0)
    kw = kw + np.where((local_day >= DAYS - 28) & (hour < 5), extra_night_kw, 0.0)
    days = START + day_index
    return starts, kw * 0.5, days, temp


def test_winter_nights_of_an_electric_heated_building_are_no_drift() -> None:
    starts, kwh, days, temp = heated_building()
    found = dr.base_load_drifts(starts, kwh, 1800, weather=(days, temp))
    assert found == []
    # The flat comparison (no weather) is the false alarm this guards against.
    assert any(d.kind == "talon_nuit" for d in dr.base_load_drifts(starts, kwh, 1800))


def test_a_heater_left_on_at_night_is_a_drift_whatever_the_weather() -> None:
    starts, kwh, days, temp = heated_building(extra_night_kw=2.0)
    found = dr.base_load_drifts(starts, kwh, 1800, weather=(days, temp))
    night = [d for d in found if d.kind == "talon_nuit"]
    assert len(night) == 1
    assert night[0].value - night[0].expected > 1.5
    assert "à température égale" in night[0].text
