"""Demo loan books (`clocher init --demo`): three communes, fixed, Euribor + margin,
Livret A and one structured loan, a few years of épargne brute, and index histories
(approximate published monthly values of Euribor 3 mois and Livret A, for the demo only).

Idempotent: loans are keyed by contract number, fixings by (index, date).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from django.db import transaction

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.finance import engine, services
from clocher.finance.engine.loans import (
    EarlyRepayment,
    IndemnityKind,
    Index,
    Periodicity,
    Profile,
    Rate,
    Structure,
    StructureKind,
    UnderlyingKind,
)
from clocher.finance.models import IndexFixing, Loan, LoanSource, SavingsFigure, SavingsSource

# (first month, value in %) — each value holds until the next one.
EURIBOR_3M = [
    ("2014-01", "0.29"), ("2015-01", "0.06"), ("2016-01", "-0.15"), ("2017-01", "-0.33"),
    ("2019-06", "-0.35"), ("2020-01", "-0.39"), ("2021-01", "-0.55"), ("2022-01", "-0.56"),
    ("2022-06", "-0.24"), ("2022-08", "0.40"), ("2022-10", "1.43"), ("2023-01", "2.34"),
    ("2023-04", "3.18"), ("2023-07", "3.72"), ("2023-10", "3.97"), ("2024-04", "3.89"),
    ("2024-07", "3.68"), ("2024-10", "3.17"), ("2025-01", "2.70"), ("2025-04", "2.25"),
    ("2025-07", "1.99"),
]  # fmt: skip
LIVRET_A = [
    ("2014-01", "1.25"), ("2014-08", "1.00"), ("2015-08", "0.75"), ("2020-02", "0.50"),
    ("2022-02", "1.00"), ("2022-08", "2.00"), ("2023-02", "3.00"), ("2025-02", "2.40"),
    ("2025-08", "1.70"),
]  # fmt: skip

Q = Periodicity.QUARTERLY
Y = Periodicity.YEARLY


def _loan(reference: str, lender: str, label: str, nominal: str, start: date, periods: int,
          rate: Rate, periodicity: Periodicity = Q, **extra: object) -> engine.Loan:  # fmt: skip
    return engine.Loan(
        reference=reference, nominal=D(nominal), start=start, periods=periods, rate=rate,
        periodicity=periodicity, lender=lender, label=label, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


BOOKS: dict[str, list[engine.Loan]] = {
    "21271": [  # Flavigny-sur-Ozerain: a small book, Banque des Territoires and a local bank
        _loan(
            "BDT-5123456",
            "Banque des Territoires",
            "Rénovation de l'école",
            "180000.00",
            date(2016, 3, 1),
            80,
            Rate(D("0.0075"), Index.LIVRET_A, floor=D(0)),
        ),
        _loan(
            "CA-2019-0042",
            "Crédit Agricole Champagne-Bourgogne",
            "Voirie communale",
            "120000.00",
            date(2019, 7, 1),
            15,
            Rate(D("0.0085")),
            Y,
            early_repayment=EarlyRepayment(IndemnityKind.ACTUARIAL),
        ),
    ],  # fmt: skip
    "21716": [  # Vougeot: a variable loan on Euribor and a fixed one
        _loan(
            "CE-78451",
            "Caisse d'Épargne Bourgogne Franche-Comté",
            "Salle des fêtes",
            "450000.00",
            date(2018, 1, 15),
            60,
            Rate(D("0.0090"), Index.EURIBOR_3M, floor=D(0)),
            early_repayment=EarlyRepayment(IndemnityKind.MONTHS_OF_INTEREST, months=3),
        ),
        _loan(
            "LBP-2023-117",
            "La Banque Postale",
            "Réseau d'eau",
            "300000.00",
            date(2023, 6, 1),
            80,
            Rate(D("0.0362")),
            profile=Profile.CONSTANT_CAPITAL,
            early_repayment=EarlyRepayment(IndemnityKind.PERCENT, D("0.03")),
        ),
    ],  # fmt: skip
    "21603": [  # Semur-en-Auxois: a larger book with a structured loan of 2007
        _loan(
            "DEXIA-MPH-2007-88",
            "SFIL (ex-Dexia)",
            "Refinancement 2007",
            "2400000.00",
            date(2007, 10, 1),
            30,
            Rate(D("0.0395")),
            Y,
            structure=Structure(StructureKind.MULTIPLIER, UnderlyingKind.EURO_SPREAD, D(5)),
            gissler="3E",
            early_repayment=EarlyRepayment(IndemnityKind.ACTUARIAL),
        ),
        _loan(
            "BDT-5300871",
            "Banque des Territoires",
            "Logements sociaux",
            "1500000.00",
            date(2012, 4, 1),
            100,
            Rate(D("0.0100"), Index.LIVRET_A, floor=D(0)),
        ),
        _loan(
            "SG-2020-3310",
            "Société Générale",
            "Piscine",
            "2000000.00",
            date(2020, 1, 15),
            80,
            Rate(D("0.0060"), Index.EURIBOR_3M, floor=D(0), cap=D("0.05")),
        ),
        _loan(
            "CA-2024-0815",
            "Crédit Agricole Champagne-Bourgogne",
            "Médiathèque",
            "800000.00",
            date(2024, 3, 1),
            20,
            Rate(D("0.0345")),
            Y,
            early_repayment=EarlyRepayment(IndemnityKind.ACTUARIAL),
        ),
    ],  # fmt: skip
}
SAVINGS = {
    "21271": {2021: "61000", 2022: "58500", 2023: "52000", 2024: "55500", 2025: "57000"},
    "21716": {2021: "98000", 2022: "91000", 2023: "72000", 2024: "80500", 2025: "84000"},
    "21603": {2021: "1150000", 2022: "990000", 2023: "610000", 2024: "540000", 2025: "580000"},
}


def _monthly(anchors: list[tuple[str, str]], until: date) -> list[tuple[date, D]]:
    points = []
    for i, (month, value) in enumerate(anchors):
        y, m = (int(p) for p in month.split("-"))
        end = anchors[i + 1][0] if i + 1 < len(anchors) else f"{until.year}-{until.month:02d}"
        ey, em = (int(p) for p in end.split("-"))
        while (y, m) < (ey, em) or (i + 1 == len(anchors) and (y, m) == (ey, em)):
            points.append((date(y, m, 1), D(value) / 100))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return points


def seed_fixings(until: date) -> None:
    rows = [
        IndexFixing(index=ix.value, date=d, value=v)
        for ix, anchors in ((Index.EURIBOR_3M, EURIBOR_3M), (Index.LIVRET_A, LIVRET_A))
        for d, v in _monthly(anchors, until)
    ]
    IndexFixing.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["index", "date"], update_fields=["value"]
    )


def seed_demo_book(actor: Actor, commune: Commune) -> None:
    book = BOOKS.get(commune.insee)
    if book is None:
        return
    from django.utils import timezone

    with transaction.atomic():
        seed_fixings(timezone.localdate())
        for value in book:
            Loan.objects.update_or_create(
                commune=commune,
                reference=value.reference,
                defaults={**services.loan_fields(value), "source": LoanSource.DEMO},
            )
        for year, amount in SAVINGS[commune.insee].items():
            SavingsFigure.objects.update_or_create(
                commune=commune,
                year=year,
                defaults={"amount": D(amount), "source": SavingsSource.ENTERED},
            )
        services.refresh_indicators(commune)
        audit.record(actor, "finance.demo_seeded", commune=commune, data={"loans": len(book)})
