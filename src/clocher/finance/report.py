"""The debt annex of the rapport d'orientation budgétaire (CGCT art. L.2312-1, D.2312-3):
the same figures feed the page, the CSV, the PDF and `clocher finance report`.

For the budget year Y: the debt at 31/12/Y−1 and its structure (fixed/variable/structured,
Gissler matrix, lenders), the annuities of Y−2 … Y+5, the extinction profile, and the cost
of rate scenarios over the remaining life.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from clocher.core import charts
from clocher.finance import services
from clocher.finance.engine.indicators import YearFigures
from clocher.finance.engine.scenarios import ScenarioCost
from clocher.finance.models import Loan


@dataclass
class LoanLine:
    loan: Loan
    outstanding: Decimal
    rate: Decimal
    end: date


@dataclass
class DebtReport:
    owner: services.Owner
    year: int
    book: services.Book
    years: list[YearFigures]
    lines: list[LoanLine]
    matrix: list[dict[str, Any]]
    costs: list[ScenarioCost]
    extinction: list[tuple[int, Decimal]]
    alerts: list[str]

    @property
    def scope(self) -> str:
        return services.owner_label(self.owner)

    @property
    def closing(self) -> date:
        """31/12 of the year before the budget year: the last known encours."""
        return date(self.year - 1, 12, 31)

    @property
    def before(self) -> YearFigures | None:
        return next((f for f in self.years if f.year == self.year - 1), None)

    def extinction_columns(self) -> list[charts.Column]:
        return charts.columns(
            [str(y) for y, _ in self.extinction],
            {"encours": [int(v) for _, v in self.extinction]},
            height=160,
            width=640,
        )

    def scenario_bars(self) -> list[charts.Bar]:
        return charts.bars([(c.name, int(c.interest)) for c in self.costs])


def build(owner: services.Owner, year: int | None = None) -> DebtReport:
    """The annex for budget year `year` (this year by default)."""
    year = year or timezone.localdate().year
    book = services.build_book(owner)
    wanted = set(range(year - 2, year + 6))
    years = [f for f in book.indicators.years if f.year in wanted]
    closing = date(year - 1, 12, 31)
    lines = [
        LoanLine(
            ln,
            book.schedules[ln.pk].outstanding_at(closing),
            book.schedules[ln.pk].rate_at(closing),
            book.schedules[ln.pk].end,
        )
        for ln in book.loans
    ]
    alerts: list[str] = []
    for f in years:
        if f.year == year - 1 and f.debt_capacity is not None:
            threshold = services.settings.FINANCE_ALERT_YEARS
            if f.debt_capacity > threshold:
                alerts.append(
                    f"Capacité de désendettement de {f.debt_capacity} ans au 31/12/{f.year} : "
                    f"au-delà du seuil de {threshold} ans."
                )
    risky = [ln.reference for ln in book.loans if services.gissler.at_least(ln.gissler)]
    if risky:
        alerts.append("Emprunts structurés de classe 3E ou au-delà : " + ", ".join(risky) + ".")
    return DebtReport(
        owner=owner,
        year=year,
        book=book,
        years=years,
        lines=lines,
        matrix=services.gissler_matrix(book, closing),
        costs=services.book_scenarios(book) if book.loans else [],
        extinction=[(y, v) for y, v in book.indicators.extinction if y >= year - 1],
        alerts=alerts,
    )


def _n(value: Any) -> str:
    """Decimal comma for spreadsheets; empty for unknown."""
    return "" if value is None else str(value).replace(".", ",")


def to_csv(report: DebtReport) -> str:
    """One table, `;`-separated with a BOM, as French spreadsheets open it."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(["section", "clé", "libellé", "valeur 1", "valeur 2", "valeur 3", "valeur 4"])
    w.writerow(["portée", report.year, report.scope, "", "", "", ""])
    w.writerow(["indicateurs", "année", "encours 31/12", "capital", "intérêts", "taux moyen",
                "capacité de désendettement (ans)"])  # fmt: skip
    for f in report.years:
        w.writerow(["indicateurs", f.year, _n(f.outstanding), _n(f.capital), _n(f.interest),
                    _n(f.weighted_rate), _n(f.debt_capacity)])  # fmt: skip
    for line in report.lines:
        w.writerow(["emprunt", line.loan.reference, line.loan.lender, _n(line.outstanding),
                    _n(line.rate), line.loan.gissler, line.end.isoformat()])  # fmt: skip
    for y, v in report.extinction:
        w.writerow(["extinction", y, "encours 31/12", _n(v), "", "", ""])
    for c in report.costs:
        w.writerow(
            ["scénario", c.name, "intérêts restant dus", _n(c.interest), _n(c.delta), "", ""]
        )
    for row in report.matrix:
        for cell in row["cells"]:
            if cell["count"]:
                w.writerow(["gissler", cell["code"], "emprunts, encours", cell["count"],
                            _n(cell["amount"]), "", ""])  # fmt: skip
    return out.getvalue()


def to_pdf(report: DebtReport, operator_name: str = "") -> bytes:
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    html = render_to_string(
        "finance/report_print.html",
        {"report": report, "operator_name": operator_name, "generated": timezone.localtime()},
    )
    return bytes(HTML(string=html).write_pdf())


def filename(report: DebtReport, extension: str) -> str:
    scope = report.owner.insee if report.owner is not None else "operateur"
    return f"dette-{scope}-rob-{report.year}.{extension}"
