"""Drifts: the engine's detectors on the stored data, stored once, and the weekly mail
to each commune's admins through the platform's mail."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune, Membership, Role
from clocher.energy.engine import drifts as dr
from clocher.energy.models import (
    DailyReading,
    Drift,
    Meter,
    MeterKind,
)
from clocher.energy.services.baselines import (
    expected_days,
    fit_baseline,
    latest_baseline,
    model_of,
)
from clocher.energy.services.series import curve_arrays, daily_series, temperatures

#: A day is "far outside" the model beyond its 99 % prediction interval (1 false alarm
#: per 100 normal days, instead of 5 at 95 %).
OUTLIER_LEVEL = 0.99


def merge_outlier_runs(found: list[dr.Drift]) -> list[dr.Drift]:
    """Consecutive days outside the model on the same side become one drift: a heater
    left on for three weeks is one phone call, not twenty-one lines in the mail."""
    others = [d for d in found if d.kind != "jour_hors_modele"]
    days = sorted((d for d in found if d.kind == "jour_hors_modele"), key=lambda d: d.start)
    runs: list[list[dr.Drift]] = []
    for d in days:
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and (d.start - last.end).days <= 1
            and (d.value > d.expected) == (last.value > last.expected)
        ):
            runs[-1].append(d)
        else:
            runs.append([d])
    merged = []
    for run in runs:
        if len(run) == 1:
            merged.append(run[0])
            continue
        value, expected = sum(d.value for d in run), sum(d.expected for d in run)
        side = "au-dessus" if value > expected else "au-dessous"
        measured, predicted = (f"{v:,.0f}".replace(",", "\u202f") for v in (value, expected))
        text = (
            f"Du {run[0].start:%d/%m/%Y} au {run[-1].end:%d/%m/%Y} : {len(run)} jours de suite "
            f"{side} de l'intervalle attendu pour la météo ({measured} kWh mesurés, "
            f"{predicted} attendus)."
        )
        merged.append(dr.Drift(run[0].kind, run[0].start, run[-1].end, value, expected, text))
    return others + merged


def detect_drifts(actor: Actor, meter: Meter, weeks: int = 8) -> list[Drift]:
    """The engine's detectors on the last `weeks` weeks; new drifts are stored once."""
    last = DailyReading.objects.filter(meter=meter).aggregate(last=Max("day"))["last"]
    if last is None:
        return []
    since = last - timedelta(weeks=weeks)
    found: list[dr.Drift] = []
    curve_since = last - timedelta(weeks=weeks * 3)
    starts, kwh, steps = curve_arrays(meter, curve_since)
    if starts.size:
        # The weather of those days: a base load that follows the cold is not a drift.
        curve_days = np.arange(
            np.datetime64(curve_since, "D"), np.datetime64(last, "D") + 2, dtype="datetime64[D]"
        )
        curve_temp = temperatures(meter.building.station, curve_days)
        found += dr.base_load_drifts(starts, kwh, steps, weather=(curve_days, curve_temp))
    baseline = latest_baseline(meter)
    if baseline is not None:
        model = model_of(baseline)
        days, daily = daily_series(meter, since, last)
        temp = temperatures(meter.building.station, days)
        expected, low, high = expected_days(meter, model, days, temp, OUTLIER_LEVEL)
        ok = np.isfinite(temp) & np.isfinite(expected)
        if ok.sum() >= 7:
            found += dr.outlier_days(days[ok], daily[ok], low[ok], high[ok])
            jump = dr.residual_jump(days[ok], daily[ok] - expected[ok])
            if jump is not None:
                found.append(jump)
    found = merge_outlier_runs(found)
    existing = {(d.kind, d.start): d for d in Drift.objects.filter(meter=meter)}
    new = [
        Drift(
            commune_id=meter.commune_id,
            meter=meter,
            kind=d.kind,
            start=d.start,
            end=d.end,
            value=d.value,
            expected=d.expected,
            text=d.text[:400],
        )
        for d in found
        if (d.kind, d.start) not in existing
    ]
    # A run that goes on is the same drift, lengthened (and not mailed again).
    longer = [
        (existing[(d.kind, d.start)], d)
        for d in found
        if (d.kind, d.start) in existing and d.end > existing[(d.kind, d.start)].end
    ]
    if new or longer:
        with transaction.atomic():
            Drift.objects.bulk_create(new)
            for stored, d in longer:
                stored.end, stored.value, stored.expected = d.end, d.value, d.expected
                stored.text = d.text[:400]
                stored.save(update_fields=["end", "value", "expected", "text"])
            audit.record(
                actor,
                "energy.drifts_detected",
                commune=meter.commune,
                target=f"meter:{meter.pk}",
                data={
                    "count": len(new),
                    "lengthened": len(longer),
                    "kinds": sorted({d.kind for d in new} | {d.kind for _, d in longer}),
                },
            )
    return new


def acknowledge_drift(actor: Actor, drift: Drift) -> Drift:
    with transaction.atomic():
        drift.acknowledged_at = timezone.now()
        drift.acknowledged_by_label = actor.display[:200]
        drift.save(update_fields=["acknowledged_at", "acknowledged_by_label"])
        audit.record(
            actor, "energy.drift_acknowledged", commune=drift.commune, target=f"drift:{drift.pk}"
        )
    return drift


def drift_mail(actor: Actor, commune: Commune) -> int:
    """Mail the commune admins the drifts not yet mailed (one message); 0 if none."""
    from django.conf import settings
    from django.core.mail import send_mail
    from django.urls import reverse

    with transaction.atomic():
        pending = list(
            Drift.objects.select_for_update()
            .filter(commune=commune, mailed_at__isnull=True, acknowledged_at__isnull=True)
            .select_related("meter__building")
            .order_by("meter__building__name", "start")
        )
        admins = sorted(
            Membership.objects.filter(
                commune=commune, role=Role.COMMUNE_ADMIN, is_active=True, user__is_active=True
            ).values_list("user__email", flat=True)
        )
        if not pending or not admins:
            return 0
        lines = [
            f"- {d.meter.building.name} ({d.meter.get_kind_display()} {d.meter.identifier}), "
            f"{d.start:%d/%m/%Y} : {d.text}"
            for d in pending
        ]
        url = settings.BASE_URL.rstrip("/") + reverse(
            "energy:buildings", kwargs={"insee": commune.insee}
        )
        body = (
            f"Bonjour,\n\nCette semaine, {len(pending)} dérive(s) de consommation relevée(s) "
            f"dans les bâtiments de {commune.name} :\n\n" + "\n".join(lines) + "\n\n"
            f"Le détail, le modèle et la courbe de charge : {url}\n\n-- Clocher, énergie\n"
        )
        Drift.objects.filter(pk__in=[d.pk for d in pending]).update(mailed_at=timezone.now())
        audit.record(
            actor,
            "energy.drift_mail_sent",
            commune=commune,
            data={"drifts": len(pending), "to": len(admins)},
        )
        subject = f"Énergie : {len(pending)} dérive(s) dans les bâtiments de {commune.name}"
        transaction.on_commit(lambda: send_mail(subject, body, None, admins))
    return 1


def weekly_drift_round(actor: Actor) -> tuple[int, int]:
    """Every meter's detectors (refitting a missing baseline), then one mail per commune."""
    found = 0
    for meter in Meter.objects.exclude(kind=MeterKind.EAU).select_related("building__station"):
        if latest_baseline(meter) is None and meter.building.station is not None:
            with contextlib.suppress(ValidationError):
                fit_baseline(actor, meter)
        found += len(detect_drifts(actor, meter))
    mailed = sum(
        drift_mail(actor, c) for c in Commune.objects.filter(buildings__isnull=False).distinct()
    )
    return found, mailed
