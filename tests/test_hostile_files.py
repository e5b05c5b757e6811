"""Every file reader of the platform, given files that are not what it reads: its own
refusal (with the reason), never another exception.

The route matrix (`tests/test_hostile_input.py`) sends such files to every route, but
most import pages check their other fields first (a meter, an index, a year). Here the
readers themselves are called: the energy app's load curve, index, invoice and weather
readers, the forecast's series (CSV and XLSX), the debt's loan book (CSV and TOTEM XML),
index histories, accounts and rate curve, the members' CSV and the shield's feeds. A
CSV saved with carriage returns alone, or with a field over `csv`'s 128 KiB limit, was an
unhandled `csv.Error` in three of them (a server error for the person importing it).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from clocher.core import members_import
from clocher.energy.engine import loadcurve, weather
from clocher.energy.engine.errors import EnergyInputError
from clocher.finance import services as finance
from clocher.finance.engine import parsers
from clocher.forecast.engine.series import SeriesError, read_series
from clocher.shield import feeds


def _zip(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, content)
    return out.getvalue()


_LAUGHS = "".join(
    f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcdef", "bcdefg", strict=True)
)
HOSTILE = {
    "bruit binaire": bytes(range(256)) * 256,
    "zip tronqué": b"PK\x03\x04" + bytes(range(200)),
    "Latin-1 avec NUL": "nom;date;montant\né\x00;30/02/2026;NaN\n;;\n".encode("latin-1"),
    "ligne de 200 000 caractères": b"annee;" + b"x" * 200_000,
    "retours chariot seuls": b"date;valeur\r2020-01-01;1\r\r;;\r",
    "vide": b"",
    "BOM seul": b"\xef\xbb\xbf",
    "UTF-16": "date;valeur\n2020-01-01;1\n".encode("utf-16"),
    "bombe XML": (
        f'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">{_LAUGHS}]>'
        "<DocumentBudgetaire>&g;&g;</DocumentBudgetaire>"
    ).encode(),
    "entité externe": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<DocumentBudgetaire><x>&e;</x></DocumentBudgetaire>"
    ),
    "faux XLSX": _zip("xl/workbook.xml", b"<pas du xml"),
    "nombres absurdes": b"date;valeur\n2020-01-01;1e308\n2020-01-02;-1e309\n2020-01-03;inf\n",
    "dates absurdes": b"date;valeur\n0000-00-00;1\n2020-13-45;2\n31/02/2020;3\n99999-01-01;4\n",
}
# Each reader, and the exceptions that are its refusals.
REFUSALS = (ValidationError, SeriesError, EnergyInputError)
READERS: dict[str, Callable[[bytes], Any]] = {
    "courbe de charge": loadcurve.parse_load_curve,
    "relevés d'index (énergie)": loadcurve.parse_index_csv,
    "factures (énergie)": loadcurve.parse_invoices_csv,
    "météo (Météo-France)": weather.parse_meteo_france_daily,
    "série CSV (prévision)": lambda data: read_series(data, "serie.csv"),
    "série XLSX (prévision)": lambda data: read_series(data, "serie.xlsx"),
    "emprunts CSV": parsers.parse_loan_csv,
    "emprunts TOTEM": parsers.parse_totem,
    "historique d'index": parsers.parse_index_csv,
    "historique Banque de France": lambda data: parsers.parse_index_csv(
        data, parsers.Index.EURIBOR_3M
    ),
    "comptes (épargne brute)": finance.parse_accounts,
    "courbe de taux": lambda data: finance.parse_curve_text(data.decode("latin-1")),
    "liste de blocage": lambda data: feeds.parse(data.decode("utf-8", "replace").splitlines()),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", HOSTILE)
def test_a_reader_refuses_what_it_cannot_read_with_its_own_error(reader: str, kind: str):
    data = HOSTILE[kind]
    try:
        result = READERS[reader](data)
    except REFUSALS as refusal:
        assert str(refusal).strip(), f"{reader} refuses {kind} without saying why"
        return
    # Readers that report instead of raising: whatever they kept, nothing of the passwd
    # file an external entity named.
    assert "root:" not in repr(result)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", HOSTILE)
def test_the_members_csv_refuses_what_it_cannot_read(kind: str, commune_a):
    try:
        report = members_import.parse(HOSTILE[kind], commune_a)
    except members_import.ImportRefused as refusal:
        assert str(refusal).strip() and len(str(refusal)) < 500  # shown on the page
        return
    assert not report.ready or not report.lines  # nothing importable from such a file
