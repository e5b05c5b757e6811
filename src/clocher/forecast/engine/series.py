"""A time series as the engine sees it, and the reader of uploaded CSV/XLSX files.

Everything an agent may upload is checked here, once, so that the models only ever see a
regular series: sorted dates at a known frequency, no gap, no duplicate, float values.
A refusal is a `SeriesError` whose French message names the line and what is wrong;
nothing is filled in silently (a gap is reported, never interpolated).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

FREQUENCIES = ("D", "W", "MS", "QS", "YS")
FREQUENCY_LABELS = {
    "D": "journalière",
    "W": "hebdomadaire",
    "MS": "mensuelle",
    "QS": "trimestrielle",
    "YS": "annuelle",
}
# Periods in one season: the week for daily data, the year otherwise.
SEASON_LENGTH = {"D": 7, "W": 52, "MS": 12, "QS": 4, "YS": 1}
MONTHS_PER_STEP = {"MS": 1, "QS": 3, "YS": 12}

MIN_POINTS = 6  # below this no backtest is possible: refused
MAX_BYTES = 5 * 1024 * 1024  # the same cap as a form upload (DATA_UPLOAD_MAX_MEMORY_SIZE)
MAX_ROWS = 20_000  # 55 years of daily data

DATE_HEADERS = {"date", "periode", "mois", "annee", "jour", "semaine", "trimestre", "ds"}
VALUE_HEADERS = {"valeur", "value", "montant", "quantite", "consommation", "volume", "y"}


class SeriesError(ValueError):
    """An upload or a series the engine refuses; the message is French and names the line."""


@dataclass(frozen=True)
class Series:
    """A regular series: `dates[i]` is the start of period i at frequency `freq`.

    `regressors` hold one value per date; `future_regressors` the same names for the
    periods after the last date (as many as known) — a regressor without future values
    cannot be used to forecast and is dropped with a warning by `run_forecast`.
    `warnings` carry what the reader fixed or noticed (rows sorted, decimal comma…).
    """

    dates: tuple[date, ...]
    values: FloatArray
    freq: str
    name: str = "valeur"
    regressors: dict[str, FloatArray] = field(default_factory=dict)
    future_regressors: dict[str, FloatArray] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def season_length(self) -> int:
        return SEASON_LENGTH[self.freq]

    def future_dates(self, horizon: int) -> list[date]:
        return [shift(self.dates[-1], self.freq, k) for k in range(1, horizon + 1)]

    @classmethod
    def build(
        cls,
        dates: list[date],
        values: list[float] | FloatArray,
        freq: str | None = None,
        *,
        name: str = "valeur",
        regressors: dict[str, list[float]] | None = None,
        future_regressors: dict[str, list[float]] | None = None,
    ) -> Series:
        """The entry point for other apps (energy, finance): checks like an upload does.

        Rows are sorted by date; duplicates, gaps, non-finite values and too short series
        are refused with a `SeriesError` (lines counted from 1 in the order given).
        """
        if len(dates) != len(values):
            raise SeriesError(f"{len(dates)} dates pour {len(values)} valeurs.")
        rows = [
            _Row(i + 1, d, float(v), {k: float(r[i]) for k, r in (regressors or {}).items()})
            for i, (d, v) in enumerate(zip(dates, values, strict=True))
        ]
        future = {k: np.asarray(v, dtype=float) for k, v in (future_regressors or {}).items()}
        return _assemble(rows, freq, name, future, "position")


@dataclass
class _Row:
    line: int
    day: date
    value: float
    regressors: dict[str, float]


def shift(day: date, freq: str, steps: int) -> date:
    """The start of the period `steps` periods after the one starting at `day`."""
    if freq == "D":
        return day + timedelta(days=steps)
    if freq == "W":
        return day + timedelta(weeks=steps)
    months = day.year * 12 + day.month - 1 + steps * MONTHS_PER_STEP[freq]
    return date(months // 12, months % 12 + 1, 1)


def period_end(day: date, freq: str) -> date:
    """The last day of the period starting at `day`."""
    return shift(day, freq, 1) - timedelta(days=1)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def detect_frequency(days: list[date]) -> str:
    """The most common spacing decides: 1 day, 7 days, 1, 3 or 12 months."""
    if len(days) < 2:
        raise SeriesError("Un seul point : impossible de reconnaître la fréquence.")
    day_steps = Counter((b - a).days for a, b in zip(days, days[1:], strict=False))
    step, _ = day_steps.most_common(1)[0]
    if step == 1:
        return "D"
    if step == 7:
        return "W"
    month_steps = Counter(
        _month_index(b) - _month_index(a) for a, b in zip(days, days[1:], strict=False)
    )
    months, _ = month_steps.most_common(1)[0]
    for freq, per in MONTHS_PER_STEP.items():
        if months == per:
            return freq
    raise SeriesError(
        f"Fréquence non reconnue : les dates sont le plus souvent espacées de {step} jours "
        "(attendu : jour, semaine, mois, trimestre ou année)."
    )


def _normalise(day: date, freq: str) -> date:
    """Monthly, quarterly and yearly dates are moved to the first day of their period."""
    if freq == "MS":
        return date(day.year, day.month, 1)
    if freq == "QS":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if freq == "YS":
        return date(day.year, 1, 1)
    return day


def _assemble(
    rows: list[_Row],
    freq: str | None,
    name: str,
    future: dict[str, FloatArray],
    where: str,
) -> Series:
    """Sort, detect/check the frequency, refuse duplicates and gaps, build the Series."""
    if not rows:
        raise SeriesError("Aucune donnée : le fichier ne contient aucune ligne de valeurs.")
    if len(rows) == 1:
        raise SeriesError(
            f"Un seul point ({where} {rows[0].line}) : il en faut au moins {MIN_POINTS} "
            "pour prévoir."
        )
    warnings: list[str] = []
    for row in rows:
        if not np.isfinite(row.value):
            raise SeriesError(f"{where.capitalize()} {row.line} : valeur non finie ({row.value}).")
    if any(b.day < a.day for a, b in zip(rows, rows[1:], strict=False)):
        rows = sorted(rows, key=lambda r: r.day)
        warnings.append("Les lignes n'étaient pas dans l'ordre des dates : elles ont été triées.")
    if freq is None:
        freq = detect_frequency([r.day for r in rows])
    elif freq not in FREQUENCIES:
        raise SeriesError(f"Fréquence inconnue : {freq} (attendu : {', '.join(FREQUENCIES)}).")
    if freq in MONTHS_PER_STEP:
        for row in rows:
            row.day = _normalise(row.day, freq)
    seen: dict[date, int] = {}
    for row in rows:
        if row.day in seen:
            raise SeriesError(
                f"Date en double : {row.day:%d/%m/%Y} ({where}s {seen[row.day]} et {row.line})."
            )
        seen[row.day] = row.line
    _check_spacing(rows, freq, where)
    if len(rows) < MIN_POINTS:
        raise SeriesError(
            f"Trop peu de points : {len(rows)} ; il en faut au moins {MIN_POINTS} pour "
            "tester un modèle avant de prévoir."
        )
    names = list(rows[0].regressors)
    regressors = {k: np.array([r.regressors[k] for r in rows], dtype=float) for k in names}
    return Series(
        dates=tuple(r.day for r in rows),
        values=np.array([r.value for r in rows], dtype=float),
        freq=freq,
        name=name,
        regressors=regressors,
        future_regressors={k: v for k, v in future.items() if k in regressors},
        warnings=tuple(warnings),
    )


def _check_spacing(rows: list[_Row], freq: str, where: str) -> None:
    for a, b in zip(rows, rows[1:], strict=False):
        expected = shift(a.day, freq, 1)
        if b.day == expected:
            continue
        missing: list[date] = []
        day = expected
        while day < b.day and len(missing) <= MAX_ROWS:
            missing.append(day)
            day = shift(day, freq, 1)
        if day != b.day:
            raise SeriesError(
                f"{where.capitalize()} {b.line} : la date {b.day:%d/%m/%Y} ne tombe pas sur le "
                f"pas {FREQUENCY_LABELS[freq]} de la série (précédente : {a.day:%d/%m/%Y})."
            )
        shown = ", ".join(f"{d:%d/%m/%Y}" for d in missing[:5])
        more = f" et {len(missing) - 5} autres" if len(missing) > 5 else ""
        raise SeriesError(
            f"Trou dans la série entre les {where}s {a.line} et {b.line} : "
            f"{len(missing)} période(s) manquante(s) ({shown}{more}). "
            "Complétez les valeurs manquantes ; aucune n'est inventée."
        )


# --- reading uploads ------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%m/%Y", "%Y-%m")
_YEAR = re.compile(r"^\d{4}$")
_QUARTER = re.compile(r"^(?:T|Q)([1-4])[ -/]?(\d{4})$|^(\d{4})[ -/]?(?:T|Q)([1-4])$", re.I)


def parse_date(text: str) -> date | None:
    """ISO, French (JJ/MM/AAAA), month (MM/AAAA, AAAA-MM), year (AAAA), quarter (T1 2024)."""
    text = text.strip()
    if not text:
        return None
    if _YEAR.match(text):
        return date(int(text), 1, 1)
    quarter = _QUARTER.match(text)
    if quarter:
        q, year = (quarter.group(1), quarter.group(2)) if quarter.group(1) else quarter.group(4, 3)
        return date(int(year), (int(q) - 1) * 3 + 1, 1)
    candidate = text.split(" ")[0].split("T")[0] if len(text) > 10 else text
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(candidate, fmt).date()  # noqa: DTZ007 — a calendar date
        except ValueError:
            continue
    return None


def parse_number(text: str) -> float | None:
    """French or English notation: « 1 234,5 », « 1.234,5 », « 1,234.5 », « 12,5 »."""
    text = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if not text:
        return None
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    else:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        raise SeriesError("") from None
    if not np.isfinite(value):
        raise SeriesError("")
    return value


def _plain(header: str) -> str:
    text = unicodedata.normalize("NFKD", header.strip().lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _csv_rows(data: bytes) -> list[list[str]]:
    text = _decode(data)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SeriesError("Le fichier est vide.")
    head = lines[0]
    delimiter = ";" if ";" in head else "\t" if "\t" in head else ","
    try:
        return [
            [cell.strip() for cell in row]
            for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
        ]
    except csv.Error as exc:  # a field over csv's limit (128 KiB): not a CSV series
        raise SeriesError(f"Fichier CSV illisible ({exc}).") from exc


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SeriesError(
            "Classeur XLSX illisible : le fichier est tronqué ou n'est pas un vrai XLSX."
        ) from exc
    sheet = book.worksheets[0]
    rows: list[list[str]] = []
    for values in sheet.iter_rows(values_only=True):
        cells = ["" if v is None else _cell_text(v) for v in values]
        if any(cells):
            rows.append(cells)
        if len(rows) > MAX_ROWS + 1:
            break
    book.close()
    if not rows:
        raise SeriesError("Le classeur est vide (première feuille).")
    return rows


def _cell_text(value: object) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def read_series(data: bytes, filename: str, freq: str | None = None) -> Series:
    """Read an uploaded CSV or XLSX: a date column, a value column, optional regressors.

    Headers are recognised in French (date/période/mois…, valeur/montant…), otherwise the
    first two columns are the date and the value; further columns are regressors. Rows
    after the last value that carry regressor values only are the regressors' future.
    """
    if not data.strip():
        raise SeriesError("Le fichier est vide.")
    if len(data) > MAX_BYTES:
        raise SeriesError(
            f"Fichier trop gros : {len(data) / 1e6:.1f} Mo (au plus {MAX_BYTES / 1e6:.0f} Mo)."
        )
    is_xlsx = filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04"
    table = _xlsx_rows(data) if is_xlsx else _csv_rows(data)
    if len(table) > MAX_ROWS + 1:
        raise SeriesError(f"Trop de lignes : au plus {MAX_ROWS} valeurs par série.")
    header, first_line = table[0], 1
    if parse_date(header[0]) is not None:
        header = ["date", "valeur"] + [f"regresseur_{i}" for i in range(1, len(header) - 1)]
        body = table
    else:
        body, first_line = table[1:], 2
    if len(header) < 2:
        raise SeriesError(
            "Ligne 1 : il faut au moins deux colonnes (date et valeur), séparées par « ; » "
            "ou « , »."
        )
    plain = [_plain(h) for h in header]
    date_col = next((i for i, h in enumerate(plain) if h in DATE_HEADERS), 0)
    value_col = next(
        (i for i, h in enumerate(plain) if h in VALUE_HEADERS and i != date_col),
        1 if date_col == 0 else 0,
    )
    extra = [i for i in range(len(header)) if i not in (date_col, value_col)]
    rows: list[_Row] = []
    future: dict[str, list[float]] = {header[i]: [] for i in extra}
    for offset, cells in enumerate(body):
        line = first_line + offset
        if len(cells) <= max(date_col, value_col):
            raise SeriesError(
                f"Ligne {line} : {len(cells)} colonne(s) au lieu de {len(header)} "
                "(fichier tronqué ?)."
            )
        day = parse_date(cells[date_col])
        if day is None:
            raise SeriesError(f"Ligne {line} : date illisible « {cells[date_col][:40]} ».")
        value = _number(cells[value_col], line, header[value_col])
        regs = {
            header[i]: _number(cells[i] if i < len(cells) else "", line, header[i]) for i in extra
        }
        if value is None:
            if extra and all(v is not None for v in regs.values()):
                for name, reg in regs.items():
                    future[name].append(float(reg))  # type: ignore[arg-type]
                continue
            raise SeriesError(f"Ligne {line} : valeur manquante pour le {day:%d/%m/%Y}.")
        if any(future.values()):
            raise SeriesError(
                f"Ligne {line} : une valeur après des lignes sans valeur ; seules les "
                "dernières lignes peuvent être sans valeur (valeurs futures des régresseurs)."
            )
        missing = [name for name, reg in regs.items() if reg is None]
        if missing:
            raise SeriesError(f"Ligne {line} : valeur manquante pour « {missing[0]} ».")
        rows.append(_Row(line, day, value, {k: float(v) for k, v in regs.items() if v is not None}))
    future_arrays = {k: np.array(v, dtype=float) for k, v in future.items() if v}
    return _assemble(rows, freq, header[value_col] or "valeur", future_arrays, "ligne")


def _number(text: str, line: int, column: str) -> float | None:
    try:
        return parse_number(text)
    except SeriesError:
        raise SeriesError(
            f"Ligne {line} : « {text[:40]} » n'est pas un nombre (colonne « {column} »)."
        ) from None
