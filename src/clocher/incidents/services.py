"""Open, follow and close incidents; every change journalled in its own transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune, CommuneStatus
from clocher.incidents.models import Incident, IncidentAction, Severity

NOTIFICATION_DELAY = dt.timedelta(hours=72)  # article 33 GDPR

BREACH_FIELDS = (
    "personal_data",
    "nature",
    "data_categories",
    "person_categories",
    "persons_count",
    "records_count",
    "consequences",
    "measures",
)


def communes_from_codes(codes: Iterable[str]) -> list[Commune]:
    """The communes named by INSEE code; an unknown code is refused by name."""
    wanted = sorted({code.strip() for code in codes if code.strip()})
    found = {c.insee: c for c in Commune.objects.filter(insee__in=wanted)}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise ValidationError(f"Commune(s) inconnue(s) : {', '.join(unknown)}.")
    return [found[code] for code in wanted]


def _journal(actor: Actor, event: str, incident: Incident, **data: Any) -> None:
    audit.record(
        actor,
        event,
        target=f"incident n°{incident.pk}",
        data={"communes": sorted(c.insee for c in incident.communes.all()), **data},
    )


def open_incident(
    actor: Actor,
    title: str,
    scope: str,
    communes: list[Commune],
    *,
    severity: str = Severity.MAJOR,
    started_at: dt.datetime | None = None,
    notice: str = "",
) -> Incident:
    """Register an incident; its notice is shown at once to the affected communes' agents."""
    if not title.strip():
        raise ValidationError("Donnez un intitulé à l'incident.")
    if not scope.strip():
        raise ValidationError("Décrivez le périmètre de l'incident (services, systèmes touchés).")
    if severity not in Severity.values:
        raise ValidationError(f"Gravité inconnue : {severity}.")
    now = timezone.now()
    started_at = started_at or now
    if started_at > now + dt.timedelta(minutes=5):
        raise ValidationError("Le début de l'incident ne peut pas être dans le futur.")
    with transaction.atomic():
        incident = Incident.objects.create(
            title=title.strip(),
            scope=scope.strip(),
            severity=severity,
            started_at=started_at,
            detected_at=now,
            notice=notice.strip() or default_notice(title),
            created_by=actor.display[:254],
        )
        incident.communes.set(communes)
        _journal(actor, "incident.open", incident, titre=incident.title, gravite=severity)
    return incident


def default_notice(title: str) -> str:
    return (
        f"Incident en cours : {title.strip()}. Les équipes du département y travaillent ; "
        "ce message disparaîtra à la fin de l'incident."
    )


def add_action(
    actor: Actor, incident: Incident, text: str, at: dt.datetime | None = None
) -> IncidentAction:
    if not text.strip():
        raise ValidationError("Décrivez l'action menée.")
    with transaction.atomic():
        action = IncidentAction.objects.create(
            incident=incident, at=at or timezone.now(), text=text.strip(),
            actor_label=actor.display[:254],
        )  # fmt: skip
        _journal(actor, "incident.action", incident, action=action.text[:500])
    return action


def set_notice(actor: Actor, incident: Incident, text: str) -> Incident:
    if not text.strip():
        raise ValidationError("L'avis aux communes ne peut pas être vide.")
    with transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(notice=text.strip())
        incident.notice = text.strip()
        _journal(actor, "incident.notice", incident, avis=incident.notice[:500])
    return incident


def set_communes(actor: Actor, incident: Incident, communes: list[Commune]) -> Incident:
    with transaction.atomic():
        incident.communes.set(communes)
        _journal(actor, "incident.communes", incident)
    return incident


def update_breach(actor: Actor, incident: Incident, **fields: Any) -> Incident:
    """The personal-data facts the CNIL notification draft is made from."""
    unknown = set(fields) - set(BREACH_FIELDS)
    if unknown:
        raise ValidationError(f"Champ(s) inconnu(s) : {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        for name, value in fields.items():
            setattr(incident, name, value)
        incident.save(update_fields=list(fields))
        _journal(actor, "incident.breach", incident, champs=sorted(fields))
    return incident


def close_incident(
    actor: Actor, incident: Incident, summary: str = "", at: dt.datetime | None = None
) -> Incident:
    """End the incident: its notice leaves the communes' pages."""
    if incident.ended_at is not None:
        raise ValidationError(f"L'incident n°{incident.pk} est déjà clos.")
    ended_at = at or timezone.now()
    if ended_at < incident.started_at:
        raise ValidationError("La fin de l'incident ne peut pas précéder son début.")
    with transaction.atomic():
        if summary.strip():
            IncidentAction.objects.create(
                incident=incident, at=ended_at, text=f"Clôture : {summary.strip()}",
                actor_label=actor.display[:254],
            )  # fmt: skip
        Incident.objects.filter(pk=incident.pk).update(ended_at=ended_at)
        incident.ended_at = ended_at
        _journal(actor, "incident.close", incident, resume=summary.strip()[:500])
    return incident


def open_for(user: Any) -> QuerySet[Incident]:
    """Open incidents affecting a commune where `user` is an active member (the notice
    they must see); one query, on the membership join."""
    return (
        Incident.objects.filter(
            ended_at__isnull=True,
            communes__status=CommuneStatus.ACTIVE,
            communes__memberships__user=user,
            communes__memberships__is_active=True,
        )
        .distinct()
        .only("pk", "title", "notice", "started_at")
    )


def deadline(incident: Incident) -> dt.datetime:
    """When the CNIL must have been notified (72 h after the breach became known)."""
    return incident.detected_at + NOTIFICATION_DELAY
