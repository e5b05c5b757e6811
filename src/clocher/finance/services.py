"""Debt steering services: every page, API route, CLI command and demo comes through here.

The engine (`clocher.finance.engine`, plain Python) schedules and measures; this module
stores loans, fixings, curves and épargne brute, converts rows to engine values, writes
all or nothing with an audit entry in the same transaction, and keeps each book's yearly
indicators (`YearIndicator`) up to date so that the operator's consolidated view of every
commune is a constant number of queries.

A book's owner is a `Commune`, or `None` for the operator's own debt (operators only).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune, Membership, Role
from clocher.finance import engine
from clocher.finance.engine import curves, gissler, indicators, parsers, scenarios
from clocher.finance.engine.loans import (
    DayCount,
    Deferral,
    DeferralKind,
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
from clocher.finance.engine.schedule import Schedule
from clocher.finance.models import (
    ForwardCurve,
    IndexFixing,
    Loan,
    LoanSource,
    Recompute,
    RecomputeStatus,
    SavingsFigure,
    SavingsSource,
    YearIndicator,
)
from clocher.governance import cputime
from clocher.governance.models import Analytic

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 10 * 1024 * 1024
SAVINGS_KEY = "finance:epargne_brute"  # the forecast app's series of a commune's savings
# The historical replay's default start: the 2022 rise of rates (Euribor 3 mois from
# −0,5 % to near 4 % in eighteen months), the stress a variable book must be read against.
DEFAULT_REPLAY_FROM = date(2021, 12, 1)
Owner = Commune | None


# --------------------------------------------------------------------------- access


def may_write(user: Any, commune: Owner) -> bool:
    """Operators write every book (their own included); a commune admin writes theirs."""
    if scoping.is_operator(user):
        return True
    if commune is None or not user.is_authenticated:
        return False
    return Membership.objects.filter(
        user=user, commune=commune, is_active=True, role=Role.COMMUNE_ADMIN
    ).exists()


def loans_of(owner: Owner) -> QuerySet[Loan]:
    """The book of a commune, or the operator's own debt (`owner` None)."""
    if owner is None:
        return Loan.objects.filter(commune__isnull=True, operator_debt=True)
    return Loan.objects.filter(commune=owner)


def get_loan(owner: Owner, loan_id: int) -> Loan:
    """A loan of this book, else ValidationError (views turn it into a 404)."""
    loan = loans_of(owner).filter(pk=loan_id).select_related("commune").first()
    if loan is None:
        raise ValidationError("Emprunt introuvable dans ce portefeuille.")
    return loan


def owner_label(owner: Owner) -> str:
    return owner.name if owner is not None else "dette propre de l'opérateur"


# --------------------------------------------------------------------------- conversion


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def to_engine(loan: Loan) -> engine.Loan:
    """The stored contract as the engine's value (ValueError in French if inconsistent)."""
    structure = None
    if loan.structure_kind:
        structure = Structure(
            kind=StructureKind(loan.structure_kind),
            underlying=UnderlyingKind(loan.structure_underlying or 1),
            multiplier=_dec(loan.structure_multiplier or 1),
            capped=loan.structure_capped,
            description=loan.structure_description,
        )
    return engine.Loan(
        reference=loan.reference,
        nominal=_dec(loan.nominal),
        start=loan.start,
        periods=loan.periods,
        rate=Rate(
            value=_dec(loan.rate),
            index=Index(loan.rate_index) if loan.rate_index else None,
            floor=_dec(loan.floor) if loan.floor is not None else None,
            cap=_dec(loan.cap) if loan.cap is not None else None,
        ),
        periodicity=Periodicity(loan.periodicity),
        profile=Profile(loan.profile),
        day_count=DayCount(loan.day_count),
        growth=_dec(loan.growth),
        capital_table=tuple(Decimal(v) for v in loan.capital_table),
        deferral=Deferral(loan.deferral_periods, DeferralKind(loan.deferral_kind)),
        early_repayment=EarlyRepayment(
            IndemnityKind(loan.indemnity_kind), _dec(loan.indemnity_value), loan.indemnity_months
        ),
        structure=structure,
        gissler=loan.gissler_declared or None,
        lender=loan.lender,
        label=loan.label,
    )


def loan_fields(value: engine.Loan) -> dict[str, Any]:
    """Model fields of an engine loan, its Gissler class computed or declared included."""
    structure = value.structure
    result = gissler.classify(value)
    return {
        "reference": value.reference[:100],
        "lender": value.lender[:200],
        "label": value.label[:300],
        "nominal": value.nominal,
        "start": value.start,
        "periods": value.periods,
        "periodicity": value.periodicity.value,
        "profile": value.profile.value,
        "day_count": value.day_count.value,
        "rate_index": value.rate.index.value if value.rate.index else "",
        "rate": value.rate.value,
        "floor": value.rate.floor,
        "cap": value.rate.cap,
        "growth": value.growth,
        "capital_table": [str(c) for c in value.capital_table],
        "deferral_periods": value.deferral.periods,
        "deferral_kind": value.deferral.kind.value,
        "indemnity_kind": value.early_repayment.kind.value,
        "indemnity_value": value.early_repayment.value,
        "indemnity_months": value.early_repayment.months,
        "structure_kind": structure.kind.value if structure else "",
        "structure_underlying": structure.underlying.value if structure else None,
        "structure_multiplier": structure.multiplier if structure else None,
        "structure_capped": structure.capped if structure else False,
        "structure_description": structure.description if structure else "",
        "gissler_declared": value.gissler or "",
        "gissler": result.code,
        "gissler_computed": result.computed,
        "gissler_warning": result.warning[:400],
    }


# --------------------------------------------------------------------------- curves


def histories() -> dict[Index, curves.IndexHistory]:
    """Every stored fixing, per index (one query)."""
    points: dict[Index, list[tuple[date, Decimal]]] = {}
    for index, day, value in IndexFixing.objects.order_by("index", "date").values_list(
        "index", "date", "value"
    ):
        points.setdefault(Index(index), []).append((day, value))
    return {ix: curves.IndexHistory.of(ix, pts) for ix, pts in points.items()}


def forward_points(curve: ForwardCurve) -> dict[Index, curves.IndexHistory]:
    points: dict[Index, list[tuple[date, Decimal]]] = {}
    for p in curve.points:
        points.setdefault(Index(p["index"]), []).append(
            (date.fromisoformat(p["date"]), Decimal(p["value"]))
        )
    return {ix: curves.IndexHistory.of(ix, pts) for ix, pts in points.items()}


@dataclass
class CurveSet:
    """The reference curve of today, the histories it was built from, and what it lacks."""

    curve: curves.Curve
    histories: dict[Index, curves.IndexHistory]
    warnings: list[str] = field(default_factory=list)


def reference_curve(used: Iterable[Index] = (), as_of: date | None = None) -> CurveSet:
    """History up to `as_of` (today), then the latest forward curve, else the last fixing
    held flat. An index used by a loan with nothing known is projected at 0 % with a
    warning saying so (the page shows it): the schedule exists, the person knows why."""
    as_of = as_of or timezone.localdate()
    past = histories()
    stored = ForwardCurve.objects.first()
    forward = forward_points(stored) if stored is not None else {}
    missing = sorted({ix for ix in used if ix not in past and ix not in forward}, key=str)
    curve = curves.Curve(
        as_of=as_of,
        history=past,
        forward=forward,
        flat={ix: Decimal(0) for ix in missing},
        name=f"courbe « {stored.name} »" if stored is not None else "index figés",
    )
    warnings = [
        f"Aucune valeur connue de l'index {ix.value} : projeté à 0 %. Importez son historique "
        "ou une courbe d'anticipations." for ix in missing
    ]  # fmt: skip
    return CurveSet(curve, past, warnings)


# --------------------------------------------------------------------------- books


@dataclass
class Book:
    """A book with its schedules and indicators, as the pages, report and CLI show it."""

    owner: Owner
    loans: list[Loan]
    schedules: dict[int, Schedule]
    indicators: indicators.BookIndicators
    curve: CurveSet
    savings: dict[int, Decimal]
    as_of: date

    @property
    def warnings(self) -> list[str]:
        notes = list(self.curve.warnings)
        notes += [
            f"{ln.reference} : {ln.gissler_warning}" for ln in self.loans if ln.gissler_warning
        ]
        return notes

    def outstanding(self, loan: Loan, on: date | None = None) -> Decimal:
        on = on or date(self.as_of.year - 1, 12, 31)
        return self.schedules[loan.pk].outstanding_at(on)


def _years(schedules: Iterable[Schedule], today: date) -> range:
    listed = list(schedules)
    first = min([s.loan.start.year for s in listed] + [today.year])
    last = max([s.end.year for s in listed] + [today.year])
    return range(first, last + 1)


def savings_of(owner: Owner) -> dict[int, Decimal]:
    rows = (
        SavingsFigure.objects.filter(commune=owner)
        if owner
        else SavingsFigure.objects.filter(commune__isnull=True)
    )
    return dict(rows.values_list("year", "amount"))


def build_book(owner: Owner, as_of: date | None = None) -> Book:
    """Schedule every loan of the book on the reference curve and measure it per year."""
    today = as_of or timezone.localdate()
    loans = list(loans_of(owner))
    curve = reference_curve({Index(ln.rate_index) for ln in loans if ln.rate_index}, today)
    schedules = {ln.pk: engine.build_schedule(to_engine(ln), curve.curve) for ln in loans}
    savings = savings_of(owner)
    figures = indicators.book_indicators(
        list(schedules.values()), _years(schedules.values(), today), savings
    )
    return Book(owner, loans, schedules, figures, curve, savings, today)


def schedule_of(loan: Loan) -> tuple[Schedule, list[str]]:
    """One loan's schedule on the reference curve, and the curve's warnings."""
    curve = reference_curve([Index(loan.rate_index)] if loan.rate_index else [])
    return engine.build_schedule(to_engine(loan), curve.curve), curve.warnings


def _risky_per_year(book: Book) -> dict[int, tuple[int, str]]:
    """(loans of class 3E or beyond still owed on 31/12, worst class) per year."""
    out: dict[int, tuple[int, str]] = {}
    risky = [ln for ln in book.loans if gissler.at_least(ln.gissler)]
    for figures in book.indicators.years:
        end = date(figures.year, 12, 31)
        owed = [ln.gissler for ln in risky if book.schedules[ln.pk].outstanding_at(end) > 0]
        out[figures.year] = (len(owed), max(owed, key=_class_rank, default=""))
    return out


def _class_rank(code: str) -> tuple[int, str]:
    return (int(code[0]), code[1]) if code else (0, "")


def refresh_indicators(owner: Owner) -> int:
    """Store the book's indicators of every year (called whenever something they depend
    on changes, inside the caller's transaction). Returns the number of years stored.
    Its CPU time is recorded for the sobriety figures."""
    with cputime.measured(owner, Analytic.FINANCE):
        return _refresh_indicators(owner)


# PostgreSQL advisory lock class of a book's indicators (its key: the commune's id, 0 for
# the operator's own debt).
_BOOK_LOCK = 0x46696E  # "Fin"


def _lock_book(owner: Owner) -> None:
    """One refresh of a book's indicators at a time: on PostgreSQL, the recompute task
    and a loan saved meanwhile each deleted the rows, then inserted theirs, and the later
    one failed on the other's rows (a unique year per book). Taken after the change's own
    rows, before the audit journal's lock (`core.audit`)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            key = owner.pk if owner is not None else 0
            cursor.execute("SELECT pg_advisory_xact_lock(%s::int, %s::int)", [_BOOK_LOCK, key])


def _refresh_indicators(owner: Owner) -> int:
    _lock_book(owner)
    book = build_book(owner)
    risky = _risky_per_year(book)
    rows = [
        YearIndicator(
            commune=owner,
            year=f.year,
            outstanding=f.outstanding,
            capital=f.capital,
            interest=f.interest,
            weighted_rate=f.weighted_rate,
            actuarial_rate=f.actuarial_rate,
            residual_life=f.residual_life,
            average_life=f.average_life,
            gross_savings=f.gross_savings,
            debt_capacity=f.debt_capacity,
            variable_share=f.variable_share,
            structured_share=f.structured_share,
            loans=f.loans,
            risky_loans=risky[f.year][0],
            worst_class=risky[f.year][1],
        )
        for f in book.indicators.years
    ]
    stored = (
        YearIndicator.objects.filter(commune=owner)
        if owner
        else YearIndicator.objects.filter(commune__isnull=True)
    )
    stored.delete()
    if book.loans:
        YearIndicator.objects.bulk_create(rows, batch_size=500)
        return len(rows)
    return 0


def _variable_owners() -> list[int | None]:
    """Commune ids (None: the operator's own debt) of every book holding a variable loan."""
    ids = set(Loan.objects.exclude(rate_index="").values_list("commune_id", flat=True))
    return sorted(ids, key=lambda i: (i is not None, i or 0))


def request_recompute(reason: str) -> Recompute:
    """Queue the recomputation of every book with a variable loan (the task runs it once
    the caller's transaction commits: it then reads the new fixings or curve)."""
    from clocher.finance import tasks

    job = Recompute.objects.create(reason=reason[:200], total=len(_variable_owners()))
    tasks.recompute_variable_books.enqueue(job.pk)
    return job


def run_recompute(job: Recompute) -> Recompute:
    """Recompute the books one by one, each in its own transaction, counting progress; a
    crash ends the job « échec » (logged) so that no page says « en cours » for ever."""
    if not job.pending:
        return job
    owners = _variable_owners()
    communes = {c.pk: c for c in Commune.objects.filter(pk__in=[o for o in owners if o])}
    Recompute.objects.filter(pk=job.pk).update(
        status=RecomputeStatus.RUNNING, total=len(owners), done=0
    )
    try:
        for owner_id in owners:
            with transaction.atomic():
                refresh_indicators(communes[owner_id] if owner_id else None)
            Recompute.objects.filter(pk=job.pk).update(done=F("done") + 1)
    except Exception as exc:
        logger.exception("finance recompute %s failed", job.pk)
        Recompute.objects.filter(pk=job.pk).update(
            status=RecomputeStatus.FAILED,
            error=f"Erreur pendant le recalcul ({type(exc).__name__}).",
            finished_at=timezone.now(),
        )
    else:
        Recompute.objects.filter(pk=job.pk).update(
            status=RecomputeStatus.DONE, finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def recompute_pending() -> Recompute | None:
    """The recomputation queued or running, if any (pages say their figures are moving)."""
    return (
        Recompute.objects.filter(status__in=[RecomputeStatus.QUEUED, RecomputeStatus.RUNNING])
        .order_by("created_at", "id")
        .first()
    )


def being_recomputed(owner: Owner) -> bool:
    """Whether this book's variable-rate figures are waiting for a recomputation."""
    return recompute_pending() is not None and loans_of(owner).exclude(rate_index="").exists()


# --------------------------------------------------------------------------- loans


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError(
            f"{what} trop volumineux : {MAX_IMPORT_BYTES // 1024 // 1024} Mo au plus."
        )


@dataclass
class LoanImportReport:
    """What an import did, or why it did nothing (one line per loan that could not be read)."""

    filename: str
    kind: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    fatal: str = ""

    @property
    def ok(self) -> bool:
        return not self.fatal and not self.errors

    def summary(self) -> str:
        if self.fatal:
            return f"{self.filename} : rien n'a été importé — {self.fatal}"
        if self.errors:
            return (
                f"{self.filename} : rien n'a été importé — {len(self.errors)} emprunt(s) "
                "illisible(s), corrigez le fichier et renvoyez-le en entier."
            )
        return (
            f"{self.filename} ({self.kind}) : {len(self.created)} emprunt(s) créé(s), "
            f"{len(self.updated)} mis à jour."
        )


def parse_loan_file(data: bytes) -> tuple[str, parsers.LoanImport]:
    """TOTEM XML when the file starts with '<', the CSV loan book otherwise."""
    head = data[:200].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "TOTEM", parsers.parse_totem(data)
    return "CSV", parsers.parse_loan_csv(data)


def totem_issuer_mismatch(owner: Owner, issuer: parsers.TotemIssuer) -> str:
    """Why a TOTEM file may not go into this book ("" when it may): a document budgétaire
    names its collectivité, and another commune's état de la dette imported by mistake would
    silently replace this commune's loans of the same contract numbers. A commune's file
    must carry its INSEE code or its SIREN, and neither may differ; the operator's own book
    refuses a file of any commune of the installation."""
    whose = issuer.name or "une autre collectivité"
    named = ", ".join(
        f"{label} {value}" for label, value in (("INSEE", issuer.insee), ("SIREN", issuer.siren))
        if value
    )  # fmt: skip
    if owner is None:
        same = Q(insee=issuer.insee) if issuer.insee else Q(pk__in=[])
        if issuer.siren:
            same |= Q(siren=issuer.siren)
        commune = Commune.objects.filter(same).first()
        if commune is not None:
            return (
                f"ce document budgétaire est celui de la commune {commune} ({named}), "
                "pas de la dette propre de l'opérateur"
            )
        return ""
    if (issuer.insee and issuer.insee != owner.insee) or (
        issuer.siren and owner.siren and issuer.siren != owner.siren
    ):
        return (
            f"ce document budgétaire est celui de « {whose} » ({named}), pas de la commune "
            f"{owner} (INSEE {owner.insee}{f', SIREN {owner.siren}' if owner.siren else ''})"
        )
    if issuer.insee == owner.insee or (issuer.siren and issuer.siren == owner.siren):
        return ""
    if issuer.siren:
        return (
            f"l'en-tête du document donne le SIREN {issuer.siren} mais pas de code INSEE "
            f"(CodInseeColl), et le SIREN de la commune {owner} n'est pas enregistré : "
            "impossible de vérifier que ce fichier est le sien"
        )
    return (
        "l'en-tête du document ne nomme pas sa collectivité (ni IdColl ni CodInseeColl) : "
        "impossible de vérifier que ce fichier est celui de la commune"
    )


def import_loans(
    actor: Actor, owner: Owner, data: bytes, filename: str = "fichier"
) -> LoanImportReport:
    """All or nothing: a file with one unreadable loan writes nothing and says which and why.

    Loans whose contract number is already in the book are replaced (a new export of the
    same book updates it); the others are added. Indicators are refreshed in the same
    transaction.
    """
    _check_size(data, "Fichier d'emprunts")
    kind, parsed = parse_loan_file(data)
    report = LoanImportReport(
        filename,
        kind,
        errors=[str(e) for e in parsed.errors],
        skipped=[str(e) for e in parsed.skipped],
        fatal=parsed.fatal,
    )
    if not report.fatal and parsed.issuer is not None:
        report.fatal = totem_issuer_mismatch(owner, parsed.issuer)
    if not report.fatal and not parsed.loans and not report.errors:
        report.fatal = "aucun emprunt dans le fichier"
    if not report.ok:
        return report
    source = LoanSource.TOTEM if kind == "TOTEM" else LoanSource.CSV
    with transaction.atomic():
        existing = {ln.reference: ln for ln in loans_of(owner)}
        for value in parsed.loans:
            fields = loan_fields(value)
            current = existing.get(value.reference)
            if current is None:
                Loan.objects.create(
                    commune=owner, operator_debt=owner is None, source=source, **fields
                )
                report.created.append(value.reference)
            else:
                for name, v in fields.items():
                    setattr(current, name, v)
                current.source = source
                current.save()
                report.updated.append(value.reference)
        refresh_indicators(owner)
        audit.record(
            actor,
            "finance.loans_imported",
            commune=owner,
            target=filename[:200],
            data={"format": kind, "created": len(report.created), "updated": len(report.updated)},
        )
    return report


def save_loan(actor: Actor, owner: Owner, value: engine.Loan, loan: Loan | None = None) -> Loan:
    """Create or change one loan (a form's result, already an engine value)."""
    with transaction.atomic():
        fields = loan_fields(value)
        clash = loans_of(owner).filter(reference=value.reference)
        if loan is not None:
            clash = clash.exclude(pk=loan.pk)
        if clash.exists():
            raise ValidationError(f"Le contrat {value.reference} existe déjà dans ce portefeuille.")
        if loan is None:
            loan = Loan.objects.create(commune=owner, operator_debt=owner is None, **fields)
            action = "finance.loan_created"
        else:
            for name, v in fields.items():
                setattr(loan, name, v)
            loan.save()
            action = "finance.loan_changed"
        refresh_indicators(owner)
        audit.record(actor, action, commune=owner, target=loan.reference, data={"id": loan.pk})
    return loan


def delete_loan(actor: Actor, loan: Loan) -> None:
    owner = loan.commune
    with transaction.atomic():
        reference = loan.reference
        loan.delete()
        refresh_indicators(owner)
        audit.record(actor, "finance.loan_deleted", commune=owner, target=reference)


# --------------------------------------------------------------------------- index data


@dataclass
class IndexImportReport:
    stored: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    fatal: str = ""
    books: int = 0

    @property
    def ok(self) -> bool:
        return not self.fatal and not self.errors

    def summary(self) -> str:
        if self.fatal:
            return f"Rien n'a été importé — {self.fatal}"
        if self.errors:
            return f"Rien n'a été importé — {len(self.errors)} ligne(s) illisible(s)."
        stored = ", ".join(f"{ix} : {n} valeur(s)" for ix, n in sorted(self.stored.items()))
        return (
            f"Historique importé ({stored}) ; {self.books} portefeuille(s) à taux variable "
            "en cours de recalcul."
        )


def import_index_history(actor: Actor, data: bytes, index: str = "") -> IndexImportReport:
    """A Banque de France (one series, `index` names it) or EMMI (Euribor tenors) CSV;
    all or nothing; existing values of the same dates are replaced."""
    _check_size(data, "Historique d'index")
    chosen = parsers.parse_index_name(index) if index else None
    parsed = parsers.parse_index_csv(data, chosen)
    report = IndexImportReport(errors=[str(e) for e in parsed.errors], fatal=parsed.fatal)
    if not report.ok:
        return report
    with transaction.atomic():
        for ix, hist in parsed.histories.items():
            IndexFixing.objects.bulk_create(
                [
                    IndexFixing(index=ix.value, date=d, value=v)
                    for d, v in zip(hist.dates, hist.values, strict=True)
                ],
                update_conflicts=True,
                unique_fields=["index", "date"],
                update_fields=["value"],
                batch_size=1000,
            )
            report.stored[ix.value] = len(hist)
        report.books = request_recompute("historique d'index importé").total
        audit.record(actor, "finance.index_imported", data=report.stored)
    return report


def parse_curve_text(text: str) -> list[dict[str, str]]:
    """`index;date;valeur %` per line (e.g. `EURIBOR_3M;2027-01-01;2,35`); ValidationError
    listing every line that is wrong."""
    points: list[dict[str, str]] = []
    errors: list[str] = []
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    except csv.Error as exc:  # a field over csv's limit (128 KiB)
        raise ValidationError(f"Courbe illisible ({exc}).") from exc
    for number, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip() or row[0].strip().lower() == "index":
            continue
        try:
            if len(row) < 3:
                raise ValueError("attendu « index;date;valeur »")
            ix = parsers.parse_index_name(row[0])
            if ix is None:
                raise ValueError("un index est requis (pas « fixe »)")
            when = parsers.date_fr(row[1], "date")
            value = parsers.percent(row[2], "valeur")
        except ValueError as exc:
            errors.append(f"ligne {number} : {exc}")
            continue
        points.append({"index": ix.value, "date": when.isoformat(), "value": str(value)})
    if errors:
        raise ValidationError(errors)
    if not points:
        raise ValidationError("Courbe vide : une ligne « index;date;valeur » au moins.")
    return points


def save_forward_curve(actor: Actor, name: str, as_of: date, text: str) -> ForwardCurve:
    """A new (or replaced) forward curve: it becomes the reference scenario."""
    name = name.strip()[:120]
    if not name:
        raise ValidationError("Donnez un nom à la courbe.")
    points = parse_curve_text(text)
    with transaction.atomic():
        ForwardCurve.objects.filter(name=name).delete()
        curve = ForwardCurve.objects.create(name=name, as_of=as_of, points=points)
        books = request_recompute(f"courbe d'anticipations « {name} »").total
        audit.record(
            actor, "finance.curve_saved", target=name, data={"points": len(points), "books": books}
        )
    return curve


# --------------------------------------------------------------------------- épargne brute


def set_savings(
    actor: Actor,
    owner: Owner,
    year: int,
    amount: Decimal,
    source: str = SavingsSource.ENTERED,
    *,
    refresh: bool = True,
) -> SavingsFigure:
    if not 1990 <= year <= 2100:
        raise ValidationError(f"Année {year} invalide.")
    with transaction.atomic():
        figure, _ = SavingsFigure.objects.update_or_create(
            commune=owner, year=year, defaults={"amount": amount, "source": source}
        )
        if refresh:
            refresh_indicators(owner)
        audit.record(
            actor,
            "finance.savings_set",
            commune=owner,
            target=str(year),
            data={"amount": str(amount), "source": source},
        )
    return figure


ACCOUNT_YEAR = ("annee", "exercice")
ACCOUNT_SAVINGS = ("epargne_brute",)
ACCOUNT_INCOME = ("recettes_reelles_de_fonctionnement", "recettes_reelles_fonctionnement", "rrf")
ACCOUNT_SPENDING = ("depenses_reelles_de_fonctionnement", "depenses_reelles_fonctionnement", "drf")


def _column(names: list[str], wanted: tuple[str, ...]) -> int | None:
    for i, name in enumerate(names):
        if name in wanted:
            return i
    return None


def parse_accounts(data: bytes) -> dict[int, Decimal]:
    """The commune's accounts CSV (`;`, decimal comma): `année` and either `épargne brute`
    or `recettes réelles de fonctionnement` and `dépenses réelles de fonctionnement`
    (épargne brute = their difference). ValidationError listing every wrong line."""
    text = parsers.decode_text(data)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    except csv.Error as exc:  # a field over csv's limit (128 KiB): not the accounts CSV
        raise ValidationError(f"Fichier des comptes illisible ({exc}).") from exc
    if not rows:
        raise ValidationError("Fichier des comptes vide.")
    names = [parsers.header_key(h) for h in rows[0]]
    year_col = _column(names, ACCOUNT_YEAR)
    savings_col = _column(names, ACCOUNT_SAVINGS)
    income_col, spending_col = _column(names, ACCOUNT_INCOME), _column(names, ACCOUNT_SPENDING)
    if year_col is None or (savings_col is None and (income_col is None or spending_col is None)):
        raise ValidationError(
            "Colonnes attendues : « année » et « épargne brute », ou « année », « recettes "
            "réelles de fonctionnement » et « dépenses réelles de fonctionnement » "
            "(séparateur « ; »)."
        )
    figures: dict[int, Decimal] = {}
    errors: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        if not "".join(row).strip():
            continue
        try:
            cells = row + [""] * len(names)
            year = int(parsers.decimal_fr(cells[year_col], "année"))
            if savings_col is not None:
                amount = parsers.decimal_fr(cells[savings_col], "épargne brute")
            else:
                assert income_col is not None and spending_col is not None
                amount = parsers.decimal_fr(cells[income_col], "recettes") - parsers.decimal_fr(
                    cells[spending_col], "dépenses"
                )
            if year in figures:
                raise ValueError(f"année {year} en double")
        except ValueError as exc:
            errors.append(f"ligne {number} : {exc}")
            continue
        figures[year] = amount.quantize(Decimal("0.01"))
    if errors:
        raise ValidationError(errors)
    if not figures:
        raise ValidationError("Aucune année dans le fichier des comptes.")
    return figures


def import_accounts(actor: Actor, owner: Owner, data: bytes) -> dict[int, Decimal]:
    """Épargne brute of every year of the accounts CSV, all or nothing."""
    _check_size(data, "Fichier des comptes")
    figures = parse_accounts(data)
    with transaction.atomic():
        for year, amount in sorted(figures.items()):
            set_savings(actor, owner, year, amount, SavingsSource.IMPORTED, refresh=False)
        refresh_indicators(owner)
    return figures


MIN_SAVINGS_YEARS = 8  # a yearly series shorter than this leaves the backtest nothing to test


def known_savings(commune: Commune) -> dict[int, Decimal]:
    """The épargne brute entered or imported (never the projected years)."""
    rows = SavingsFigure.objects.filter(commune=commune).exclude(source=SavingsSource.FORECAST)
    return dict(rows.values_list("year", "amount"))


def too_few_savings(count: int) -> str:
    return (
        f"Projection de l'épargne brute impossible : il faut au moins {MIN_SAVINGS_YEARS} "
        f"années d'épargne brute saisies ou importées, la commune en a {count}."
    )


def project_savings(actor: Actor, commune: Commune, horizon: int = 5) -> dict[int, Decimal]:
    """Future épargne brute from the forecast app (its series `finance:epargne_brute`, fed
    with the known years): stored as `prévision` for years not entered or imported, so the
    stored indicators carry the projected capacité de désendettement."""
    from clocher.forecast import services as forecast

    known = known_savings(commune)
    if len(known) < MIN_SAVINGS_YEARS:
        raise ValidationError(too_few_savings(len(known)))
    points = [(date(year, 1, 1), float(amount)) for year, amount in sorted(known.items())]
    forecast.series_from_points(
        actor, commune, SAVINGS_KEY, "Épargne brute", points, unit="€", frequency="YS"
    )
    made = forecast.forecast_for(commune, SAVINGS_KEY, horizon, actor=actor)
    projected: dict[int, Decimal] = {}
    with transaction.atomic():
        for day, mean in zip(made.prediction["dates"], made.prediction["mean"], strict=True):
            year = date.fromisoformat(day).year
            if year in known:
                continue
            projected[year] = Decimal(str(round(mean, 2)))
            set_savings(
                actor, commune, year, projected[year], SavingsSource.FORECAST, refresh=False
            )
        refresh_indicators(commune)
    return projected


@dataclass(frozen=True, slots=True)
class ProjectedYear:
    """One future year: épargne brute projected (mean and its 80/95 % interval), encours
    projected by the schedules, and the capacité de désendettement they give (years; None
    when the épargne brute is not positive: the debt would never be repaid from it)."""

    year: int
    savings: Decimal
    low: dict[str, Decimal]
    high: dict[str, Decimal]
    outstanding: Decimal | None

    @staticmethod
    def _capacity(outstanding: Decimal | None, savings: Decimal) -> Decimal | None:
        if outstanding is None or savings <= 0:
            return None
        return (outstanding / savings).quantize(Decimal("0.1"))

    @property
    def capacity(self) -> Decimal | None:
        return self._capacity(self.outstanding, self.savings)

    @property
    def capacity_range(self) -> tuple[Decimal | None, Decimal | None]:
        """At the 80 % interval's bounds: high savings give the shortest capacity."""
        return (
            self._capacity(self.outstanding, self.high["80"]),
            self._capacity(self.outstanding, self.low["80"]),
        )


@dataclass(frozen=True, slots=True)
class SavingsProjection:
    """What the debt page shows of the épargne brute's future: the stored forecast on the
    current figures (None when not made yet or out of date) or why there can be none."""

    known_years: int
    forecast: Any = None  # clocher.forecast.models.Forecast
    years: list[ProjectedYear] = field(default_factory=list)
    missing: str = ""

    @property
    def possible(self) -> bool:
        return self.known_years >= MIN_SAVINGS_YEARS


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


def savings_projection(commune: Commune) -> SavingsProjection:
    """Read (never compute) the projection of `commune`'s épargne brute: the forecast app's
    latest forecast of the series on the current figures, with the encours of each year."""
    from clocher.forecast import services as forecast
    from clocher.forecast.models import Series

    count = len(known_savings(commune))
    if count < MIN_SAVINGS_YEARS:
        return SavingsProjection(count, missing=too_few_savings(count))
    series = Series.objects.filter(commune=commune, key=SAVINGS_KEY).first()
    made = forecast.latest(series, current_only=True) if series is not None else None
    if made is None or not _series_is_current(commune, series):
        return SavingsProjection(
            count, missing="Pas de projection sur les chiffres actuels : lancez-la."
        )
    prediction = made.prediction
    years = [date.fromisoformat(day).year for day in prediction["dates"]]
    outstanding = dict(
        YearIndicator.objects.filter(commune=commune, year__in=years).values_list(
            "year", "outstanding"
        )
    )
    rows = [
        ProjectedYear(
            year=year,
            savings=_money(prediction["mean"][i]),
            low={lv: _money(prediction["lower"][lv][i]) for lv in ("80", "95")},
            high={lv: _money(prediction["upper"][lv][i]) for lv in ("80", "95")},
            outstanding=outstanding.get(year),
        )
        for i, year in enumerate(years)
    ]
    return SavingsProjection(count, forecast=made, years=rows)


def _series_is_current(commune: Commune, series: Any) -> bool:
    """Whether the forecast app's series still holds the commune's figures: one entered or
    imported since the last projection makes that projection out of date."""
    stored = list(zip(series.data.get("dates", []), series.data.get("values", []), strict=False))
    known = sorted(known_savings(commune).items())
    return stored == [(date(year, 1, 1).isoformat(), float(amount)) for year, amount in known]


# --------------------------------------------------------------------------- scenarios


def book_scenarios(
    book: Book, replay_from: date | None = DEFAULT_REPLAY_FROM
) -> list[scenarios.ScenarioCost]:
    """Reference, ±100 bp, +200 bp and the historical replay: interest still to pay."""
    histories = book.curve.histories
    listed = scenarios.standard_scenarios(
        book.curve.curve, histories, replay_from if histories else None
    )
    return scenarios.scenario_costs([s.loan for s in book.schedules.values()], listed, book.as_of)


def refinance(
    loan: Loan,
    on: date,
    new_rate: Decimal,
    *,
    market_rate: Decimal | None = None,
    fees: Decimal = Decimal(0),
) -> scenarios.RefinancingResult:
    """What-if: repay `loan` after its payment of `on`, borrow the rest at `new_rate`
    (fixed) over the same periods left. ValidationError in French when it cannot."""
    schedule, _ = schedule_of(loan)
    if loan.indemnity_kind == IndemnityKind.ACTUARIAL.value and market_rate is None:
        market_rate = new_rate
    try:
        return scenarios.refinance(schedule, on, Rate(new_rate), market_rate=market_rate, fees=fees)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


# --------------------------------------------------------------------------- operator view


@dataclass
class ConsolidatedRow:
    commune: Commune | None
    figures: YearIndicator | None
    alerts: list[str]

    @property
    def name(self) -> str:
        return self.commune.name if self.commune else "Dette propre de l'opérateur"


@dataclass
class Consolidated:
    year: int
    rows: list[ConsolidatedRow]
    threshold: int
    total_outstanding: Decimal
    total_annuity: Decimal

    @property
    def alerts(self) -> list[tuple[ConsolidatedRow, str]]:
        return [(row, alert) for row in self.rows for alert in row.alerts]


def alerts_for(figures: YearIndicator, threshold: int | None = None) -> list[str]:
    """The operator's alerts on one book's year: debt capacity above the threshold,
    structured loans of class 3E and beyond."""
    threshold = settings.FINANCE_ALERT_YEARS if threshold is None else threshold
    found = []
    if figures.debt_capacity is not None and figures.debt_capacity > threshold:
        found.append(
            f"capacité de désendettement de {figures.debt_capacity} ans (seuil : {threshold} ans)"
        )
    if figures.risky_loans:
        found.append(
            f"{figures.risky_loans} emprunt(s) structuré(s) de classe 3E ou au-delà "
            f"(le pire : {figures.worst_class})"
        )
    return found


SORTS = {
    "nom": lambda r: r.name.lower(),
    "encours": lambda r: r.figures.outstanding if r.figures else Decimal(-1),
    "annuite": lambda r: r.figures.annuity if r.figures else Decimal(-1),
    "capacite": lambda r: (
        r.figures.debt_capacity
        if r.figures and r.figures.debt_capacity is not None
        else Decimal(-1)
    ),
    "taux": lambda r: (
        r.figures.weighted_rate
        if r.figures and r.figures.weighted_rate is not None
        else Decimal(-1)
    ),
    "structure": lambda r: r.figures.structured_share if r.figures else Decimal(-1),
    "alertes": lambda r: len(r.alerts),
}


def consolidated(year: int, sort: str = "nom", descending: bool = False) -> Consolidated:
    """Every commune's debt for `year`, and the operator's own, in two queries whatever
    the number of communes (the stored `YearIndicator` rows, and the communes)."""
    threshold = settings.FINANCE_ALERT_YEARS
    figures = {fig.commune_id: fig for fig in YearIndicator.objects.filter(year=year).order_by()}
    rows = [
        ConsolidatedRow(
            c, figures.get(c.pk), alerts_for(figures[c.pk], threshold) if c.pk in figures else []
        )
        for c in Commune.objects.order_by("name")
    ]
    own = figures.get(None)
    if own is not None:
        rows.insert(0, ConsolidatedRow(None, own, alerts_for(own, threshold)))
    key = SORTS.get(sort, SORTS["nom"])
    rows.sort(key=key, reverse=descending)
    return Consolidated(
        year,
        rows,
        threshold,
        sum((f.outstanding for f in figures.values()), Decimal(0)),
        sum((f.annuity for f in figures.values()), Decimal(0)),
    )


def commune_alerts(commune: Commune, year: int) -> list[str]:
    found = YearIndicator.objects.filter(commune=commune, year=year).first()
    return alerts_for(found) if found is not None else []


def gissler_matrix(book: Book, on: date | None = None) -> list[dict[str, Any]]:
    """Counts and outstanding per Gissler class (6 × 6: numbers 1–6, letters A–F)."""
    on = on or date(book.as_of.year - 1, 12, 31)
    cells: dict[str, list[Any]] = {}
    for ln in book.loans:
        owed = book.schedules[ln.pk].outstanding_at(on)
        cell = cells.setdefault(ln.gissler, [0, Decimal(0)])
        cell[0] += 1
        cell[1] += owed
    return [
        {
            "number": n,
            "cells": [
                {
                    "code": f"{n}{letter}",
                    "count": cells.get(f"{n}{letter}", [0, 0])[0],
                    "amount": cells.get(f"{n}{letter}", [0, Decimal(0)])[1],
                    "risky": gissler.at_least(f"{n}{letter}"),
                }
                for letter in "ABCDEF"
            ],
        }
        for n in range(1, 7)
    ]


def tile_figures() -> dict[str, Any]:
    year = timezone.localdate().year
    rows = YearIndicator.objects.filter(year=year, commune__isnull=False)
    total = sum((r.outstanding for r in rows), Decimal(0))
    alerts = sum(1 for r in rows if alerts_for(r))
    return {
        "books": Loan.objects.filter(commune__isnull=False).values("commune").distinct().count(),
        "outstanding": total,
        "alerts": alerts,
    }
