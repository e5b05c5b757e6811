"""Finance services: imports all or nothing, stored indicators, consolidated view in a
constant number of queries, alerts, scenarios, refinancing, épargne brute."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clocher.core.models import AuditEntry
from clocher.finance import services
from clocher.finance.models import IndexFixing, Loan, SavingsFigure, YearIndicator
from tests.conftest import SYSTEM
from tests.finance.finance_data import BAD, DATA, GOOD, STRUCTURED, book, totem

pytestmark = pytest.mark.django_db


def test_csv_import_stores_loans_indicators_and_audit(commune_a):
    report = services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    assert report.ok, report.errors
    assert sorted(report.created) == ["FIX-1", "VAR-1"]
    loans = {ln.reference: ln for ln in Loan.objects.filter(commune=commune_a)}
    assert loans["FIX-1"].nominal == Decimal("100000.00")
    assert loans["VAR-1"].rate_index == "EURIBOR_3M" and loans["VAR-1"].gissler == "1A"
    year = YearIndicator.objects.get(commune=commune_a, year=2021)
    assert year.loans == 2 and year.outstanding > 0
    assert AuditEntry.objects.filter(action="finance.loans_imported", commune=commune_a).exists()
    # The same file again updates, never duplicates.
    again = services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    assert again.updated == ["FIX-1", "VAR-1"] and not again.created
    assert Loan.objects.filter(commune=commune_a).count() == 2


def test_malformed_csv_writes_nothing_and_names_the_line(commune_a):
    services.import_loans(SYSTEM, commune_a, book(("KEEP-1", "1000")).encode(), "a.csv")
    before = list(Loan.objects.values_list("reference", "nominal"))
    report = services.import_loans(SYSTEM, commune_a, BAD.encode(), "b.csv")
    assert not report.ok
    assert any("ligne 3" in e and "FIX-3" in e and "nominal" in e for e in report.errors)
    assert "rien n'a été importé" in report.summary()
    assert list(Loan.objects.values_list("reference", "nominal")) == before


def test_totem_with_malformed_loans_writes_nothing(commune_a):
    data = (DATA / "totem_etat_dette.xml").read_bytes()
    report = services.import_loans(SYSTEM, commune_a, data, "budget.xml")
    assert report.kind == "TOTEM"
    assert not report.ok and report.errors
    assert not Loan.objects.exists()
    truncated = data[: len(data) // 2]
    assert not services.import_loans(SYSTEM, commune_a, truncated, "coupé.xml").ok
    assert not Loan.objects.exists()


SIREN_A, SIREN_OTHER = "212102719", "212107106"  # invented, Luhn-valid


def test_totem_of_the_commune_is_imported_by_insee_or_siren(commune_a):
    report = services.import_loans(SYSTEM, commune_a, totem(insee="21271"), "a.xml")
    assert report.ok and report.created == ["CA-2015-0042"], report.summary()
    commune_a.siren = SIREN_A
    commune_a.save()
    by_siren = services.import_loans(SYSTEM, commune_a, totem(siret=SIREN_A + "00019"), "a.xml")
    assert by_siren.ok and by_siren.updated == ["CA-2015-0042"], by_siren.summary()


@pytest.mark.parametrize(
    ("siren", "file", "expected"),
    [
        ("", {"insee": "21716", "name": "VOUGEOT"}, "« VOUGEOT » (INSEE 21716), pas de"),
        (SIREN_A, {"insee": "21271", "siret": SIREN_OTHER + "00017"}, f"SIREN {SIREN_OTHER}), pas"),
        ("", {"siret": SIREN_A + "00019"}, f"SIREN {SIREN_A} mais pas de code INSEE"),
        ("", {}, "ne nomme pas sa collectivité"),
    ],
)  # fmt: skip
def test_totem_of_another_collectivite_is_refused_whole(commune_a, siren, file, expected):
    services.import_loans(SYSTEM, commune_a, book(("CA-2015-0042", "1000")).encode(), "a.csv")
    commune_a.siren = siren or None
    commune_a.save()
    report = services.import_loans(SYSTEM, commune_a, totem(**file), "autre.xml")
    assert not report.ok and expected in report.fatal, report.fatal
    assert "rien n'a été importé" in report.summary()
    assert list(Loan.objects.values_list("reference", "nominal")) == [
        ("CA-2015-0042", Decimal("1000.00"))
    ]


def test_operator_book_refuses_a_commune_totem(commune_a):
    refused = services.import_loans(SYSTEM, None, totem(insee="21271"), "a.xml")
    assert "celui de la commune" in refused.fatal and not Loan.objects.exists()
    own = services.import_loans(SYSTEM, None, totem(siret="222100018" + "00016"), "dep.xml")
    assert own.ok and own.created == ["CA-2015-0042"], own.summary()


def test_engine_sample_book_imports_every_profile(commune_a):
    report = services.import_loans(SYSTEM, commune_a, (DATA / "loan_book.csv").read_bytes())
    assert report.ok, report.errors
    built = services.build_book(commune_a)
    for schedule in built.schedules.values():
        assert schedule.total_capital == schedule.loan.nominal
        assert schedule.rows[-1][5] == 0


def test_operator_debt_is_a_separate_book(commune_a):
    services.import_loans(SYSTEM, None, book(("DEP-1", "5000000")).encode(), "dep.csv")
    services.import_loans(SYSTEM, commune_a, book(("DEP-1", "1000")).encode(), "a.csv")
    own = Loan.objects.get(commune__isnull=True)
    assert own.operator_debt and own.nominal == Decimal("5000000.00")
    assert [ln.reference for ln in services.loans_of(commune_a)] == ["DEP-1"]
    assert services.loans_of(commune_a).get().nominal == Decimal("1000.00")
    assert YearIndicator.objects.filter(commune__isnull=True, year=2016).exists()


def test_variable_loans_follow_fixings_and_say_when_nothing_is_known(commune_a):
    services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    bare = services.build_book(commune_a)
    assert any("EURIBOR_3M" in w for w in bare.warnings)
    history = "Date,1W,1M,3M,6M,12M\n" + "".join(
        f"{y}-{m:02d}-01,0.1,0.2,{3 + m / 10:.2f},0.4,0.5\n"
        for y in (2021, 2022)
        for m in range(1, 13)
    )
    result = services.import_index_history(SYSTEM, history.encode())
    assert result.ok and result.books == 1
    assert IndexFixing.objects.filter(index="EURIBOR_3M").count() == 24
    fixed = services.build_book(commune_a)
    assert not any("EURIBOR_3M" in w for w in fixed.warnings)
    var = next(ln for ln in fixed.loans if ln.reference == "VAR-1")
    # First period fixed on the January 2021 value (3.10 %) + 0.80 % margin.
    assert fixed.schedules[var.pk].rows[0][1] == Decimal("0.039")


def test_index_history_with_a_bad_line_writes_nothing():
    bad = "Date,3M\n2024-01-01,3.9\n2024-02-01,trois\n"
    result = services.import_index_history(SYSTEM, bad.encode())
    assert not result.ok and "ligne 3" in result.errors[0]
    assert not IndexFixing.objects.exists()


def test_forward_curve_moves_the_projection(commune_a):
    services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    low = services.build_book(commune_a).indicators
    services.save_forward_curve(
        SYSTEM, "Anticipations", date(2025, 1, 1), "EURIBOR_3M;2020-01-01;5,00\n"
    )
    high = services.build_book(commune_a).indicators
    assert sum(f.interest for f in high.years) > sum(f.interest for f in low.years)
    with pytest.raises(ValidationError) as caught:
        services.save_forward_curve(SYSTEM, "Fausse", date(2025, 1, 1), "EURIBOR_3M;demain;2\n")
    assert "ligne 1" in caught.value.messages[0]


def test_savings_give_the_debt_capacity_and_alerts(commune_a, settings):
    settings.FINANCE_ALERT_YEARS = 12
    services.import_loans(SYSTEM, commune_a, book(("BIG", "2000000")).encode(), "a.csv")
    services.set_savings(SYSTEM, commune_a, 2016, Decimal("100000"))
    year = YearIndicator.objects.get(commune=commune_a, year=2016)
    assert year.debt_capacity == (year.outstanding / 100000).quantize(Decimal("0.01"))
    assert year.debt_capacity > 12
    assert "capacité de désendettement" in services.alerts_for(year)[0]
    accounts = "Année;Recettes réelles de fonctionnement;Dépenses réelles de fonctionnement\n2017;1 000 000;400 000\n"  # noqa: E501
    assert services.import_accounts(SYSTEM, commune_a, accounts.encode()) == {
        2017: Decimal("600000.00")
    }
    assert not services.alerts_for(YearIndicator.objects.get(commune=commune_a, year=2017))
    with pytest.raises(ValidationError):
        services.import_accounts(SYSTEM, commune_a, "Année;Épargne brute\n2018;beaucoup\n".encode())
    assert not SavingsFigure.objects.filter(year=2018).exists()


def test_structured_loan_3e_and_beyond_alerts(commune_a):
    services.import_loans(SYSTEM, commune_a, STRUCTURED.encode(), "s.csv")
    loan = Loan.objects.get()
    assert loan.gissler == "4E" and not loan.gissler_computed and loan.gissler_warning
    year = YearIndicator.objects.get(commune=commune_a, year=2020)
    assert year.risky_loans == 1 and year.worst_class == "4E"
    assert any("3E" in a for a in services.alerts_for(year))


def test_scenarios_cost_more_when_rates_rise_and_refinancing(commune_a):
    services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    built = services.build_book(commune_a, as_of=date(2022, 6, 30))
    costs = {c.name: c for c in services.book_scenarios(built)}
    up = next(c for name, c in costs.items() if "+100" in name)
    down = next(c for name, c in costs.items() if "-100" in name)
    assert up.delta > 0 > down.delta
    assert up.per_loan["FIX-1"] == down.per_loan["FIX-1"]
    fixed = Loan.objects.get(reference="FIX-1")
    what_if = services.refinance(fixed, date(2025, 1, 1), Decimal("0.01"))
    assert what_if.savings > 0 and what_if.break_even is not None
    with pytest.raises(ValidationError):
        services.refinance(fixed, date(2060, 1, 1), Decimal("0.01"))


@pytest.mark.parametrize("count", [5, 50])
def test_consolidated_view_in_constant_queries(count, make_commune, django_assert_num_queries):
    year = timezone.localdate().year
    communes = []
    for insee in _some_insee(count):
        commune = make_commune(insee)
        services.import_loans(
            SYSTEM, commune, book(("L1", "100000"), ("L2", "50000"), start="01/01/2020").encode()
        )
        communes.append(commune)
    services.set_savings(SYSTEM, communes[0], year, Decimal("1000"))
    with django_assert_num_queries(2):
        view = services.consolidated(year, "alertes", descending=True)
        assert len(view.rows) == count
        assert view.rows[0].commune == communes[0] and view.rows[0].alerts
        assert all(row.figures is not None for row in view.rows)


def _some_insee(count: int) -> list[str]:
    from clocher.core.reference import department_communes

    return sorted(ref.insee for ref in department_communes("21"))[:count]


def test_accounts_csv_with_old_mac_line_ends_imports_and_noise_is_refused(commune_a):
    """A CSV saved with a carriage return alone between lines (Excel for Mac's « CSV
    Macintosh ») was a server error (`csv`'s « new-line character seen in unquoted
    field »); so was any file with a stray CR, or one field over csv's 128 KiB limit."""
    mac = "Année;Épargne brute\r2019;150 000\r2020;175 000,50\r".encode("cp1252")
    assert services.import_accounts(SYSTEM, commune_a, mac) == {
        2019: Decimal("150000.00"),
        2020: Decimal("175000.50"),
    }
    for noise in (bytes(range(256)) * 256, b"Ann\xe9e;" + b"x" * 200_000):
        with pytest.raises(ValidationError):
            services.import_accounts(SYSTEM, commune_a, noise)
    curve = "EURIBOR_3M;2027-01-01;2,35\r" + "y" * 200_000
    with pytest.raises(ValidationError):
        services.parse_curve_text(curve)
    assert services.parse_curve_text("EURIBOR_3M;2027-01-01;2,35\r")[0]["value"] == "0.0235"
