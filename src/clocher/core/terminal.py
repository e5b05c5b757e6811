"""Terminal output shared by every `clocher` command: the console, and listings that
print a table for people or JSON for scripts (`--json`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich.console import Console, ConsoleDimensions
from rich.table import Table
from rich.text import Text


class _Console(Console):
    """Piped or redirected (`clocher member list 21271 | cat`), output is not cut to the
    width of the terminal the command was typed in (rich measures stdin's): scripts and
    logs get every address whole. Decided at each print, as stdout may change."""

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        return dimensions if self.is_terminal else ConsoleDimensions(10_000, dimensions.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = _Console()

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts (une liste d'objets)."
)


report_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts (un objet)."
)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def show(table: Table, as_json: bool, rows: Sequence[Mapping[str, Any]] | None = None) -> None:
    """A listing for people (the rich table) or for scripts (`--json`): `rows` when the
    command has typed values to give, else the table's own cells keyed by column header,
    so that every listing answers `--json` with what it shows."""
    if not as_json:
        console.print(table)
        return
    if rows is None:
        headers = [str(column.header) for column in table.columns]
        cells = [
            [Text.from_markup(c).plain if isinstance(c, str) else str(c) for c in column.cells]
            for column in table.columns
        ]
        rows = [dict(zip(headers, values, strict=True)) for values in zip(*cells, strict=True)]
    click.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=_plain))


def show_report(data: Mapping[str, Any]) -> None:
    """A report for scripts (`--json`): one object with the figures the command prints
    (amounts as exact decimal strings, dates in ISO 8601)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=1, default=_plain))


def note(message: str, as_json: bool) -> None:
    """A remark beside the output ("PDF écrit : …"): on stderr under `--json`, so that
    stdout stays one JSON document."""
    if as_json:
        click.echo(message, err=True)
    else:
        console.print(message, highlight=False)
