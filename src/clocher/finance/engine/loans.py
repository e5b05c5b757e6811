"""What a loan contract says, as immutable values the schedule engine reads.

Rates are `Decimal` fractions (0.0325 = 3.25 %), amounts `Decimal` euros. A `Loan` is
validated at construction (`__post_init__`) so that a parser or a form never hands the
engine half a contract: each problem is a `ValueError` whose message, in French, names
the field that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum

ZERO = Decimal(0)
CENT = Decimal("0.01")


class Periodicity(Enum):
    """Payment frequency; the value is the number of periods per year."""

    MONTHLY = 12
    QUARTERLY = 4
    HALF_YEARLY = 2
    YEARLY = 1

    @property
    def months(self) -> int:
        return 12 // self.value

    @property
    def label(self) -> str:
        return _PERIODICITY_LABELS[self]


_PERIODICITY_LABELS = {
    Periodicity.MONTHLY: "mensuelle",
    Periodicity.QUARTERLY: "trimestrielle",
    Periodicity.HALF_YEARLY: "semestrielle",
    Periodicity.YEARLY: "annuelle",
}


class Profile(Enum):
    """Amortisation profile (profil d'amortissement)."""

    ANNUITY = "annuite_constante"  # échéances constantes
    CONSTANT_CAPITAL = "amortissement_constant"  # capital constant, échéances dégressives
    IN_FINE = "in_fine"  # intérêts seuls, capital à la dernière échéance
    PROGRESSIVE = "progressif"  # échéances croissant de `growth` par période
    CUSTOM = "personnalise"  # tableau d'amortissement du capital fourni


class DayCount(Enum):
    """Day-count basis for the interest of a period."""

    THIRTY_360 = "30/360"  # 30E/360 ISDA: every full month counts 30 days
    ACT_360 = "exact/360"
    ACT_365 = "exact/365"


class Index(Enum):
    """Reference indices of variable rates (values as in CSV files and the docs)."""

    EURIBOR_1M = "EURIBOR_1M"
    EURIBOR_3M = "EURIBOR_3M"
    EURIBOR_6M = "EURIBOR_6M"
    EURIBOR_12M = "EURIBOR_12M"
    LIVRET_A = "LIVRET_A"
    TAG = "TAG"  # taux annuel glissant (moyenne mensuelle de l'€STR/T4M capitalisée)
    TAM = "TAM"  # taux annuel monétaire
    T4M = "T4M"  # taux moyen mensuel du marché monétaire
    INFLATION = "INFLATION"  # inflation française hors tabac (ou zone euro)


# Gissler index dimension of each standard index (circulaire du 25 juin 2010, annexe).
EURO_ZONE_INDICES = frozenset(Index) - {Index.INFLATION}


class DeferralKind(Enum):
    """Différé d'amortissement: interest paid (partiel) or capitalised (total)."""

    INTEREST_ONLY = "partiel"
    TOTAL = "total"


class IndemnityKind(Enum):
    """Early-repayment indemnity formula (indemnité de remboursement anticipé)."""

    NONE = "sans"  # sans indemnité (Livret A loans of the Caisse des dépôts, most variable)
    PERCENT = "pourcentage"  # `value` × capital remboursé (e.g. 3 %)
    MONTHS_OF_INTEREST = "mois_interets"  # `months` months of interest at the current rate
    ACTUARIAL = "actuarielle"  # max(0, valeur actualisée des flux au taux de marché − CRD)


class StructureKind(Enum):
    """Formula of a structured rate, for the Gissler letter (A–F)."""

    BARRIER = "barriere"  # barrière simple, sans effet de levier → B
    SWAPTION = "option_echange"  # option d'échange (swaption) → C
    MULTIPLIER = "multiplicateur"  # multiplicateur: ≤ 3, or ≤ 5 capé → D; ≤ 5 → E; more → F
    OTHER = "autre"  # anything else → F (hors charte)


class UnderlyingKind(Enum):
    """Index family of a structured rate's underlying, for the Gissler number (1–6)."""

    EURO = 1  # indices zone euro
    INFLATION = 2  # inflation française / zone euro, ou écart entre ces indices
    EURO_SPREAD = 3  # écarts d'indices zone euro (e.g. CMS 30 ans − CMS 2 ans)
    NON_EURO = 4  # indices hors zone euro, écart dont l'un est hors zone euro
    NON_EURO_SPREAD = 5  # écarts d'indices hors zone euro
    OTHER = 6  # hors charte (change EUR/CHF, …)


@dataclass(frozen=True, slots=True)
class Structure:
    """A structured product's formula, as far as the Gissler charter needs it.

    The schedule engine does not model the formula: it projects the structured loan at
    `Rate` (the rate it currently pays, or the bank's projection), and `gissler.classify`
    returns the declared class with a warning.
    """

    kind: StructureKind
    underlying: UnderlyingKind = UnderlyingKind.EURO
    multiplier: Decimal = Decimal(1)
    capped: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Rate:
    """Fixed rate (`index` None, `value` the rate) or index + margin (`value` the margin).

    `floor` and `cap` bound the coupon rate (index + margin) of each period; a floor of 0
    keeps interests non-negative when the index goes negative.
    """

    value: Decimal
    index: Index | None = None
    floor: Decimal | None = None
    cap: Decimal | None = None

    @property
    def is_fixed(self) -> bool:
        return self.index is None

    def bound(self, rate: Decimal) -> Decimal:
        """The coupon rate once the floor and the cap are applied."""
        if self.floor is not None and rate < self.floor:
            rate = self.floor
        if self.cap is not None and rate > self.cap:
            rate = self.cap
        return rate


@dataclass(frozen=True, slots=True)
class Deferral:
    """The first `periods` periods repay no capital (différé)."""

    periods: int = 0
    kind: DeferralKind = DeferralKind.INTEREST_ONLY


@dataclass(frozen=True, slots=True)
class EarlyRepayment:
    """Early-repayment clause: `value` is the percentage (PERCENT) as a fraction."""

    kind: IndemnityKind = IndemnityKind.NONE
    value: Decimal = ZERO
    months: int = 0


@dataclass(frozen=True, slots=True)
class Loan:
    """One loan contract.

    `start` is the disbursement date (date de mobilisation); due dates are `start` plus
    k × the period in months (the day clamped to the month's end). `periods` counts all
    periods, deferral included. `growth` is the per-period growth of payments for
    PROGRESSIVE loans; `capital_table` the capital repaid each amortising period for
    CUSTOM loans (it must sum to the nominal). `gissler` is the declared class ("1A"…"6F")
    for structured products; standard products get theirs computed.
    """

    reference: str
    nominal: Decimal
    start: date
    periods: int
    rate: Rate
    periodicity: Periodicity = Periodicity.QUARTERLY
    profile: Profile = Profile.ANNUITY
    day_count: DayCount = DayCount.THIRTY_360
    growth: Decimal = ZERO
    capital_table: tuple[Decimal, ...] = ()
    deferral: Deferral = field(default_factory=Deferral)
    early_repayment: EarlyRepayment = field(default_factory=EarlyRepayment)
    structure: Structure | None = None
    gissler: str | None = None
    lender: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        problems = loan_problems(self)
        if problems:
            raise ValueError(
                f"emprunt {self.reference or '(sans référence)'} : " + " ; ".join(problems)
            )

    @property
    def amortising_periods(self) -> int:
        return self.periods - self.deferral.periods

    @property
    def is_variable(self) -> bool:
        return self.rate.index is not None

    @property
    def is_structured(self) -> bool:
        return self.structure is not None


def loan_problems(loan: Loan) -> list[str]:
    """Every reason why `loan` cannot be scheduled, in French (empty when it can)."""
    problems: list[str] = []
    if not isinstance(loan.nominal, Decimal) or not loan.nominal.is_finite():
        problems.append("le nominal doit être un montant décimal")
        return problems
    if loan.nominal <= 0:
        problems.append("le nominal doit être positif")
    if loan.nominal != loan.nominal.quantize(CENT):
        problems.append("le nominal a plus de deux décimales")
    if loan.periods < 1:
        problems.append("la durée doit compter au moins une période")
    if loan.deferral.periods < 0 or loan.deferral.periods >= max(loan.periods, 1):
        problems.append("le différé doit laisser au moins une période d'amortissement")
    if (
        loan.rate.floor is not None
        and loan.rate.cap is not None
        and loan.rate.floor > loan.rate.cap
    ):
        problems.append("le plancher dépasse le plafond")
    if loan.rate.is_fixed and loan.rate.value < 0:
        problems.append("le taux fixe est négatif")
    if loan.profile is Profile.PROGRESSIVE and loan.growth <= -1:
        problems.append("le taux de progressivité doit être supérieur à −100 %")
    if loan.profile is Profile.CUSTOM:
        if len(loan.capital_table) != loan.amortising_periods:
            problems.append(
                f"le tableau d'amortissement compte {len(loan.capital_table)} échéances "
                f"au lieu de {loan.amortising_periods}"
            )
        elif sum(loan.capital_table, ZERO) != loan.nominal:
            problems.append(
                f"le tableau d'amortissement totalise {sum(loan.capital_table, ZERO)} "
                f"au lieu du nominal {loan.nominal}"
            )
        elif any(c < 0 for c in loan.capital_table):
            problems.append("le tableau d'amortissement contient un montant négatif")
    if loan.gissler is not None and not is_gissler_code(loan.gissler):
        problems.append(f"classe Gissler « {loan.gissler} » invalide (attendu 1A à 6F)")
    return problems


def is_gissler_code(code: str) -> bool:
    return len(code) == 2 and code[0] in "123456" and code[1] in "ABCDEF"
