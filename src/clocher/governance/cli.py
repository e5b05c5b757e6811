"""`clocher governance register|algorithms|sobriety|retention` and `clocher user
export|erase`: the data-governance registers and subject rights from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import click
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail, find_commune, validation_message
from clocher.core.terminal import json_option, show

OutputPath = click.Path(dir_okay=False, writable=True, path_type=Path)


def _write(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    temp.replace(path)


def _emit(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=1, default=str))


@click.group("governance")
def governance() -> None:
    """Gouvernance des données : registres RGPD et des algorithmes, conservation, sobriété."""


@governance.command("register")
@click.argument("insee", required=False)
@click.option("--pdf", "pdf_path", type=OutputPath, help="Écrit le registre en PDF.")
@click.option("--ods", "ods_path", type=OutputPath, help="Écrit le registre en tableur ODS.")
@json_option
def register_command(
    insee: str | None, pdf_path: Path | None, ods_path: Path | None, as_json: bool
) -> None:
    """Registre des activités de traitement (RGPD art. 30) d'une commune, ou de l'opérateur."""
    from clocher.governance import register

    commune = find_commune(insee) if insee else None
    rows = register.activities(commune)
    if pdf_path:
        _write(pdf_path, register.to_pdf(commune))
        console.print(f"PDF écrit : {pdf_path}")
    if ods_path:
        _write(ods_path, register.to_ods(commune))
        console.print(f"ODS écrit : {ods_path}")
    if pdf_path or ods_path:
        return
    if as_json:
        _emit([{f: getattr(a, f) for f in ("key", *register.FIELDS)} for a in rows])
        return
    console.print(f"[bold]Registre des traitements — {register.controller(commune)}[/]")
    for a in rows:
        console.print(f"\n[bold]{a.name}[/]")
        for field in register.FIELDS[1:]:
            console.print(f"  {register.label(field).capitalize()} : {getattr(a, field)}")


@governance.command("algorithms")
@json_option
def algorithms_command(as_json: bool) -> None:
    """Registre des algorithmes publics, tiré des fiches de modèle du code."""
    from clocher.governance import algorithms

    cards = algorithms.cards()
    if as_json:
        _emit(cards)
        return
    for card in cards:
        console.print(algorithms.as_text(card), highlight=False)
        console.print()


@governance.command("sobriety")
@json_option
def sobriety_command(as_json: bool) -> None:
    """Sobriété : stockage (avant et après déduplication), messagerie, calcul, énergie."""
    from clocher.governance import sobriety

    made = sobriety.figures()
    if as_json:
        _emit(made.as_dict())
        return
    table = Table("Commune", "Fichiers", "Stocké", "Messagerie", "Calcul (s CPU)", "kWh/an")
    for f in [*made.communes, made.total]:
        table.add_row(
            f.insee or f.name, filesizeformat(f.used_bytes), filesizeformat(f.stored_bytes),
            filesizeformat(f.mail_bytes), f"{f.analytics_cpu_seconds:.1f}",
            f"{f.storage_kwh_per_year + f.analytics_kwh:.3f}",
        )  # fmt: skip
    show(table, False)
    console.print(
        f"Courriels des 30 derniers jours : {made.mail_received_30d} reçus, "
        f"{made.mail_sent_30d} envoyés.\nMéthode : {made.method}"
    )
    for label, seconds in made.total.cpu_by_analytic.items():
        console.print(f"Calcul, {label} : {seconds:.1f} s CPU")
    if made.not_measured:
        console.print(f"Calcul non mesuré : {', '.join(made.not_measured)}.")


@governance.command("retention")
@click.option("--apply", "apply", is_flag=True, help="Applique les durées maintenant.")
@json_option
def retention_command(apply: bool, as_json: bool) -> None:
    """Durées de conservation de chaque classe de données (`clocher serve` les applique)."""
    from clocher.governance import retention

    purged = {p.data_class.key: p.total for p in retention.enforce(cli_actor())} if apply else {}
    table = Table("Classe", "Durée (jours)", "Note", "Supprimés")
    rows = []
    for c in retention.CLASSES:
        days = str(c.days) if c.days > 0 else "sans limite"
        done = purged.get(c.key)
        table.add_row(c.label, days, c.note, "" if done is None else str(done))
        rows.append({"classe": c.key, "libelle": c.label, "jours": c.days, "supprimes": done})
    show(table, as_json, rows)


@click.command("export")
@click.argument("email")
@click.option("-o", "--output", "output", type=OutputPath, required=True, help="Archive .zip.")
def user_export(email: str, output: Path) -> None:
    """Exporte toutes les données d'une personne (droit d'accès et de portabilité)."""
    from clocher.accounts.models import User
    from clocher.governance import subject

    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        fail(f"Aucun compte {email}.")
    counts = subject.export_user(cli_actor(), user, output)
    detail = ", ".join(f"{k} : {v}" for k, v in counts.items())
    console.print(f"Export de {user.email} écrit : {output} ({detail}).")


@click.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Confirme l'effacement (irréversible).")
def user_erase(email: str, yes: bool) -> None:
    """Efface une personne, sauf ce que la loi garde (archives, journal d'audit)."""
    from clocher.accounts.models import User
    from clocher.governance import subject

    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        fail(f"Aucun compte {email}.")
    if not yes:
        fail("Effacement irréversible : ajoutez --yes (après `clocher user export`).")
    try:
        counts = subject.erase_user(cli_actor(), user)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(
        f"{email} effacé ({', '.join(f'{k} : {v}' for k, v in counts.items())}). "
        f"Conservé : {', '.join(subject.KEPT)}."
    )


def register(group: click.Group) -> None:
    group.add_command(governance)
    user = group.commands["user"]  # accounts' group, registered before this one
    assert isinstance(user, click.Group)
    user.add_command(user_export)
    user.add_command(user_erase)
