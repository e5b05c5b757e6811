"""Imports: the TOTEM état de la dette (a sample built from the schema's element names), the
CSV loan book and index histories; a clear French error per unreadable loan, never half a loan."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from clocher.finance.engine import DayCount, Index, Periodicity, Profile, build_schedule
from clocher.finance.engine.gissler import classify
from clocher.finance.engine.loans import DeferralKind, IndemnityKind
from clocher.finance.engine.parsers import (
    TotemIssuer,
    parse_index_csv,
    parse_loan_csv,
    parse_totem,
)

D = Decimal
DATA = Path(__file__).parent / "data"


def test_totem_sample_reads_good_loans_and_reports_each_bad_one():
    result = parse_totem((DATA / "totem_etat_dette.xml").read_bytes())
    assert not result.fatal
    assert [ln.reference for ln in result.loans] == [
        "CA-2015-0042",
        "CDC-1104016",
        "LBP-MON-2021-7",
        "MPH-2007-311",
    ]
    fixed, livret, euribor, structured = result.loans
    assert fixed.nominal == D("1000000.00")
    assert fixed.start == date(2015, 3, 15)  # one quarter before the first repayment
    assert (fixed.periods, fixed.periodicity) == (80, Periodicity.QUARTERLY)
    assert fixed.rate.value == D("0.0345") and fixed.rate.is_fixed
    assert build_schedule(fixed).rows[0][0] == date(2015, 6, 15)
    assert (livret.rate.index, livret.rate.value) == (Index.LIVRET_A, D("0.012"))  # from TxMini
    assert livret.start == date(2018, 1, 1) and livret.periods == 25
    assert (euribor.rate.index, euribor.rate.value) == (Index.EURIBOR_3M, D("0.0085"))
    gissler = classify(structured)
    assert gissler.code == "4E" and not gissler.computed and "structuré" in gissler.warning

    assert [(e.reference, e.message) for e in result.skipped] == [
        ("GAR-2012-1", "emprunt garanti pour un tiers : hors de l'encours propre")
    ]
    errors = {e.reference: str(e) for e in result.errors}
    assert set(errors) == {"CE-2019-5", "CE-2020-9", "CE-2021-2"}
    assert "MtEmprOrig « deux cent mille » n'est pas un nombre" in errors["CE-2019-5"]
    assert "DureeContratInit absent" in errors["CE-2020-9"]
    assert "CodPeriodRemb « I » non pris en charge" in errors["CE-2021-2"]
    assert errors["CE-2019-5"].startswith("ligne ")  # the line of the EMPRUNT in the file
    assert not result.ok
    assert result.issuer == TotemIssuer(
        siren="212102719", insee="21271", name="COMMUNE DE FLAVIGNY-SUR-OZERAIN"
    )


def test_totem_truncated_file_is_refused_whole():
    data = (DATA / "totem_etat_dette.xml").read_bytes()
    result = parse_totem(data[: len(data) // 2])
    assert result.fatal.startswith("XML illisible")
    assert result.loans == [] and result.errors == []


def test_totem_other_documents_are_refused():
    assert "pas un document budgétaire" in parse_totem(b"<facture/>").fatal
    empty = b'<DocumentBudgetaire xmlns="http://www.minefi.gouv.fr/cp/demat/docbudgetaire"/>'
    assert "aucun élément EMPRUNT" in parse_totem(empty).fatal


def test_totem_entities_are_not_expanded():
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<DocumentBudgetaire xmlns="http://www.minefi.gouv.fr/cp/demat/docbudgetaire"><EMPRUNT>'
        b'<NumContrat V="&x;"/></EMPRUNT></DocumentBudgetaire>'
    )
    result = parse_totem(evil)
    assert "root:" not in repr(result)


def test_csv_loan_book_with_french_headers_and_decimal_comma():
    result = parse_loan_csv((DATA / "loan_book.csv").read_bytes())
    assert result.ok, [str(e) for e in result.errors]
    fixed, livret, euribor, progressive, structured = result.loans
    assert (
        fixed.nominal == D("1000000.00") and fixed.early_repayment.kind is IndemnityKind.ACTUARIAL
    )
    assert livret.profile is Profile.CONSTANT_CAPITAL and livret.day_count is DayCount.ACT_365
    assert (livret.rate.index, livret.rate.value, livret.rate.floor) == (
        Index.LIVRET_A,
        D("0.012"),
        D(0),
    )
    assert euribor.rate.cap == D("0.06") and euribor.deferral.periods == 4
    assert euribor.deferral.kind is DeferralKind.INTEREST_ONLY
    assert (euribor.early_repayment.kind, euribor.early_repayment.value) == (
        IndemnityKind.PERCENT,
        D("0.03"),
    )
    assert progressive.growth == D("0.015") and progressive.start == date(2012, 5, 10)
    assert progressive.early_repayment.months == 6
    assert structured.gissler == "4E" and structured.profile is Profile.IN_FINE


def test_csv_reports_one_error_per_bad_line_and_keeps_the_good_ones():
    text = (
        "référence;nominal;date_debut;nombre_echeances;taux;index;profil\n"
        "A1;100 000,00;01/01/2024;40;3,1;;\n"
        "A2;cent;01/01/2024;40;3,1;;\n"
        "A3;100000;31/02/2024;40;3,1;;\n"
        "A4;100000;01/01/2024;40;;CAC 40;\n"
        "A5;100000;01/01/2024;40;2;;escalier\n"
        "A1;5000;01/01/2024;4;2;;\n"
        ";5000;01/01/2024;4;2;;\n"
    )
    result = parse_loan_csv(text)
    assert [ln.reference for ln in result.loans] == ["A1"]
    assert [str(e) for e in result.errors] == [
        "ligne 3 (A2) : nominal « cent » n'est pas un nombre",
        "ligne 4 (A3) : date_debut « 31/02/2024 » n'est pas une date (JJ/MM/AAAA)",
        "ligne 5 (A4) : index « CAC 40 » inconnu",
        "ligne 6 (A5) : profil « escalier » inconnu(e) (attendu : amortissement_constant, "
        "annuite_constante, capital_constant, echeance_constante, echeances_constantes, "
        "echeances_progressives, in_fine, personnalise, progressif)",
        "ligne 7 (A1) : référence en double dans le fichier",
        "ligne 8 : référence absente",
    ]


def test_csv_without_required_columns_is_refused():
    result = parse_loan_csv("reference,nominal\nA,1\n")
    assert result.fatal == (
        "colonnes obligatoires absentes : reference, nominal, date_debut, nombre_echeances "
        "(séparateur « ; »)"
    )
    assert not result.loans


def test_banque_de_france_series_with_its_header_lines():
    text = (
        "Titre :;Taux de rémunération du Livret A\n"
        "Code série :;MIR1.M.FR.B.L23FRLA.D.R.A.2230U6.EUR.O\n"
        "Unité :;Pourcentage\n"
        "2023-02-01;3,00\n"
        "01/08/2020;0,50\n"
        "2024-01;-\n"
        "2024-02-01;trois\n"
    )
    result = parse_index_csv(text, Index.LIVRET_A)
    history = result.histories[Index.LIVRET_A]
    assert history.value_at(date(2022, 12, 31)) == D("0.005")
    assert history.value_at(date(2023, 2, 1)) == D("0.03")
    assert [str(e) for e in result.errors] == ["ligne 7 : valeur « trois » n'est pas un nombre"]
    assert "préciser l'index" in parse_index_csv(text).fatal


def test_emmi_euribor_file_gives_one_history_per_tenor():
    text = (
        "Date,1W,1M,3M,6M,12M\n"
        "02/01/2024,3.879,3.861,3.905,3.858,3.513\n"
        "03/01/2024,3.881,3.866,3.921,3.874,3.553\n"
    )
    result = parse_index_csv(text)
    assert set(result.histories) == {
        Index.EURIBOR_1M,
        Index.EURIBOR_3M,
        Index.EURIBOR_6M,
        Index.EURIBOR_12M,
    }
    assert result.histories[Index.EURIBOR_3M].value_at(date(2024, 1, 5)) == D("0.03921")


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("Euribor 3 mois", Index.EURIBOR_3M),
        ("EURIBOR_12M", Index.EURIBOR_12M),
        ("livret a", Index.LIVRET_A),
        ("TAG 3 mois", Index.TAG),
        ("fixe", None),
        ("", None),
    ],
)
def test_index_names(text, index):
    from clocher.finance.engine.parsers import parse_index_name

    assert parse_index_name(text) is index
