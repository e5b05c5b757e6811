"""Energy commands: import, baseline, operat, buildings, reference, and the weekly drift
scheduler."""

from __future__ import annotations

from pathlib import Path

import click
from django.core.exceptions import ValidationError
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail, find_commune, validation_message
from clocher.core.terminal import json_option, show, show_report

KINDS = ("courbe", "index", "factures", "meteo")


@click.group()
def energy() -> None:
    """Énergie des bâtiments : imports, modèles de référence, déclaration OPERAT."""


@energy.command("import")
@click.argument("insee")
@click.argument(
    "file", metavar="FICHIER", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--meter", "meter_id", help="Identifiant du compteur (PDL, PCE) dans la commune.")
@click.option(
    "--kind", type=click.Choice(KINDS), default="courbe", show_default=True, help="Type de fichier."
)
def import_command(insee: str, file: Path, meter_id: str | None, kind: str) -> None:
    """Importe FICHIER pour la commune INSEE (tout ou rien, avec le rapport ligne à ligne).

    Le fichier météo (--kind meteo) sert à toutes les communes."""
    from clocher.energy import imports
    from clocher.energy.models import Meter

    commune = find_commune(insee)
    meter = None
    if kind != "meteo":
        if not meter_id:
            fail("Précisez le compteur : --meter PDL (voir « clocher energy buildings INSEE »).")
            return
        meter = (
            Meter.objects.filter(commune=commune, identifier=meter_id.replace(" ", ""))
            .select_related("building")
            .first()
        )
        if meter is None:
            fail(f"Compteur {meter_id} inconnu dans {commune.name}.")
    with console.status(f"Import de {file.name}…"):
        try:
            result = imports.import_file(
                cli_actor(), commune, kind, file.read_bytes(), file.name, meter
            )
        except imports.ImportRefused as exc:
            _print_issues(exc.issues)
            fail(validation_message(exc))
            return
    _print_issues(result.issues)
    console.print(f"[green]Importé :[/] {result.summary}")


def _print_issues(issues: list) -> None:  # type: ignore[type-arg]
    for issue in issues[:50]:
        where = f"ligne {issue.line}" if issue.line else "fichier"
        console.print(f"  {issue.level} ({where}) : {issue.message}", highlight=False)
    if len(issues) > 50:
        console.print(f"  … et {len(issues) - 50} autre(s) remarque(s).")


@energy.command("baseline")
@click.argument("building_id", metavar="BATIMENT", type=int)
@click.option(
    "--hourly",
    "granularity",
    flag_value="hourly",
    help="Modèle horaire CalTRACK 2 (il faut une courbe de charge).",
)
@click.option("--daily", "granularity", flag_value="daily", help="Modèle journalier CalTRACK.")
@click.option("--auto", "granularity", flag_value="auto", default=True, hidden=True)
def baseline_command(building_id: int, granularity: str) -> None:
    """Ajuste le modèle de référence de chaque compteur de BATIMENT (son numéro, voir
    « clocher energy buildings INSEE ») et affiche le verdict ASHRAE G14. Sans option :
    le modèle horaire quand une courbe de charge couvre au moins 6 des 12 mois, sinon
    le journalier."""
    from clocher.energy import services
    from clocher.energy.models import Building, MeterKind

    building = Building.objects.filter(pk=building_id).select_related("station").first()
    if building is None:
        fail(f"Bâtiment {building_id} inconnu.")
        return
    failed = False
    for meter in building.meters.exclude(kind=MeterKind.EAU):
        try:
            made = services.fit_baseline(cli_actor(), meter, granularity=granularity)
        except ValidationError as exc:
            console.print(f"[red]{meter}[/] : {validation_message(exc)}")
            failed = True
            continue
        unit = "heures" if made.granularity == "hourly" else "jours"
        console.print(
            f"{meter} : modèle {made.model_kind} sur {made.n} {unit}, CV(RMSE) "
            f"{made.cvrmse:.1%}, NMBE {made.nmbe:+.2%}, R² {made.r2:.2f} — {made.verdict}",
            highlight=False,
        )
    if failed:
        raise SystemExit(1)


@energy.command("operat")
@click.argument("insee")
@click.option("--year", "year", type=int, required=True, help="Année déclarée.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Fichier CSV à écrire."
)
def operat_command(insee: str, year: int, output: Path | None) -> None:
    """La déclaration annuelle de la commune INSEE au format CSV d'OPERAT."""
    from clocher.energy import services

    commune = find_commune(insee)
    try:
        text = services.export_operat(cli_actor(), commune, year)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    if output is None:
        click.echo(text, nl=False)
        return
    temp = output.with_name(output.name + ".part")
    temp.write_text(text, encoding="utf-8")
    temp.replace(output)
    console.print(f"Déclaration {year} écrite dans {output}.")


@energy.command("buildings")
@click.argument("insee")
@json_option
def buildings_command(insee: str, as_json: bool) -> None:
    """Les bâtiments de la commune INSEE, leurs compteurs et leur trajectoire 2030."""
    from clocher.energy import services

    commune = find_commune(insee)
    total, rows = services.commune_trajectory(commune)
    table = Table("N°", "Bâtiment", "Surface", "Compteurs", "Trajectoire 2030")
    for row in rows:
        b = row.building
        meters = ", ".join(f"{m.get_kind_display()} {m.identifier}" for m in b.meters.all())
        t = row.trajectory
        status = (
            f"{row.status} (réf. {t.reference_year}, {t.reduction():.0%} de réduction)"
            if t
            else f"inconnue : {row.reason}"
        )
        table.add_row(str(b.pk), b.name, f"{b.floor_area_m2:.0f} m²", meters or "—", status)
    show(table, as_json)
    if total is not None and not as_json:
        console.print(
            f"Commune : référence {total.reference_kwh:,.0f} kWh (somme des références des "
            f"bâtiments, chacun à sa propre année), {total.reduction():.0%} de réduction.",
            highlight=False,
        )


@energy.command("reference")
@click.argument("building_id", metavar="BATIMENT", type=int)
@click.argument("year", metavar="ANNEE", required=False)
@json_option
def reference_command(building_id: int, year: str | None, as_json: bool) -> None:
    """Fixe l'année de référence (décret tertiaire) de BATIMENT : une année de 2010 à 2019
    qui a une consommation complète, ou « auto » pour la plus favorable. Sans ANNEE :
    les années possibles, chacune avec sa consommation."""
    from clocher.energy import services
    from clocher.energy.models import Building

    building = Building.objects.filter(pk=building_id).select_related("station").first()
    if building is None:
        fail(f"Bâtiment {building_id} inconnu.")
        return
    if year is None:
        table = Table("Année", "kWh mesurés", "kWh corrigés du climat")
        candidates = services.reference_candidates(building)
        for c in candidates:
            chosen = " (retenue)" if c.year == building.reference_year else ""
            table.add_row(f"{c.year}{chosen}", f"{c.kwh:,.0f}", f"{c.adjusted_kwh:,.0f}")
        rows = [
            {
                "year": c.year,
                "kwh": c.kwh,
                "adjusted_kwh": c.adjusted_kwh,
                "chosen": c.year == building.reference_year,
            }
            for c in candidates
        ]
        show(table, as_json, rows)
        return
    if year != "auto" and not year.isdigit():
        fail(f"Année « {year} » invalide : une année de 2010 à 2019, ou « auto ».")
        return
    chosen_year = None if year == "auto" else int(year)
    try:
        services.set_reference_year(cli_actor(), building, chosen_year)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    if as_json:
        building.refresh_from_db(fields=["reference_year"])
        show_report({"building": building.pk, "reference_year": building.reference_year})
        return
    console.print(
        f"{building.name} : année de référence {chosen_year or 'la plus favorable'}.",
        highlight=False,
    )


@energy.command("scheduler")
@click.option("--weekday", default=0, type=click.IntRange(0, 6), help="Jour (0 = lundi).")
@click.option("--at", "at", default="06:30", help="Heure locale (HH:MM).")
@click.option("--once", is_flag=True, help="Mettre la tâche en file maintenant, puis sortir.")
def scheduler_command(weekday: int, at: str, once: bool) -> None:
    """Chaque semaine, met en file la détection des dérives et le courriel aux
    administrateurs des communes (tâche de fond ; `clocher serve` lance ce planificateur)."""
    import time
    from datetime import datetime, timedelta

    from django.db import close_old_connections
    from django.utils import timezone

    from clocher.energy import tasks

    hour, _, minute = at.partition(":")
    while True:
        if not once:
            now = timezone.localtime()
            target = now.replace(hour=int(hour), minute=int(minute or 0), second=0)
            target += timedelta(days=(weekday - now.weekday()) % 7)
            if target <= now:
                target += timedelta(days=7)
            time.sleep((target - now).total_seconds())
        close_old_connections()
        result = tasks.weekly_drifts.enqueue()
        console.print(
            f"{datetime.now():%d/%m/%Y %H:%M} : dérives de la semaine {result.id} en file."
        )
        if once:
            return


def register(group: click.Group) -> None:
    group.add_command(energy)
