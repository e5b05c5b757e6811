"""Uploads: what is read (French CSV, BOM, latin-1, XLSX, unsorted rows, regressors'
future) and what is refused, each with a French message naming the line."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook

from clocher.forecast.engine import SeriesError, read_series
from clocher.forecast.engine.series import MAX_BYTES


def months(count: int, start_year: int = 2020) -> list[str]:
    return [f"01/{k % 12 + 1:02d}/{start_year + k // 12}" for k in range(count)]


def csv_bytes(rows: list[str], header: str = "date;valeur", encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


def refused(data: bytes, filename: str = "serie.csv") -> str:
    with pytest.raises(SeriesError) as caught:
        read_series(data, filename)
    return str(caught.value)


def test_french_csv_with_bom_decimal_comma_and_thousands() -> None:
    rows = [f"{d};1 2{k % 10}4,5" for k, d in enumerate(months(24))]
    series = read_series(b"\xef\xbb\xbf" + csv_bytes(rows, "Date;Valeur"), "x.csv")
    assert series.freq == "MS" and len(series) == 24
    assert series.values[0] == 1204.5
    assert series.dates[-1] == date(2021, 12, 1)


def test_latin1_header_comma_separator_and_iso_dates() -> None:
    rows = [f"2024-01-{k + 1:02d},{k}.5" for k in range(20)]
    series = read_series(csv_bytes(rows, "période,quantité", "latin-1"), "x.csv")
    assert series.freq == "D" and series.name == "quantité" and series.values[3] == 3.5


def test_unsorted_rows_are_sorted_with_a_warning() -> None:
    rows = [f"{y};{100 + y}" for y in (2019, 2015, 2016, 2018, 2017, 2020, 2021)]
    series = read_series(csv_bytes(rows, "annee;montant"), "x.csv")
    assert series.freq == "YS" and series.dates[0] == date(2015, 1, 1)
    assert series.values.tolist() == [2115, 2116, 2117, 2118, 2119, 2120, 2121]
    assert "triées" in series.warnings[0]


def test_regressor_columns_and_their_future_rows() -> None:
    rows = [f"{d};{100 + k};{k % 3}" for k, d in enumerate(months(12))]
    rows += ["01/01/2021;;1", "01/02/2021;;0"]
    series = read_series(csv_bytes(rows, "date;valeur;travaux"), "x.csv")
    assert len(series) == 12
    assert series.regressors["travaux"].tolist()[:3] == [0, 1, 2]
    assert series.future_regressors["travaux"].tolist() == [1, 0]


def test_gap_is_named_not_filled() -> None:
    dates = months(12)
    del dates[5:7]
    message = refused(csv_bytes([f"{d};10" for d in dates]))
    assert "Trou dans la série entre les lignes 6 et 7" in message
    assert "2 période(s) manquante(s) (01/06/2020, 01/07/2020)" in message


def test_duplicate_dates() -> None:
    dates = months(10)
    dates[4] = dates[3]
    message = refused(csv_bytes([f"{d};10" for d in dates]))
    assert message == "Date en double : 01/04/2020 (lignes 5 et 6)."


def test_text_in_values() -> None:
    rows = [f"{d};10" for d in months(10)]
    rows[2] = "01/03/2020;environ 12"
    message = refused(csv_bytes(rows))
    assert message == "Ligne 4 : « environ 12 » n'est pas un nombre (colonne « valeur »)."


def test_single_point() -> None:
    message = refused(csv_bytes(["01/01/2024;12"]))
    assert message.startswith("Un seul point (ligne 2)")


def test_too_few_points() -> None:
    message = refused(csv_bytes([f"{d};1" for d in months(4)]))
    assert message.startswith("Trop peu de points : 4 ; il en faut au moins 6")


def test_empty_and_header_only() -> None:
    assert refused(b"") == "Le fichier est vide."
    assert refused(b"date;valeur\n").startswith("Aucune donnée")


def test_truncated_csv() -> None:
    data = csv_bytes([f"{d};10" for d in months(10)])
    message = refused(data[: data.rindex(b";")])
    assert message == "Ligne 11 : 1 colonne(s) au lieu de 2 (fichier tronqué ?)."


def test_missing_value_in_the_middle() -> None:
    rows = [f"{d};10" for d in months(10)]
    rows[4] = "01/05/2020;"
    assert refused(csv_bytes(rows)) == "Ligne 6 : valeur manquante pour le 01/05/2020."


def test_date_off_the_weekly_step() -> None:
    days = [date(2024, 1, 1 + 7 * k) for k in range(4)] + [date(2024, 1, 31), date(2024, 2, 5)]
    message = refused(csv_bytes([f"{d:%d/%m/%Y};10" for d in days]))
    assert message == (
        "Ligne 6 : la date 31/01/2024 ne tombe pas sur le pas hebdomadaire de la série "
        "(précédente : 22/01/2024)."
    )


def test_size_cap() -> None:
    assert refused(b"x" * (MAX_BYTES + 1)).startswith("Fichier trop gros")


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_real_dates() -> None:
    rows: list[list[object]] = [["Mois", "Consommation"]]
    rows += [
        [date(2022, k % 12 + 1, 1) if k < 12 else date(2023, k - 11, 1), 50.0 + k]
        for k in range(24)
    ]
    series = read_series(_xlsx(rows), "conso.xlsx")
    assert series.freq == "MS" and len(series) == 24 and series.values[-1] == 73.0


def test_xlsx_text_in_values_and_truncated() -> None:
    rows: list[list[object]] = [["date", "valeur"]]
    rows += [[date(2020 + k, 1, 1), 10.0] for k in range(8)]
    rows[3][1] = "n.c."
    assert refused(_xlsx(rows), "a.xlsx").startswith("Ligne 4 : « n.c. » n'est pas un nombre")
    data = _xlsx([["date", "valeur"], *[[date(2020 + k, 1, 1), 1.0] for k in range(8)]])
    message = refused(data[: len(data) // 2], "a.xlsx")
    assert message.startswith("Classeur XLSX illisible")
