"""The energy app's services, by concern: buildings and meters, series read from the
readings, baselines, the décret tertiaire and OPERAT, drifts and their weekly mail, the
what-if, the operator's overview and the forecast.

Every function that changes something takes an `Actor` and writes its audit entry in
the same transaction; every query that serves a user goes through `core.scoping`. The
numbers come from the engine (`clocher.energy.engine`, plain numpy); these modules read
and write the database around it. File imports are in `clocher.energy.imports`.
"""

from clocher.energy.services.baselines import (
    BASELINE_DAYS,
    GRANULARITIES,
    MIN_BASELINE_DAYS,
    MeasuredSavings,
    choose_granularity,
    expected_days,
    fit_baseline,
    latest_baseline,
    measured_savings,
    model_of,
    normal_year_temperatures,
    verdict_words,
    week_profile,
)
from clocher.energy.services.buildings import (
    BuildingInput,
    add_meter,
    building_for,
    buildings_for,
    create_building,
    may_edit,
    meter_for,
    set_reference_year,
)
from clocher.energy.services.decret import (
    OPERAT_ACTIVITY,
    BuildingTrajectory,
    ReferenceCandidate,
    building_trajectory,
    commune_trajectory,
    export_operat,
    normal_dju,
    operat_csv,
    reference_candidates,
    year_consumptions,
)
from clocher.energy.services.drifts import (
    OUTLIER_LEVEL,
    acknowledge_drift,
    detect_drifts,
    drift_mail,
    weekly_drift_round,
)
from clocher.energy.services.overview import (
    FORECAST_HORIZON_MONTHS,
    BuildingForecast,
    building_forecast,
    forecast_key,
    overview,
    request_forecast,
)
from clocher.energy.services.series import (
    curve_arrays,
    daily_series,
    heatmap,
    hourly_series,
    hourly_temperatures,
    monthly_points,
    temperatures,
    yearly_dju,
)
from clocher.energy.services.whatif import (
    METER_KIND_OF,
    emission_factors,
    prices_eur_kwh,
    prices_used,
    save_action,
    what_if,
)

__all__ = [
    "BASELINE_DAYS",
    "FORECAST_HORIZON_MONTHS",
    "GRANULARITIES",
    "METER_KIND_OF",
    "MIN_BASELINE_DAYS",
    "OPERAT_ACTIVITY",
    "OUTLIER_LEVEL",
    "BuildingForecast",
    "BuildingInput",
    "BuildingTrajectory",
    "ReferenceCandidate",
    "acknowledge_drift",
    "add_meter",
    "building_for",
    "building_forecast",
    "building_trajectory",
    "choose_granularity",
    "buildings_for",
    "commune_trajectory",
    "create_building",
    "curve_arrays",
    "daily_series",
    "detect_drifts",
    "drift_mail",
    "emission_factors",
    "expected_days",
    "export_operat",
    "fit_baseline",
    "measured_savings",
    "MeasuredSavings",
    "normal_year_temperatures",
    "forecast_key",
    "heatmap",
    "hourly_series",
    "hourly_temperatures",
    "latest_baseline",
    "may_edit",
    "meter_for",
    "model_of",
    "monthly_points",
    "normal_dju",
    "operat_csv",
    "overview",
    "prices_eur_kwh",
    "prices_used",
    "request_forecast",
    "reference_candidates",
    "save_action",
    "set_reference_year",
    "temperatures",
    "verdict_words",
    "week_profile",
    "weekly_drift_round",
    "what_if",
    "year_consumptions",
    "yearly_dju",
]
