"""The fleet as the operator sees it: online or not, flows per box, alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils import timezone

from clocher.core import scoping
from clocher.shield.models import (
    Box,
    EventKind,
    ShieldEvent,
)

# A box silent longer than this is shown offline and raises an alert.
OFFLINE_AFTER = dt.timedelta(hours=1)


def is_online(box: Box, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return box.last_seen is not None and now - box.last_seen <= OFFLINE_AFTER


def local_day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def flows_between(boxes: QuerySet[Box], since: dt.datetime, until: dt.datetime) -> dict[Any, int]:
    """Flows each box dropped in [since, until) (its 'drops' events)."""
    rows = (
        ShieldEvent.objects.filter(box__in=boxes, kind=EventKind.DROPS, at__gte=since, at__lt=until)
        .values("box_id")
        .annotate(total=Sum("flows"))
    )
    return {row["box_id"]: row["total"] or 0 for row in rows}


@dataclass
class FleetRow:
    box: Box
    online: bool
    flows_today: int


@dataclass
class Alert:
    box: Box
    message: str
    kind: str = "silent"  # or "spike"


# A box's drops today above both figures is an attack spike.
SPIKE_MIN_FLOWS = 1000


SPIKE_FACTOR = 5


def fleet(boxes: QuerySet[Box]) -> tuple[list[FleetRow], list[Alert]]:
    """The boxes with their state, and the alerts: silent > 1 h, or an attack spike
    (today's drops above SPIKE_MIN_FLOWS and SPIKE_FACTOR times the daily mean of the
    seven days before)."""
    now = timezone.now()
    today = local_day_start(timezone.localdate())
    week_start = today - dt.timedelta(days=7)
    boxes = boxes.select_related("commune")
    today_flows = flows_between(boxes, today, today + dt.timedelta(days=1))
    week_flows = flows_between(boxes, week_start, today)
    rows, alerts = [], []
    for box in boxes:
        online = is_online(box, now)
        flows = today_flows.get(box.pk, 0)
        rows.append(FleetRow(box, online, flows))
        if box.revoked:
            continue
        if not online:
            since = box.last_seen.strftime("%d/%m/%Y %H:%M") if box.last_seen else "jamais"
            alerts.append(
                Alert(
                    box, f"silencieux depuis plus d'une heure (dernier contact : {since})", "silent"
                )
            )
        baseline = week_flows.get(box.pk, 0) / 7
        if flows >= SPIKE_MIN_FLOWS and flows > SPIKE_FACTOR * baseline:
            alerts.append(
                Alert(
                    box,
                    f"pic d'attaque : {flows} flux bloqués aujourd'hui "
                    f"(moyenne {baseline:.0f}/jour)",
                    "spike",
                )
            )
    return rows, alerts


def send_alerts(now: dt.datetime | None = None) -> list[Alert]:
    """Mail the operator each new alert once: a box that went silent (again after it
    came back), an attack spike (once a day per box)."""
    from django.core.mail import send_mail

    now = now or timezone.now()
    today = timezone.localdate(now)
    _, alerts = fleet(Box.objects.filter(revoked_at__isnull=True))
    fresh = []
    for alert in alerts:
        box = alert.box
        if alert.kind == "silent":
            if box.silence_alerted_at is not None and (
                box.last_seen is None or box.silence_alerted_at > box.last_seen
            ):
                continue  # this silence was already told
            Box.objects.filter(pk=box.pk).update(silence_alerted_at=now)
        else:
            if box.spike_alerted_on == today:
                continue
            Box.objects.filter(pk=box.pk).update(spike_alerted_on=today)
        fresh.append(alert)
    operator = scoping.get_operator()
    if fresh and operator is not None and operator.contact_email:
        lines = [f"- {a.box.hostname} ({a.box.commune.name}) : {a.message}" for a in fresh]
        body = "Alertes des boîtiers de sécurité :\n\n" + "\n".join(lines) + "\n"
        subject = f"Bouclier : {len(fresh)} alerte(s)"
        send_mail(subject, body, None, [operator.contact_email], fail_silently=True)
    return fresh
