"""Forecast commands: `clocher forecast run FICHIER --horizon 12 [--json] [--card CHEMIN]`.

Thin: the file is read by the engine's reader, the forecast made by `run_forecast`; this
module only prints. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from clocher.core.cli import console, fail, find_commune
from clocher.core.terminal import json_option, show
from clocher.forecast.engine import (
    FREQUENCIES,
    ForecastResult,
    SeriesError,
    read_series,
    run_forecast,
)
from clocher.forecast.engine.series import FREQUENCY_LABELS, MAX_BYTES


@click.group()
def forecast() -> None:
    """Prévisions : modèle choisi par test sur le passé, intervalles à 80 et 95 %."""


def french_number(value: float) -> str:
    """« 1 234,5 »: thin spaces between thousands, decimal comma."""
    text = f"{value:,.1f}" if abs(value) < 1e6 else f"{value:,.0f}"
    return text.replace(",", "\u202f").replace(".", ",")


def write_card(result: ForecastResult, path: Path) -> None:
    """Write the model card atomically (temp file + rename): never half a card."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fiche-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(result.card(), out, ensure_ascii=False, indent=2)
    os.replace(tmp, path)


@forecast.command("run")
@click.argument(
    "file", metavar="FICHIER", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--horizon",
    type=click.IntRange(1, 1000),
    default=12,
    show_default=True,
    help="Nombre de périodes à prévoir.",
)
@click.option(
    "--freq",
    type=click.Choice(FREQUENCIES),
    help="Fréquence (D, W, MS, QS, YS) si la détection ne convient pas.",
)
@click.option("--json", "as_json", is_flag=True, help="Résultat complet en JSON.")
@click.option(
    "--card",
    "card_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Écrit la fiche du modèle (JSON) dans ce fichier.",
)
def run_command(
    file: Path, horizon: int, freq: str | None, as_json: bool, card_path: Path | None
) -> None:
    """Prévoit la série de FICHIER (CSV ou XLSX : date, valeur, régresseurs éventuels)."""
    if file.stat().st_size > MAX_BYTES:
        fail(f"Fichier trop gros : {file.name} dépasse {MAX_BYTES / 1e6:.0f} Mo.")
    try:
        series = read_series(file.read_bytes(), file.name, freq)
        result = run_forecast(series, horizon)
    except SeriesError as exc:
        fail(f"{file.name} : {exc}")
        return
    if card_path is not None:
        write_card(result, card_path)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    first, last, count = result.history
    console.print(
        f"Série « {series.name} » : {count} points, {FREQUENCY_LABELS[series.freq]}, "
        f"du {first:%d/%m/%Y} au {last:%d/%m/%Y}."
    )
    for warning in result.warnings:
        console.print(f"[yellow]Attention :[/] {warning}")
    console.print(f"[bold]{result.model_label}[/]")
    console.print(result.explanation)
    scores = Table(title="Test sur le passé (validation croisée)")
    for column in ("Méthode", "MASE", "Erreur moyenne", "Couverture 80 %", "Couverture 95 %"):
        scores.add_column(column, justify="left" if column == "Méthode" else "right")
    for score in result.scores:
        if score.error:
            scores.add_row(score.label, "échec", score.error[:40], "", "")
            continue
        scores.add_row(
            score.label + (" ✓" if score.key == result.model else ""),
            f"{score.mase:.2f}".replace(".", ","),
            f"{score.wape:.1f} %".replace(".", ",") if score.wape is not None else "—",
            *(f"{score.coverage[lv] * 100:.0f} %" for lv in result.levels),
        )
    console.print(scores)
    table = Table(title=f"Prévisions à {horizon} périodes")
    table.add_column("Période")
    table.add_column("Prévision", justify="right")
    for lv in result.levels:
        table.add_column(f"{lv} % bas", justify="right")
        table.add_column(f"{lv} % haut", justify="right")
    for i, day in enumerate(result.dates):
        bounds = []
        for lv in result.levels:
            bounds += [french_number(result.lower[lv][i]), french_number(result.upper[lv][i])]
        table.add_row(f"{day:%d/%m/%Y}", french_number(result.point[i]), *bounds)
    console.print(table)
    for lv, how in result.calibration.items():
        console.print(f"Intervalle {lv} % : {how}.")
    console.print(f"Calcul : {result.cpu_seconds:.2f} s de processeur, sur cette machine.")
    if card_path is not None:
        console.print(f"Fiche du modèle : {card_path}")


@forecast.group("series")
def series_group() -> None:
    """Séries enregistrées des communes (envoyées ou alimentées par un autre service)."""


@series_group.command("list")
@click.argument("insee")
@json_option
def series_list_command(insee: str, as_json: bool) -> None:
    """Liste les séries de la commune INSEE et leur dernière prévision."""
    from clocher.forecast import services
    from clocher.forecast.models import Series

    commune = find_commune(insee)
    table = Table(title=f"Séries de {commune.name}")
    for column in ("N°", "Série", "Clé", "Fréquence", "Points", "Version", "Dernière prévision"):
        table.add_column(column)
    for series in Series.objects.filter(commune=commune):
        last = services.latest(series)
        table.add_row(
            str(series.pk),
            series.name,
            series.key,
            series.get_frequency_display(),
            str(series.points),
            series.data_version[:12],
            f"{last.model} ({last.finished_at:%d/%m/%Y})" if last and last.finished_at else "—",
        )
    show(table, as_json)


@forecast.command("import")
@click.argument("insee")
@click.argument(
    "file", metavar="FICHIER", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--name", default="", help="Nom de la série (par défaut, celui du fichier).")
@click.option("--unit", default="", help="Unité (repas, m³, tonnes…).")
@click.option(
    "--horizon",
    type=click.IntRange(0, 120),
    default=0,
    help="Si donné, calcule aussi la prévision à cet horizon et l'enregistre.",
)
def import_command(insee: str, file: Path, name: str, unit: str, horizon: int) -> None:
    """Enregistre la série de FICHIER (CSV ou XLSX) pour la commune INSEE."""
    from django.core.exceptions import ValidationError

    from clocher.core.cli import cli_actor, validation_message
    from clocher.forecast import services

    commune = find_commune(insee)
    try:
        with file.open("rb") as handle:
            upload = _FileUpload(file.name, file.stat().st_size, handle)
            stored = services.import_series(cli_actor(), commune, upload, name=name, unit=unit)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    series = stored.series
    what = "créée" if stored.created else "mise à jour" if stored.changed else "inchangée"
    console.print(
        f"Série « {series.name} » {what} : n° {series.pk}, {series.points} points, "
        f"version {series.data_version[:12]}."
    )
    if horizon:
        made = services.run(cli_actor(), series, horizon)
        if made.error:
            fail(made.error)
        console.print(f"[bold]{made.model}[/] — {made.explanation}")
        console.print(f"Prévision n° {made.pk} enregistrée ({made.cpu_seconds:.2f} s CPU).")


class _FileUpload:
    """A file on disk, handed to the service like a form's upload."""

    def __init__(self, name: str, size: int, handle: Any) -> None:
        self.name, self.size, self._handle = name, size, handle

    def read(self, size: int = -1) -> bytes:
        return bytes(self._handle.read(size))


def register(group: click.Group) -> None:
    group.add_command(forecast)
