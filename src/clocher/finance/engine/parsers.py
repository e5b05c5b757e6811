"""Imports: the CSV loan book, the TOTEM budget annex (état de la dette) and index histories.

Each parser reads everything it can and returns the loans it fully understood plus one
`LineError` per loan (or line) it could not read, with a French message naming the field;
it never returns half a loan. Writing all-or-nothing is the caller's transaction.
Columns and codes are documented in docs/finance.md.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from lxml import etree

from clocher.finance.engine.curves import IndexHistory
from clocher.finance.engine.loans import (
    CENT,
    ZERO,
    DayCount,
    Deferral,
    DeferralKind,
    EarlyRepayment,
    IndemnityKind,
    Index,
    Loan,
    Periodicity,
    Profile,
    Rate,
    Structure,
    StructureKind,
)
from clocher.finance.engine.schedule import add_months

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class LineError:
    """Where a record could not be read (line of the CSV, n-th EMPRUNT of the XML) and why."""

    line: int
    reference: str
    message: str

    def __str__(self) -> str:
        where = f"ligne {self.line}"
        if self.reference:
            where += f" ({self.reference})"
        return f"{where} : {self.message}"


@dataclass(frozen=True, slots=True)
class TotemIssuer:
    """Whose document budgétaire a TOTEM file is, from its headers ("" when absent): the
    SIREN (first 9 digits of the SIRET in `EnTeteDocBudgetaire/IdColl`, else of the
    budget's `EnTeteBudget/IdEtab`), the INSEE code (`EnTeteBudget/CodInseeColl`) and the
    name (`LibelleColl`)."""

    siren: str = ""
    insee: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class LoanImport:
    """Loans read, errors per unreadable record, and notes on records deliberately skipped."""

    loans: list[Loan] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    skipped: list[LineError] = field(default_factory=list)  # e.g. loans guaranteed for others
    fatal: str = ""  # the whole file could not be read (not CSV/XML, no header…)
    issuer: TotemIssuer | None = None  # TOTEM only: the collectivité named in its headers

    @property
    def ok(self) -> bool:
        return not self.fatal and not self.errors


@dataclass(frozen=True, slots=True)
class IndexImport:
    histories: dict[Index, IndexHistory] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    fatal: str = ""


# --- shared readers -------------------------------------------------------------------

_SPACES = str.maketrans("", "", " \u00a0\u202f'")


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def header_key(header: str) -> str:
    """Header or code as a key: lower case, no accents, words joined by '_'."""
    return re.sub(r"[^a-z0-9/]+", "_", _strip_accents(header).lower()).strip("_")


def decimal_fr(text: str, what: str) -> Decimal:
    """'1 234,56' or '1234.56' → Decimal; ValueError naming `what` otherwise."""
    cleaned = text.strip().rstrip("%").translate(_SPACES).replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{what} « {text.strip()} » n'est pas un nombre") from None
    if not value.is_finite():
        raise ValueError(f"{what} « {text.strip()} » n'est pas un nombre")
    return value


def percent(text: str, what: str) -> Decimal:
    """A percentage as written ('3,25' or '3,25 %') → fraction (0.0325)."""
    return decimal_fr(text, what) / 100


def date_fr(text: str, what: str) -> date:
    """JJ/MM/AAAA, AAAA-MM-JJ or AAAA-MM (first of the month)."""
    value = text.strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%Y-%m", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    raise ValueError(f"{what} « {value} » n'est pas une date (JJ/MM/AAAA)")


def _integer(text: str, what: str) -> int:
    value = decimal_fr(text, what)
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"{what} « {text.strip()} » n'est pas un entier positif")
    return int(value)


_INDEX_NAMES = {
    "EURIBOR1M": Index.EURIBOR_1M,
    "EURIBOR1MOIS": Index.EURIBOR_1M,
    "E1M": Index.EURIBOR_1M,
    "EURIBOR3M": Index.EURIBOR_3M,
    "EURIBOR3MOIS": Index.EURIBOR_3M,
    "E3M": Index.EURIBOR_3M,
    "EURIBOR6M": Index.EURIBOR_6M,
    "EURIBOR6MOIS": Index.EURIBOR_6M,
    "E6M": Index.EURIBOR_6M,
    "EURIBOR12M": Index.EURIBOR_12M,
    "EURIBOR12MOIS": Index.EURIBOR_12M,
    "EURIBOR1AN": Index.EURIBOR_12M,
    "E12M": Index.EURIBOR_12M,
    "LIVRETA": Index.LIVRET_A,
    "LA": Index.LIVRET_A,
    "TAG": Index.TAG,
    "TAM": Index.TAM,
    "T4M": Index.T4M,
    "INFLATION": Index.INFLATION,
    "INFLATIONFRANCE": Index.INFLATION,
    "OATI": Index.INFLATION,
}
_FIXED_NAMES = {"", "FIXE", "TAUXFIXE", "F", "AUCUN"}


def parse_index_name(text: str) -> Index | None:
    """'Euribor 3 mois', 'EURIBOR_3M', 'Livret A'… → Index; '' or 'fixe' → None."""
    key = re.sub(r"[^A-Z0-9]", "", _strip_accents(text).upper())
    if key in _FIXED_NAMES:
        return None
    for prefix in ("TAG", "TAM", "T4M"):  # TAG 3 mois, TAM…: the family is what counts here
        if key.startswith(prefix) and key not in _INDEX_NAMES:
            return _INDEX_NAMES[prefix]
    try:
        return _INDEX_NAMES[key]
    except KeyError:
        raise ValueError(f"index « {text.strip()} » inconnu") from None


def _choice(table: dict[str, _T], text: str, what: str, default: _T) -> _T:
    key = header_key(text)
    if not key:
        return default
    try:
        return table[key]
    except KeyError:
        allowed = ", ".join(sorted({k for k in table if "_" in k or len(k) > 2}))
        raise ValueError(f"{what} « {text.strip()} » inconnu(e) (attendu : {allowed})") from None


_PERIODICITIES = {
    "mensuelle": Periodicity.MONTHLY,
    "m": Periodicity.MONTHLY,
    "trimestrielle": Periodicity.QUARTERLY,
    "t": Periodicity.QUARTERLY,
    "semestrielle": Periodicity.HALF_YEARLY,
    "s": Periodicity.HALF_YEARLY,
    "annuelle": Periodicity.YEARLY,
    "a": Periodicity.YEARLY,
}
_PROFILES = {
    "annuite_constante": Profile.ANNUITY,
    "echeance_constante": Profile.ANNUITY,
    "echeances_constantes": Profile.ANNUITY,
    "amortissement_constant": Profile.CONSTANT_CAPITAL,
    "capital_constant": Profile.CONSTANT_CAPITAL,
    "in_fine": Profile.IN_FINE,
    "progressif": Profile.PROGRESSIVE,
    "echeances_progressives": Profile.PROGRESSIVE,
    "personnalise": Profile.CUSTOM,
}
_DAY_COUNTS = {
    "30/360": DayCount.THIRTY_360,
    "exact/360": DayCount.ACT_360,
    "act/360": DayCount.ACT_360,
    "exact/365": DayCount.ACT_365,
    "act/365": DayCount.ACT_365,
}
_DEFERRALS = {"partiel": DeferralKind.INTEREST_ONLY, "total": DeferralKind.TOTAL}
_INDEMNITIES = {
    "sans": IndemnityKind.NONE,
    "aucune": IndemnityKind.NONE,
    "pourcentage": IndemnityKind.PERCENT,
    "mois_interets": IndemnityKind.MONTHS_OF_INTEREST,
    "mois_d_interets": IndemnityKind.MONTHS_OF_INTEREST,
    "actuarielle": IndemnityKind.ACTUARIAL,
}
_STRUCTURES = {k.value: k for k in StructureKind}


def decode_text(data: bytes | str) -> str:
    """Bytes of a file as text: UTF-8 (with or without BOM), else Windows-1252 (what
    spreadsheets export in France), else Latin-1 (never fails)."""
    if isinstance(data, str):
        return data
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


# --- CSV loan book ----------------------------------------------------------------------

LOAN_CSV_COLUMNS = (
    "reference",
    "preteur",
    "objet",
    "nominal",
    "date_debut",
    "nombre_echeances",
    "periodicite",
    "profil",
    "base",
    "index",
    "taux",
    "marge",
    "plancher",
    "plafond",
    "progressivite",
    "differe",
    "type_differe",
    "indemnite",
    "indemnite_valeur",
    "structure",
    "gissler",
    "tableau_capital",
)
LOAN_CSV_REQUIRED = ("reference", "nominal", "date_debut", "nombre_echeances")


def parse_loan_csv(data: bytes | str) -> LoanImport:
    """The CSV loan book: `;`-separated, decimal comma, French headers (docs/finance.md)."""
    text = decode_text(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return LoanImport(fatal="fichier vide : la première ligne doit porter les en-têtes")
    names = [header_key(h) for h in header]
    missing = [c for c in LOAN_CSV_REQUIRED if c not in names]
    if missing:
        return LoanImport(
            fatal="colonnes obligatoires absentes : " + ", ".join(missing) + " (séparateur « ; »)"
        )
    unknown = [h for h, n in zip(header, names, strict=True) if n and n not in LOAN_CSV_COLUMNS]
    if unknown:
        return LoanImport(fatal="colonnes inconnues : " + ", ".join(unknown))
    result = LoanImport()
    seen: set[str] = set()
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line += 1
            result.errors.append(LineError(line, "", f"ligne CSV illisible ({exc})"))
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        row = {n: (cells[i].strip() if i < len(cells) else "") for i, n in enumerate(names)}
        reference = row.get("reference", "")
        try:
            if reference in seen:
                raise ValueError("référence en double dans le fichier")
            loan = loan_from_row(row)
        except ValueError as exc:
            result.errors.append(LineError(line, reference, str(exc)))
            continue
        seen.add(reference)
        result.loans.append(loan)
    return result


def loan_from_row(row: Mapping[str, str]) -> Loan:
    """One CSV row (keys as in LOAN_CSV_COLUMNS) → Loan; ValueError naming the column."""
    get = row.get
    reference = get("reference", "")
    if not reference:
        raise ValueError("référence absente")
    nominal = decimal_fr(get("nominal", ""), "nominal")
    index = parse_index_name(get("index", ""))
    if index is None:
        if not get("taux"):
            raise ValueError("taux fixe absent (colonne taux)")
        value = percent(get("taux", ""), "taux")
    else:
        value = percent(get("marge") or "0", "marge")
    rate = Rate(
        value=value,
        index=index,
        floor=percent(get("plancher", ""), "plancher") if get("plancher") else None,
        cap=percent(get("plafond", ""), "plafond") if get("plafond") else None,
    )
    profile = _choice(_PROFILES, get("profil", ""), "profil", Profile.ANNUITY)
    structure = None
    if get("structure"):
        structure = Structure(
            _choice(_STRUCTURES, get("structure", ""), "structure", StructureKind.OTHER)
        )
    indemnity = _choice(_INDEMNITIES, get("indemnite", ""), "indemnité", IndemnityKind.NONE)
    amount = get("indemnite_valeur", "")
    early = EarlyRepayment(
        kind=indemnity,
        value=percent(amount, "indemnite_valeur")
        if amount and indemnity is IndemnityKind.PERCENT
        else ZERO,
        months=_integer(amount, "indemnite_valeur")
        if amount and indemnity is IndemnityKind.MONTHS_OF_INTEREST
        else 0,
    )
    table: tuple[Decimal, ...] = ()
    if get("tableau_capital"):
        table = tuple(
            decimal_fr(v, "tableau_capital") for v in get("tableau_capital", "").split("|")
        )
    gissler = get("gissler", "").upper() or None
    return Loan(
        reference=reference,
        nominal=nominal,
        start=date_fr(get("date_debut", ""), "date_debut"),
        periods=_integer(get("nombre_echeances", ""), "nombre_echeances"),
        rate=rate,
        periodicity=_choice(
            _PERIODICITIES, get("periodicite", ""), "périodicité", Periodicity.QUARTERLY
        ),
        profile=profile,
        day_count=_choice(_DAY_COUNTS, get("base", ""), "base", DayCount.THIRTY_360),
        growth=percent(get("progressivite") or "0", "progressivite"),
        capital_table=table,
        deferral=Deferral(
            periods=_integer(get("differe") or "0", "differe"),
            kind=_choice(
                _DEFERRALS, get("type_differe", ""), "type_differe", DeferralKind.INTEREST_ONLY
            ),
        ),
        early_repayment=early,
        structure=structure,
        gissler=gissler,
        lender=get("preteur", ""),
        label=get("objet", ""),
    )


# --- TOTEM ------------------------------------------------------------------------------

TOTEM_NAMESPACE = "http://www.minefi.gouv.fr/cp/demat/docbudgetaire"
_TOTEM_PERIODS = {
    "M": Periodicity.MONTHLY,
    "T": Periodicity.QUARTERLY,
    "S": Periodicity.HALF_YEARLY,
    "A": Periodicity.YEARLY,
}
_TOTEM_PROFILES = {
    "C": Profile.ANNUITY,
    "F": Profile.IN_FINE,
    "M": Profile.ANNUITY,
    "S": Profile.ANNUITY,
}
_TOTEM_VARIABLE = {"V", "I", "P", "A"}  # variable, indexé, préfixé, postfixé
_TOTEM_STRUCTURED = {"H", "O", "X"}  # avec tranches, avec options, autre


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_totem(data: bytes) -> LoanImport:
    """The `EMPRUNT` elements of a TOTEM document budgétaire (annexe « état de la dette »)."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        return LoanImport(fatal=f"XML illisible : {exc}")
    if _local(root.tag) != "DocumentBudgetaire":
        return LoanImport(
            fatal=f"ce n'est pas un document budgétaire TOTEM (racine « {_local(root.tag)} »)"
        )
    result = LoanImport(issuer=totem_issuer(root))
    seen: set[str] = set()
    for number, element in enumerate(_totem_elements(root, "EMPRUNT"), start=1):
        fields = {_local(child.tag): (child.get("V") or "").strip() for child in element}
        reference = fields.get("NumContrat") or fields.get("ObjEmpr") or f"EMPRUNT n° {number}"
        line = element.sourceline or number
        if fields.get("CodTypEmpr") == "09" or fields.get("NomBenefEmprGaranti"):
            result.skipped.append(
                LineError(
                    line, reference, "emprunt garanti pour un tiers : hors de l'encours propre"
                )
            )
            continue
        try:
            if reference in seen:
                raise ValueError("NumContrat en double dans le document")
            loan = loan_from_totem(reference, fields)
        except ValueError as exc:
            result.errors.append(LineError(line, reference, str(exc)))
            continue
        seen.add(reference)
        result.loans.append(loan)
    if not result.loans and not result.errors and not result.skipped:
        return LoanImport(
            fatal="aucun élément EMPRUNT dans le document (annexe état de la dette absente)"
        )
    return result


def _totem_elements(root: etree._Element, name: str) -> Iterator[etree._Element]:
    return root.iter(f"{{{TOTEM_NAMESPACE}}}{name}", name)


def _totem_value(root: etree._Element, parent: str, name: str) -> str:
    """@V of the first `parent/name` element, "" when absent."""
    for header in _totem_elements(root, parent):
        for child in header:
            if _local(child.tag) == name and (child.get("V") or "").strip():
                return (child.get("V") or "").strip()
    return ""


def totem_issuer(root: etree._Element) -> TotemIssuer:
    """The collectivité a document budgétaire belongs to, read from its two headers."""
    siret = _totem_value(root, "EnTeteDocBudgetaire", "IdColl") or _totem_value(
        root, "EnTeteBudget", "IdEtab"
    )
    digits = re.sub(r"\D", "", siret)
    return TotemIssuer(
        siren=digits[:9] if len(digits) >= 9 else "",
        insee=_totem_value(root, "EnTeteBudget", "CodInseeColl"),
        name=_totem_value(root, "EnTeteDocBudgetaire", "LibelleColl"),
    )


def _totem_number(fields: Mapping[str, str], name: str) -> Decimal:
    if not fields.get(name):
        raise ValueError(f"{name} absent")
    return decimal_fr(fields[name], name)


def loan_from_totem(reference: str, fields: Mapping[str, str]) -> Loan:
    """One EMPRUNT's child elements (name → @V) → Loan; ValueError naming the element."""

    def current(name: str) -> str:  # the value at the vote's date when given, else the initial one
        return fields.get(f"{name}DtVote") or fields.get(name) or fields.get(f"{name}Init") or ""

    nominal = _totem_number(fields, "MtEmprOrig")
    code = fields.get("CodPeriodRembDtVote") or fields.get("CodPeriodRemb", "")
    if code not in _TOTEM_PERIODS:
        raise ValueError(f"CodPeriodRemb « {code} » non pris en charge (attendu M, T, S ou A)")
    periodicity = _TOTEM_PERIODS[code]
    years = _totem_number(fields, "DureeContratInit")
    periods = years * periodicity.value
    if periods != periods.to_integral_value() or periods <= 0:
        raise ValueError(
            f"DureeContratInit « {fields['DureeContratInit']} » "
            "ne fait pas un nombre entier d'échéances"
        )
    first_due = fields.get("Dt1RembInit")
    if first_due:
        due = date_fr(first_due, "Dt1RembInit")
        start = add_months(due, -periodicity.months)
    elif fields.get("DtEmission") or fields.get("DtSignInit"):
        start = date_fr(fields.get("DtEmission") or fields["DtSignInit"], "DtEmission")
    else:
        raise ValueError("date de départ absente (Dt1RembInit, DtEmission ou DtSignInit)")
    profile_code = current("CodProfilAmort") or "C"
    if profile_code == "P":
        raise ValueError(
            "profil progressif (CodProfilAmort P) : le taux de progressivité "
            "n'est pas dans TOTEM, à saisir"
        )
    profile = _TOTEM_PROFILES.get(profile_code, Profile.ANNUITY)
    number, letter = current("IndSousJacent"), current("Structure")
    gissler = f"{number}{letter}" if number and letter else None
    rate_type = current("CodTyptx")
    structure = None
    if rate_type == "F":
        rate = Rate(percent(fields.get("Txinit") or fields.get("TxActuaInit") or "", "Txinit"))
    elif rate_type in _TOTEM_VARIABLE:
        index = parse_index_name(current("IndexTxVari"))
        if index is None:
            raise ValueError("IndexTxVariInit absent pour un taux variable")
        margin_text = fields.get("TxMargeInit") or _margin_from(fields.get("TxMini", ""))
        if not margin_text:
            raise ValueError("marge absente (TxMargeInit, ou TxMini de la forme « INDEX + marge »)")
        rate = Rate(percent(margin_text, "TxMargeInit"), index=index)
    elif rate_type in _TOTEM_STRUCTURED:
        if gissler is None:
            raise ValueError("taux structuré sans classe Gissler (IndSousJacent et Structure)")
        structure = Structure(StructureKind.OTHER, description=f"CodTyptx {rate_type}")
        rate = Rate(percent(fields.get("TxActua") or fields.get("Txinit") or "", "TxActua"))
    else:
        raise ValueError(f"CodTyptxInit « {rate_type} » inconnu (attendu F, V, I, P, A, H, O ou X)")
    if gissler is not None and gissler == "1A" and structure is not None:
        structure = None
    return Loan(
        reference=reference,
        nominal=nominal.quantize(CENT),
        start=start,
        periods=int(periods),
        rate=rate,
        periodicity=periodicity,
        profile=profile,
        structure=structure,
        gissler=gissler,
        lender=fields.get("LibOrgaPreteur", ""),
        label=fields.get("ObjEmpr", ""),
    )


def _margin_from(text: str) -> str:
    match = re.search(r"\+\s*([0-9]+(?:[.,][0-9]+)?)", text)
    return match.group(1) if match else ""


# --- index histories --------------------------------------------------------------------

_EMMI_TENORS = {
    "1m": Index.EURIBOR_1M,
    "3m": Index.EURIBOR_3M,
    "6m": Index.EURIBOR_6M,
    "12m": Index.EURIBOR_12M,
}
_MISSING = {"", "-", "na", "nan", "n/a", "nd"}


def parse_index_csv(data: bytes | str, index: Index | None = None) -> IndexImport:
    """An index history: Banque de France (webstat) or EMMI (Euribor) CSV layout.

    A Banque de France export holds one series: `index` names it (required). An EMMI file
    holds one column per tenor (1M, 3M, 6M, 12M) and yields one history per Euribor.
    """
    try:
        return _parse_index_csv(decode_text(data), index)
    except csv.Error as exc:  # a field over csv's limit (128 KiB): not a CSV export
        return IndexImport(fatal=f"fichier CSV illisible ({exc})")


def _parse_index_csv(text: str, index: Index | None) -> IndexImport:
    lines = text.splitlines()
    first = lines[0] if lines else ""
    if header_key(first.split(",")[0]) == "date" and "," in first:
        return _parse_emmi(lines)
    if index is None:
        return IndexImport(fatal="fichier Banque de France : préciser l'index de la série")
    points: list[tuple[date, Decimal]] = []
    errors: list[LineError] = []
    started = False
    for number, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=";"), 1):
        if not row or not row[0].strip():
            continue
        try:
            when = date_fr(row[0], "date")
        except ValueError as exc:
            if started:
                errors.append(LineError(number, "", str(exc)))
            continue  # the series' title, code, unit… lines before the data
        started = True
        raw = row[1].strip() if len(row) > 1 else ""
        if raw.lower() in _MISSING:
            continue
        try:
            points.append((when, percent(raw, "valeur")))
        except ValueError as exc:
            errors.append(LineError(number, "", str(exc)))
    if not points:
        return IndexImport(errors=errors, fatal="aucune valeur datée dans le fichier")
    return IndexImport({index: IndexHistory.of(index, points)}, errors)


def _parse_emmi(lines: list[str]) -> IndexImport:
    reader = csv.reader(lines, delimiter=",")
    header = [header_key(h) for h in next(reader)]
    columns = {i: _EMMI_TENORS[h] for i, h in enumerate(header) if h in _EMMI_TENORS}
    if not columns:
        return IndexImport(fatal="fichier EMMI sans colonne 1M, 3M, 6M ou 12M")
    points: dict[Index, list[tuple[date, Decimal]]] = {ix: [] for ix in columns.values()}
    errors: list[LineError] = []
    for number, row in enumerate(reader, start=2):
        if not row or not row[0].strip():
            continue
        try:
            when = date_fr(row[0], "Date")
            values = [
                (ix, percent(row[i], f"valeur {ix.value}"))
                for i, ix in columns.items()
                if i < len(row) and row[i].strip().lower() not in _MISSING
            ]
        except ValueError as exc:
            errors.append(LineError(number, "", str(exc)))
            continue
        for ix, value in values:
            points[ix].append((when, value))
    histories = {ix: IndexHistory.of(ix, pts) for ix, pts in points.items() if pts}
    if not histories:
        return IndexImport(errors=errors, fatal="aucune valeur datée dans le fichier")
    return IndexImport(histories, errors)
