"""Awareness commands: `clocher awareness campaign create|send|report`.

Thin: every decision is in services.py; this module reads arguments and prints.
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from pathlib import Path

import click
from django.core.exceptions import ValidationError
from django.utils import timezone
from rich.table import Table

from clocher.core.audit import Actor
from clocher.core.cli import console, fail, find_commune, validation_message
from clocher.core.terminal import json_option, show

CLI = Actor(label="ligne de commande")


@click.group()
def awareness() -> None:
    """Sensibilisation à l'hameçonnage : campagnes d'exercices adaptées à chaque agent."""


@awareness.group()
def campaign() -> None:
    """Campagnes d'exercices d'une commune."""


@campaign.command("create")
@click.argument("insee")
@click.argument("name")
@click.option(
    "--debut", "starts_on", default="", help="Premier jour (AAAA-MM-JJ), défaut : aujourd'hui."
)
@click.option("--jours", "days", type=int, default=3, help="Jours ouvrés d'envoi.")
def create(insee: str, name: str, starts_on: str, days: int) -> None:
    """Programme une campagne pour les agents participants de la commune INSEE."""
    from clocher.awareness import services

    commune = find_commune(insee)
    try:
        first = date.fromisoformat(starts_on) if starts_on else timezone.localdate()
        made = services.create_campaign(CLI, commune, name, first, days)
    except ValueError:
        fail(f"Date de début illisible : « {starts_on} » (attendu AAAA-MM-JJ).")
        return
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    console.print(
        f"Campagne {made.pk} « {made.name} » : {made.recipients.count()} agent(s), "
        f"envois répartis sur {days} jour(s) ouvré(s) à partir du {made.starts_on}."
    )


@campaign.command("send")
@click.option("--every", type=int, default=0, help="Recommencer toutes les N secondes.")
@click.option(
    "--maintenant",
    "now_id",
    type=int,
    default=0,
    help="Envoyer tout de suite tous les messages de la campagne N (essai, démo).",
)
def send(every: int, now_id: int) -> None:
    """Envoie les messages dont l'heure est venue (`clocher serve` le lance chaque minute)."""
    from clocher.awareness import services
    from clocher.awareness.models import Campaign

    while True:
        if now_id:
            chosen = Campaign.objects.filter(pk=now_id).first()
            if chosen is None:
                fail(f"Aucune campagne numéro {now_id}.")
                return
            far = timezone.now() + timedelta(days=366)
            report = services.send_due(far, campaign=chosen)
        else:
            report = services.send_due()
            closed = services.close_due(CLI)
            services.purge_expired()
            if closed:
                console.print(f"Campagnes closes : {closed}.")
        if report.sent or not every:
            console.print(f"Messages envoyés : {report.sent} ; à venir : {report.waiting}.")
        if not every:
            return
        time.sleep(every)


@campaign.command("close")
@click.argument("campaign_id", type=int)
def close(campaign_id: int) -> None:
    """Clôt la campagne N avant l'heure : sans réponse = « ignoré », niveaux mis à jour
    (sinon `campaign send` la clôt 7 jours après le dernier envoi)."""
    from clocher.awareness import services
    from clocher.awareness.models import Campaign, Outcome

    chosen = Campaign.objects.filter(pk=campaign_id).first()
    if chosen is None:
        fail(f"Aucune campagne numéro {campaign_id}.")
        return
    try:
        counts = services.close_campaign(CLI, chosen)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    summary = ", ".join(f"{label} : {counts[value]}" for value, label in Outcome.choices)
    console.print(f"Campagne « {chosen.name} » close. {summary}.")


@campaign.command("report")
@click.argument("message", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
def report(message: Path) -> None:
    """Enregistre un signalement : MESSAGE est le courriel transféré à l'adresse de
    signalement (fichier .eml, ou - pour l'entrée standard, depuis un `pipe` Postfix)."""
    from clocher.awareness import services

    raw = sys.stdin.buffer.read() if str(message) == "-" else message.read_bytes()
    found = services.report_message(raw)
    if found is None:
        console.print("Ce message n'est pas un exercice : à transmettre à l'équipe de l'opérateur.")
        sys.exit(2)
    console.print(f"Signalement enregistré pour l'exercice « {found.template.name} ».")


@awareness.group()
def queue() -> None:
    """Messages signalés par les agents qui ne sont pas des exercices (file de l'opérateur)."""


@queue.command("list")
@click.option("--tous", "everything", is_flag=True, help="Avec ceux déjà traités.")
@json_option
def queue_list(everything: bool, as_json: bool) -> None:
    """Liste les signalements : date, commune, agent, expéditeur, objet."""
    from clocher.awareness import reporting

    shown = reporting.queue(pending_only=not everything)
    if as_json:
        rows = [
            {
                "id": item.pk,
                "received_at": item.received_at,
                "handled": item.handled_at is not None,
                "commune": item.commune.insee if item.commune else None,
                "reporter": item.reporter,
                "sender": item.sender,
                "subject": item.subject,
            }
            for item in shown
        ]
        show(Table(), True, rows)
        return
    for item in shown:
        state = "traité" if item.handled_at else "à traiter"
        commune = item.commune.name if item.commune else "—"
        console.print(
            f"{item.pk:6} {item.received_at:%Y-%m-%d %H:%M}  {state:9}  {commune}  "
            f"{item.reporter}  {item.sender}  « {item.subject} »"
        )
    if not shown:
        console.print("Aucun signalement en attente.")


@awareness.group()
def template() -> None:
    """Modèles de messages d'exercice (ceux de l'opérateur et ceux des communes)."""


@template.command("add")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--commune", "insee", default="", help="Code INSEE : modèle propre à la commune.")
def template_add(spec: Path, insee: str) -> None:
    """Ajoute le modèle décrit par SPEC (JSON : slug, name, sender_name, sender_address,
    subject, body avec {lien}, landing_title, sender_credibility, urgent, errors,
    personalised, tells). Sans --commune : modèle de l'opérateur, offert à toutes."""
    import json

    from clocher.awareness import services

    commune = find_commune(insee) if insee else None
    try:
        data = json.loads(spec.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("un objet JSON est attendu")
        made = services.add_template(CLI, commune, data)
    except ValueError as exc:
        fail(f"{spec} illisible : {exc}")
        return
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    console.print(f"Modèle « {made.name} » ajouté (niveau {made.level}).")


@template.command("list")
@click.option("--commune", "insee", default="", help="Code INSEE : avec ses modèles propres.")
@json_option
def template_list(insee: str, as_json: bool) -> None:
    """Liste les modèles, avec leur niveau (1 facile à repérer … 5 difficile)."""
    from clocher.awareness import services
    from clocher.awareness.models import Template

    services.ensure_catalogue()
    commune = find_commune(insee) if insee else None
    shown = services.templates_for(commune) if commune else Template.objects.filter(commune=None)
    if as_json:
        rows = [
            {"slug": t.slug, "level": t.level, "operator": t.commune_id is None, "name": t.name}
            for t in shown
        ]
        show(Table(), True, rows)
        return
    for item in shown:
        owner = "opérateur" if item.commune_id is None else "commune"
        console.print(f"{item.slug:24} niveau {item.level}  {owner:9}  {item.name}")


def register(group: click.Group) -> None:
    group.add_command(awareness)
