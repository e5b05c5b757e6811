"""The 72-hour personal data breach notification draft for the CNIL (article 33 GDPR),
prefilled from the incident: what the operator must say, in the article's order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from clocher.core import scoping
from clocher.core.models import Membership
from clocher.incidents import services
from clocher.incidents.models import Incident

TO_COMPLETE = "[à compléter]"


@dataclass
class Section:
    title: str
    text: str


@dataclass
class Draft:
    incident: Incident
    deadline: dt.datetime
    hours_left: float
    sections: list[Section]

    @property
    def late(self) -> bool:
        return self.hours_left < 0


def _when(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y à %H:%M") if moment else "en cours"


def draft(incident: Incident, now: dt.datetime | None = None) -> Draft:
    now = now or timezone.now()
    operator = scoping.get_operator()
    communes = list(incident.communes.order_by("name"))
    accounts = (
        Membership.objects.filter(commune__in=communes, is_active=True)
        .values("user")
        .distinct()
        .count()
    )
    persons = (
        f"environ {incident.persons_count}"
        if incident.persons_count is not None
        else f"au plus {accounts} (comptes actifs des communes touchées ; estimation à affiner)"
    )
    records = (
        f"environ {incident.records_count}" if incident.records_count is not None else TO_COMPLETE
    )
    dpo = ", ".join(
        part for part in (settings.DPO_NAME, settings.DPO_EMAIL, settings.DPO_PHONE) if part
    ) or (
        f"{TO_COMPLETE} (contact de l'opérateur : {operator.contact_email})"
        if operator
        else TO_COMPLETE
    )
    actions = (
        "\n".join(f"- {_when(a.at)} : {a.text}" for a in incident.actions.all())
        or "- aucune action enregistrée"
    )
    deadline = services.deadline(incident)
    sections = [
        Section(
            "Responsable de traitement",
            f"{operator.name if operator else TO_COMPLETE}, pour le compte des communes : "
            + (", ".join(f"{c.name} ({c.insee})" for c in communes) or TO_COMPLETE),
        ),
        Section("Délégué à la protection des données", dpo),
        Section(
            "Chronologie",
            f"Début de l'incident : {_when(incident.started_at)}\n"
            f"Connaissance de la violation : {_when(incident.detected_at)}\n"
            f"Fin de l'incident : {_when(incident.ended_at)}\n"
            f"Échéance de notification (72 h) : {_when(deadline)}",
        ),
        Section(
            "Nature de la violation",
            (incident.nature or TO_COMPLETE)
            + f"\nIncident : {incident.title}\nPérimètre : {incident.scope}",
        ),
        Section(
            "Catégories et nombre approximatif de personnes concernées",
            f"{incident.person_categories or TO_COMPLETE}\nNombre : {persons}",
        ),
        Section(
            "Catégories et nombre approximatif d'enregistrements concernés",
            f"{incident.data_categories or TO_COMPLETE}\nNombre : {records}",
        ),
        Section("Conséquences probables", incident.consequences or TO_COMPLETE),
        Section(
            "Mesures prises ou envisagées",
            (incident.measures or TO_COMPLETE) + "\nActions menées :\n" + actions,
        ),
    ]
    if now > deadline:
        sections.append(Section("Motifs du retard (notification après 72 h)", TO_COMPLETE))
    return Draft(incident, deadline, (deadline - now).total_seconds() / 3600, sections)


def to_text(item: Draft) -> str:
    head = (
        "Projet de notification de violation de données personnelles à la CNIL "
        "(article 33 du RGPD)\n"
        f"Incident n°{item.incident.pk} — à notifier avant le {_when(item.deadline)}"
        + (" (délai dépassé)" if item.late else f" (reste {max(item.hours_left, 0):.0f} h)")
        + "\n"
    )
    body = "\n".join(
        f"\n{n}. {s.title}\n{'-' * (len(s.title) + len(str(n)) + 2)}\n{s.text}"
        for n, s in enumerate(item.sections, 1)
    )
    return head + body + "\n"


def to_pdf(item: Draft) -> bytes:
    from weasyprint import HTML

    html = render_to_string(
        "incidents/cnil_print.html", {"draft": item, "generated": timezone.localtime()}
    )
    return bytes(HTML(string=html).write_pdf())


def filename(incident: Incident, extension: str) -> str:
    return f"notification-cnil-incident-{incident.pk}.{extension}"
