"""Groupware commands: `clocher groupware resource list|add`.

Thin: every decision is in services.py; this module reads arguments and prints.
"""

from __future__ import annotations

import click
from rich.table import Table

from clocher.core.audit import Actor
from clocher.core.cli import console, fail, find_commune, json_option, show

CLI = Actor(label="ligne de commande")


@click.group()
def groupware() -> None:
    """Agendas et carnets d'adresses (CalDAV/CardDAV) des communes."""


@groupware.group()
def resource() -> None:
    """Ressources réservables (salle des fêtes, véhicule) : un agenda partagé chacune."""


@resource.command("list")
@click.argument("insee")
@json_option
def resource_list(insee: str, as_json: bool) -> None:
    """Les ressources de la commune INSEE et l'adresse de leur agenda."""
    from clocher.groupware.models import Resource

    commune = find_commune(insee)
    table = Table("identifiant", "nom", "agenda")
    for r in Resource.objects.filter(commune=commune):
        table.add_row(r.slug, r.name, f"ressource-{commune.insee}-{r.slug}")
    show(table, as_json)


@resource.command("add")
@click.argument("insee")
@click.argument("name")
def resource_add(insee: str, name: str) -> None:
    """Ajoute la ressource NAME à la commune INSEE (visible par ses membres à leur
    prochaine synchronisation)."""
    from clocher.groupware import services

    commune = find_commune(insee)
    try:
        made = services.add_resource(CLI, commune, name)
    except services.GroupwareError as exc:
        fail(str(exc))
    console.print(f"Ressource « {made.name} » ajoutée : agenda ressource-{insee}-{made.slug}.")


def register(group: click.Group) -> None:
    group.add_command(groupware)
