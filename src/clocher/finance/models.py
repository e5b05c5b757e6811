"""The loan book and what its figures need: index fixings, forward curves, épargne brute,
and the per-year indicators stored when a book changes (the consolidated view reads them).

A loan belongs to a commune, or to the operator itself (`commune` null and `operator_debt`
set, which a constraint ties together): only operators see the operator's own debt, through
the operator-only pages. Money is `DecimalField(18, 2)`; rates are fractions with 8 decimals
(0.0325 = 3.25 %), as the engine reads them.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from clocher.core.models import Commune
from clocher.finance.engine.loans import (
    DayCount,
    DeferralKind,
    IndemnityKind,
    Index,
    Periodicity,
    Profile,
    StructureKind,
    UnderlyingKind,
)

MONEY: dict[str, Any] = {"max_digits": 18, "decimal_places": 2}
RATE: dict[str, Any] = {"max_digits": 14, "decimal_places": 8}


def unique_per_owner(field: str, in_commune: str, in_operator: str) -> list[models.BaseConstraint]:
    """FIELD unique among a commune's rows and among the operator's own (commune NULL): a
    plain unique (commune, FIELD) would let the operator's rows repeat, NULLs never being
    equal."""
    return [
        models.UniqueConstraint(
            fields=["commune", field], condition=Q(commune__isnull=False), name=in_commune
        ),
        models.UniqueConstraint(
            fields=[field], condition=Q(commune__isnull=True), name=in_operator
        ),
    ]


PERIODICITY_CHOICES = [(p.value, p.label) for p in Periodicity]
PROFILE_CHOICES = [
    (Profile.ANNUITY.value, "annuités constantes"),
    (Profile.CONSTANT_CAPITAL.value, "amortissement constant"),
    (Profile.IN_FINE.value, "in fine"),
    (Profile.PROGRESSIVE.value, "échéances progressives"),
    (Profile.CUSTOM.value, "tableau personnalisé"),
]
DAY_COUNT_CHOICES = [(d.value, d.value) for d in DayCount]
INDEX_CHOICES = [
    (Index.EURIBOR_1M.value, "Euribor 1 mois"),
    (Index.EURIBOR_3M.value, "Euribor 3 mois"),
    (Index.EURIBOR_6M.value, "Euribor 6 mois"),
    (Index.EURIBOR_12M.value, "Euribor 12 mois"),
    (Index.LIVRET_A.value, "Livret A"),
    (Index.TAG.value, "TAG"),
    (Index.TAM.value, "TAM"),
    (Index.T4M.value, "T4M"),
    (Index.INFLATION.value, "inflation"),
]
DEFERRAL_CHOICES = [
    (DeferralKind.INTEREST_ONLY.value, "partiel (intérêts payés)"),
    (DeferralKind.TOTAL.value, "total (intérêts capitalisés)"),
]
INDEMNITY_CHOICES = [
    (IndemnityKind.NONE.value, "sans indemnité"),
    (IndemnityKind.PERCENT.value, "pourcentage du capital remboursé"),
    (IndemnityKind.MONTHS_OF_INTEREST.value, "mois d'intérêts"),
    (IndemnityKind.ACTUARIAL.value, "indemnité actuarielle"),
]
STRUCTURE_CHOICES = [
    (StructureKind.BARRIER.value, "barrière"),
    (StructureKind.SWAPTION.value, "option d'échange"),
    (StructureKind.MULTIPLIER.value, "multiplicateur"),
    (StructureKind.OTHER.value, "autre"),
]
UNDERLYING_CHOICES = [(u.value, u.name.lower()) for u in UnderlyingKind]


class LoanSource(models.TextChoices):
    ENTERED = "saisie", "saisie"
    CSV = "csv", "import CSV"
    TOTEM = "totem", "import TOTEM"
    DEMO = "demo", "démonstration"


class Loan(models.Model):
    """One loan contract, with every field the engine's `Loan` reads (services convert)."""

    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="loans"
    )
    operator_debt = models.BooleanField("dette propre de l'opérateur", default=False)
    reference = models.CharField("numéro de contrat", max_length=100)
    lender = models.CharField("prêteur", max_length=200, blank=True)
    label = models.CharField("objet", max_length=300, blank=True)
    nominal = models.DecimalField("nominal", **MONEY)
    start = models.DateField("date de mobilisation")
    periods = models.PositiveIntegerField("nombre d'échéances")
    periodicity = models.PositiveSmallIntegerField(
        "périodicité", choices=PERIODICITY_CHOICES, default=Periodicity.QUARTERLY.value
    )
    profile = models.CharField(
        "profil", max_length=30, choices=PROFILE_CHOICES, default=Profile.ANNUITY.value
    )
    day_count = models.CharField(
        "base de calcul",
        max_length=10,
        choices=DAY_COUNT_CHOICES,
        default=DayCount.THIRTY_360.value,
    )
    rate_index = models.CharField("index", max_length=20, choices=INDEX_CHOICES, blank=True)
    rate = models.DecimalField("taux fixe ou marge", **RATE)
    floor = models.DecimalField("plancher", null=True, blank=True, **RATE)
    cap = models.DecimalField("plafond", null=True, blank=True, **RATE)
    growth = models.DecimalField("progressivité", default=0, **RATE)
    capital_table = models.JSONField("tableau d'amortissement", default=list, blank=True)
    deferral_periods = models.PositiveSmallIntegerField("différé (échéances)", default=0)
    deferral_kind = models.CharField(
        "type de différé",
        max_length=10,
        choices=DEFERRAL_CHOICES,
        default=DeferralKind.INTEREST_ONLY.value,
    )
    indemnity_kind = models.CharField(
        "indemnité de remboursement anticipé",
        max_length=20,
        choices=INDEMNITY_CHOICES,
        default=IndemnityKind.NONE.value,
    )
    indemnity_value = models.DecimalField("pourcentage d'indemnité", default=0, **RATE)
    indemnity_months = models.PositiveSmallIntegerField("mois d'intérêts d'indemnité", default=0)
    structure_kind = models.CharField(
        "formule structurée", max_length=20, choices=STRUCTURE_CHOICES, blank=True
    )
    structure_underlying = models.PositiveSmallIntegerField(
        "sous-jacent", choices=UNDERLYING_CHOICES, null=True, blank=True
    )
    structure_multiplier = models.DecimalField(
        "multiplicateur", max_digits=8, decimal_places=4, null=True, blank=True
    )
    structure_capped = models.BooleanField("multiplicateur capé", default=False)
    structure_description = models.TextField("description de la formule", blank=True)
    gissler_declared = models.CharField("classe Gissler déclarée", max_length=2, blank=True)
    # The class that counts (computed for standard products, declared for structured
    # ones) and why a person should check it: stored so the matrix and alerts are queries.
    gissler = models.CharField("classe Gissler", max_length=2)
    gissler_computed = models.BooleanField("classe calculée", default=True)
    gissler_warning = models.CharField("avertissement Gissler", max_length=400, blank=True)
    source = models.CharField(max_length=10, choices=LoanSource.choices, default=LoanSource.ENTERED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "reference"]
        verbose_name = "emprunt"
        constraints = [
            *unique_per_owner(
                "reference", "finance_loan_reference_per_commune", "finance_loan_reference_operator"
            ),
            models.CheckConstraint(
                condition=Q(commune__isnull=True, operator_debt=True)
                | Q(commune__isnull=False, operator_debt=False),
                name="finance_loan_owner",
            ),
            models.CheckConstraint(condition=Q(nominal__gt=0), name="finance_loan_nominal"),
            models.CheckConstraint(condition=Q(periods__gte=1), name="finance_loan_periods"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.lender})" if self.lender else self.reference

    @property
    def is_variable(self) -> bool:
        return bool(self.rate_index)


class IndexFixing(models.Model):
    """A published value of an index (shared by every commune: public market data)."""

    index = models.CharField(max_length=20, choices=INDEX_CHOICES)
    date = models.DateField()
    value = models.DecimalField(**RATE)

    class Meta:
        ordering = ["index", "date"]
        constraints = [
            models.UniqueConstraint(fields=["index", "date"], name="finance_fixing_unique")
        ]

    def __str__(self) -> str:
        return f"{self.index} {self.date:%d/%m/%Y} : {self.value}"


class ForwardCurve(models.Model):
    """Projected index values (anticipations), entered or imported by the operator; the
    latest one is the reference scenario. `points`: [{"index", "date", "value"}] as text."""

    name = models.CharField("nom", max_length=120, unique=True)
    as_of = models.DateField("date de la courbe")
    points = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of", "-created_at"]

    def __str__(self) -> str:
        return self.name


class RecomputeStatus(models.TextChoices):
    QUEUED = "queued", "en attente"
    RUNNING = "running", "en cours"
    DONE = "done", "terminé"
    FAILED = "failed", "échec"


class Recompute(models.Model):
    """A background recomputation of every book holding a variable loan, after new fixings
    or a new forward curve (hundreds of books: never inside the operator's request). The
    market page shows its progress; loan pages say their figures are being recomputed."""

    reason = models.CharField("motif", max_length=200)
    status = models.CharField(
        max_length=8, choices=RecomputeStatus.choices, default=RecomputeStatus.QUEUED
    )
    total = models.PositiveIntegerField("portefeuilles", default=0)
    done = models.PositiveIntegerField("recalculés", default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RecomputeStatus.values), name="finance_recompute_status"
            ),
            models.CheckConstraint(
                condition=Q(done__lte=models.F("total")), name="finance_recompute_done_le_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} ({self.status})"

    @property
    def pending(self) -> bool:
        return self.status in (RecomputeStatus.QUEUED, RecomputeStatus.RUNNING)


class SavingsSource(models.TextChoices):
    ENTERED = "saisie", "saisie"
    IMPORTED = "import", "comptes importés"
    FORECAST = "prevision", "prévision"


class SavingsFigure(models.Model):
    """Épargne brute (recettes − dépenses réelles de fonctionnement) of one year."""

    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="savings"
    )
    year = models.PositiveSmallIntegerField("année")
    amount = models.DecimalField("épargne brute", **MONEY)
    source = models.CharField(
        max_length=10, choices=SavingsSource.choices, default=SavingsSource.ENTERED
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["year"]
        constraints = unique_per_owner("year", "finance_savings_year", "finance_savings_operator")

    def __str__(self) -> str:
        return f"épargne brute {self.year} : {self.amount}"


class YearIndicator(models.Model):
    """A book's indicators for one year, stored whenever its loans, its épargne brute, the
    fixings or the forward curve change: the operator's view of 700 communes reads these
    rows in one query instead of scheduling 3,500 loans per page."""

    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="debt_years"
    )
    year = models.PositiveSmallIntegerField()
    outstanding = models.DecimalField(**MONEY)
    capital = models.DecimalField(**MONEY)
    interest = models.DecimalField(**MONEY)
    weighted_rate = models.DecimalField(null=True, **RATE)
    actuarial_rate = models.DecimalField(null=True, **RATE)
    residual_life = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    average_life = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    gross_savings = models.DecimalField(null=True, **MONEY)
    debt_capacity = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    variable_share = models.DecimalField(max_digits=6, decimal_places=4)
    structured_share = models.DecimalField(max_digits=6, decimal_places=4)
    loans = models.PositiveIntegerField()
    risky_loans = models.PositiveIntegerField(default=0)  # Gissler 3E and beyond, still owed
    worst_class = models.CharField(max_length=2, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["year"]
        constraints = unique_per_owner(
            "year", "finance_indicator_year", "finance_indicator_operator"
        )

    def __str__(self) -> str:
        return f"indicateurs {self.year}"

    @property
    def annuity(self):  # type: ignore[no-untyped-def]
        return self.capital + self.interest
