"""Enedis load curves, daily/monthly indexes and invoices → numpy arrays + a report.

Layouts read (docs/energy.md): the "mes données" export (a few metadata lines, then
`Horodate;Valeur`, ISO times with offset) and the SGE/entreprise export (one row per
measure, `…;Horodate;Valeur;Nature;Pas;…`, local times without offset, `Pas` = PT10M,
PT30M, PT60M). Enedis stamps each value at the END of its interval, in W (mean power).

Speed: the rows are split and parsed with numpy on the raw bytes (separator and newline
positions, fixed-position date digits, a vectorised number parser); only the rejected
lines go through Python, to word their message.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np

from clocher.energy.engine._timeutil import (
    DAY,
    days_from_civil,
    days_in_month,
    local_days_paris,
    paris_local_kind,
)
from clocher.energy.engine.errors import EnergyInputError, LineIssue

__all__ = [
    "EnergyInputError",
    "LineIssue",
    "LoadCurve",
    "Period",
    "PeriodReport",
    "parse_index_csv",
    "parse_invoices_csv",
    "parse_load_curve",
]

ALLOWED_STEPS_S = (300, 600, 900, 1800, 3600)
MAX_LINE_ISSUES = 500  # beyond, one summary line: the report stays readable
_UNIT_WH_FACTOR = {"w": None, "wh": 1.0, "kw": None, "kwh": 1000.0}


@dataclass
class LoadCurve:
    """A meter's load curve, one row per measured interval, sorted by start.

    start: int64 UTC epoch seconds at the start of each interval (Enedis stamps the
    end; the parser subtracts the step). step: int64 seconds (600, 1800, 3600 …).
    wh: float64 energy of the interval in Wh (mean power in W × step).
    gaps: (start, end) UTC epoch pairs where no interval was measured.
    """

    start: np.ndarray
    step: np.ndarray
    wh: np.ndarray
    gaps: list[tuple[int, int]] = field(default_factory=list)
    issues: list[LineIssue] = field(default_factory=list)
    prm: str = ""
    rows_read: int = 0

    @property
    def power_w(self) -> np.ndarray:
        """Mean power of each interval in W."""
        return self.wh * 3600.0 / self.step

    def resample(self, step_s: int) -> tuple[np.ndarray, np.ndarray]:
        """(bucket starts, kWh per bucket) on a fixed UTC grid of `step_s` seconds.

        An interval longer than the bucket is spread evenly over the buckets it covers;
        a missing interval leaves its bucket short (NaN where nothing was measured).
        """
        start, wh, step = self.start, self.wh, self.step
        long = step > step_s
        if long.any():
            reps = np.where(long, step // step_s, 1)
            offs = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
            start = np.repeat(start, reps) + offs * step_s
            wh = np.repeat(wh / reps, reps)
        if start.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        bucket = start // step_s
        first = int(bucket[0])
        idx = bucket - first
        kwh = np.bincount(idx, weights=wh, minlength=int(idx[-1]) + 1) / 1000.0
        seen = np.bincount(idx, minlength=kwh.size) > 0
        kwh[~seen] = np.nan
        return (first + np.arange(kwh.size)) * step_s, kwh

    def daily_kwh(self, min_coverage: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """(local days as datetime64[D], kWh per day), days in Europe/Paris time.

        Days run contiguously from the first to the last; a day whose measured time is
        under `min_coverage` of its length (23, 24 or 25 h) is NaN, as CalTRACK asks.
        """
        if self.start.size == 0:
            return np.zeros(0, dtype="datetime64[D]"), np.zeros(0)
        day = local_days_paris(self.start)
        first = int(day[0])
        idx = day - first
        n = int(idx[-1]) + 1
        kwh = np.bincount(idx, weights=self.wh, minlength=n) / 1000.0
        covered = np.bincount(idx, weights=self.step, minlength=n)
        days = np.arange(first, first + n)
        length = _local_day_length(days)
        kwh[covered < min_coverage * length] = np.nan
        return days.astype("datetime64[D]"), kwh


def _local_day_length(days: np.ndarray) -> np.ndarray:
    """Seconds in each Europe/Paris local day (82,800 / 86,400 / 90,000)."""
    # Midnight local → UTC: subtract the offset in force at local midnight (never ambiguous).
    mid = days * DAY
    off = np.where(paris_local_kind(mid) == 1, 7200, 3600)
    nxt = mid + DAY
    off_n = np.where(paris_local_kind(nxt) == 1, 7200, 3600)
    return (nxt - off_n) - (mid - off)


def _read_bytes(data: bytes | str | Path) -> bytes:
    if isinstance(data, Path):
        raw = data.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    elif isinstance(data, str):
        raw = data.encode("utf-8")
    else:
        raw = bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return raw


def _fold(text: bytes) -> str:
    """Lower-case, accent-free, latin-1/utf-8 tolerant: to compare column names."""
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        s = text.decode("latin-1")
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return s.strip().strip('"').strip().lower()


def _detect_sep(header: bytes) -> bytes:
    for sep in (b";", b"\t", b","):
        if sep in header:
            return sep
    return b";"


def _gather(buf: np.ndarray, start: np.ndarray, end: np.ndarray, width: int) -> np.ndarray:
    """(width, n) bytes of each field [start, end), one row per position, zero-padded.

    Column-major so that each position is a contiguous row; only as many positions as
    the longest field are read from the buffer (the rest stay zero).
    """
    n = start.size
    out = np.zeros((width, n), dtype=np.uint8)
    if n == 0:
        return out
    length = end - start
    w = int(min(width, length.max()))
    if w <= 0:
        return out
    # int32 positions when they fit: half the memory traffic of the (w, n) index
    itype: type[np.signedinteger] = np.int32 if buf.size < 2**31 - width else np.int64
    idx: np.ndarray = start.astype(itype)[None, :] + np.arange(w, dtype=itype)[:, None]
    if int(start.max()) + w > buf.size:
        np.minimum(idx, buf.size - 1, out=idx)
    out[:w] = buf[idx]
    if int(length.min()) < w:
        out[:w][np.arange(w)[:, None] >= length[None, :]] = 0
    return out


def _parse_numbers(f: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised decimal parser: (values, ok). Accepts -, digits, one '.' or ','.

    One pass per character position (a handful), each over all rows: the digits are
    accumulated as an exact integer, then divided by 10^(digits after the separator).
    """
    width, n = f.shape
    ok = (length > 0) & (length <= width)
    v = np.zeros(n)
    frac = np.zeros(n, dtype=np.int64)
    seen_dot = np.zeros(n, dtype=bool)
    any_dig = np.zeros(n, dtype=bool)
    neg = f[0] == 45 if width else np.zeros(n, dtype=bool)
    for j in range(min(width, int(length.max()) if n else 0)):
        c = f[j]
        inside = j < length
        dig = (c >= 48) & (c <= 57) & inside
        dot = ((c == 46) | (c == 44)) & inside
        ok &= ~inside | dig | dot | (neg if j == 0 else False)
        ok &= ~(dot & seen_dot)
        v = np.where(dig, v * 10.0 + (c.astype(np.int64) - 48), v)
        frac += dig & seen_dot
        seen_dot |= dot
        any_dig |= dig
    val = v / np.power(10.0, frac)
    return np.where(neg, -val, val), ok & any_dig


def _parse_steps(f: np.ndarray, length: np.ndarray) -> np.ndarray:
    """`PT10M`, `PT1H`, `30` (minutes) → seconds; 0 when empty; -1 when unreadable."""
    n = f.shape[1]
    num = np.zeros(n, dtype=np.int64)
    ndig = np.zeros(n, dtype=np.int64)
    hours = np.zeros(n, dtype=bool)
    for j in range(f.shape[0]):
        c = f[j]
        dig = (c >= 48) & (c <= 57)
        # digits are contiguous in these forms
        num = np.where(dig, num * 10 + (c.astype(np.int64) - 48), num)
        ndig += dig
        hours |= c == ord("H")
    sec = np.where(hours, num * 3600, num * 60)
    sec = np.where(length == 0, 0, np.where(ndig == 0, -1, sec))
    return np.where(np.isin(sec, (0, *ALLOWED_STEPS_S)), sec, -1)


def _parse_times(f: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(naive seconds, UTC offset seconds or -1 if absent, ok) for ISO or French stamps."""
    n = f.shape[1]
    iso = f[4] == ord("-")
    fr = f[2] == ord("/")

    def num(cols: list[int]) -> np.ndarray:
        v = f[cols[0]].astype(np.int64) - 48
        for c in cols[1:]:
            v *= 10
            v += f[c]
            v -= 48
        return v

    def digits(cols: list[int]) -> np.ndarray:
        ok = np.ones(n, dtype=bool)
        for c in cols:
            ok &= (f[c] >= 48) & (f[c] <= 57)
        return ok

    if iso.all():
        y, mo, dd = num([0, 1, 2, 3]), num([5, 6]), num([8, 9])
        date_digits = digits([0, 1, 2, 3, 5, 6, 8, 9])
    else:
        y = np.where(iso, num([0, 1, 2, 3]), num([6, 7, 8, 9]))
        mo = np.where(iso, num([5, 6]), num([3, 4]))
        dd = np.where(iso, num([8, 9]), num([0, 1]))
        date_digits = np.where(
            iso, digits([0, 1, 2, 3, 5, 6, 8, 9]), digits([6, 7, 8, 9, 3, 4, 0, 1])
        )
    h, mi = num([11, 12]), num([14, 15])
    has_s = length >= 19
    s = np.where(has_s, num([17, 18]), 0)
    ok = (
        (iso | fr)
        & date_digits
        & digits([11, 12, 14, 15])
        & ((f[10] == ord(" ")) | (f[10] == ord("T")))
        & (f[13] == ord(":"))
        & (~has_s | ((f[16] == ord(":")) & digits([17, 18])))
        & ((length == 16) | (length == 19) | (length == 20) | (length == 25))
        & (mo >= 1)
        & (mo <= 12)
        & (dd >= 1)
        & (dd <= days_in_month(y, mo))
        & (h < 24)
        & (mi < 60)
        & (s < 60)
    )
    naive = days_from_civil(y, mo, dd) * DAY + h * 3600 + mi * 60 + s
    off = np.full(n, -1, dtype=np.int64)
    zulu = (length == 20) & (f[19] == ord("Z"))
    off[zulu] = 0
    with_off = length == 25
    if with_off.any():
        sign = np.where(f[19] == ord("-"), -1, 1)
        ok_off = (
            ((f[19] == ord("+")) | (f[19] == ord("-")))
            & digits([20, 21, 23, 24])
            & (f[22] == ord(":"))
        )
        off = np.where(with_off, sign * (num([20, 21]) * 3600 + num([23, 24]) * 60), off)
        ok &= ~with_off | ok_off
    ok &= (length != 20) | zulu
    return naive, off, ok


def parse_load_curve(data: bytes | str | Path, *, unit: str | None = None) -> LoadCurve:
    """Parse an Enedis load-curve export; raise `EnergyInputError` if nothing is usable.

    Ambiguous local times (the repeated hour of the last Sunday of October) without an
    offset follow the fold rule: the first occurrence in the file is summer time
    (UTC+2), the second winter time (UTC+1). Duplicated instants keep the first row.
    """
    raw = _read_bytes(data)
    head_end = 0
    header = b""
    header_line = 0
    for lineno, line in enumerate(raw[:65536].split(b"\n"), start=1):
        if b"horodate" in line.lower():
            header, header_line = line, lineno
            break
        head_end += len(line) + 1
    if not header:
        raise EnergyInputError(
            "Aucune ligne d'en-tête contenant « Horodate » : ce fichier n'est pas une "
            "courbe de charge Enedis (colonnes attendues : Horodate;Valeur;Pas)."
        )
    issues: list[LineIssue] = []
    sep = _detect_sep(header)
    if sep != b";":
        issues.append(
            LineIssue(
                header_line,
                "separateur",
                f"séparateur « {sep.decode()!s} » au lieu de « ; » : lu tel quel",
                "avertissement",
            )
        )
    cols = [_fold(c) for c in header.split(sep)]
    try:
        i_t = cols.index("horodate")
        i_v = cols.index("valeur")
    except ValueError:
        raise EnergyInputError(
            f"ligne {header_line} : colonnes « Horodate » et « Valeur » attendues, "
            f"trouvé : {', '.join(cols)}"
        ) from None
    i_p = cols.index("pas") if "pas" in cols else None
    i_u = next((i for i, c in enumerate(cols) if c.startswith("unit")), None)
    preamble = raw[:head_end]
    prm_match = re.search(rb"\b(\d{14})\b", preamble + raw[head_end : head_end + 4096])
    prm = prm_match.group(1).decode() if prm_match else ""

    body_off = head_end + len(header) + 1
    buf = np.frombuffer(raw, dtype=np.uint8)[body_off:]
    if buf.size and buf[-1] != 10:
        buf = np.concatenate([buf, np.array([10], dtype=np.uint8)])
    nl = np.flatnonzero(buf == 10)
    line_start = np.concatenate([[0], nl[:-1] + 1]).astype(np.int64)
    line_end = nl.astype(np.int64)
    n_lines = nl.size
    line_no = header_line + 1 + np.arange(n_lines)
    blank = line_end == line_start
    k = len(cols) - 1
    sp = np.flatnonzero(buf == sep[0])
    # separators before each line's end, then per line: two binary searches per line
    before_end = np.searchsorted(sp, nl)
    first = np.r_[0, before_end[:-1]].astype(np.int64)
    nsep = before_end - first
    regular = ~blank & (nsep == k)
    rl = np.flatnonzero(regular)
    if k:
        seps = sp[np.minimum(first[rl][:, None] + np.arange(k), max(sp.size - 1, 0))]
    else:
        seps = np.zeros((rl.size, 0), dtype=np.int64)

    def bounds(col: int) -> tuple[np.ndarray, np.ndarray]:
        s = line_start[rl] if col == 0 else seps[:, col - 1] + 1
        e = seps[:, col] if col < k else line_end[rl]
        return s, e

    ts, te = bounds(i_t)
    naive, off, ok_t = _parse_times(_gather(buf, ts, te, 25), te - ts)
    vs, ve = bounds(i_v)
    val, ok_v = _parse_numbers(_gather(buf, vs, ve, 16), ve - vs)
    empty_v = ve == vs
    if i_p is not None:
        ps, pe = bounds(i_p)
        step = _parse_steps(_gather(buf, ps, pe, 8), pe - ps)
    else:
        step = np.zeros(rl.size, dtype=np.int64)
    kind = np.where(off >= 0, 0, paris_local_kind(naive))
    ok = ok_t & ok_v & (step >= 0) & (kind != 2)

    def text(i: int) -> str:
        return buf[line_start[i] : line_end[i]].tobytes().decode("utf-8", "replace")

    bad_lines = np.flatnonzero(~regular & ~blank)
    for i in bad_lines[:MAX_LINE_ISSUES]:
        issues.append(
            LineIssue(
                int(line_no[i]),
                "champs",
                f"{nsep[i] + 1} champ(s) au lieu de {k + 1} (séparateur « {sep.decode()} » "
                f"attendu) : « {text(i)[:60]} »",
            )
        )
    for j in np.flatnonzero(~ok)[:MAX_LINE_ISSUES]:
        i = rl[j]
        if not ok_t[j]:
            code, msg = "horodate", f"horodate illisible : « {text(i)[:60]} »"
        elif kind[j] == 2:
            code, msg = "horodate", "heure inexistante (passage à l'heure d'été)"
        elif empty_v[j]:
            code, msg = "valeur", "valeur absente : pas compté comme manquant"
        elif not ok_v[j]:
            code, msg = "valeur", f"valeur illisible : « {text(i)[:60]} »"
        else:
            code, msg = "pas", f"pas inconnu (PT10M, PT30M ou PT60M attendus) : « {text(i)[:60]} »"
        issues.append(LineIssue(int(line_no[i]), code, msg))
    n_bad = int((~ok).sum() + bad_lines.size)
    if n_bad > MAX_LINE_ISSUES:
        issues.append(LineIssue(0, "resume", f"{n_bad} lignes rejetées en tout"))

    keep = np.flatnonzero(ok)
    naive, off, kind, val, step = naive[keep], off[keep], kind[keep], val[keep], step[keep]
    src_line = line_no[rl[keep]]
    if keep.size == 0:
        first_msgs = "; ".join(f"ligne {x.line} : {x.message}" for x in issues[:3])
        raise EnergyInputError(f"Aucune ligne de mesure lisible. {first_msgs}")
    # Local time → UTC. Offsets in the stamp win; otherwise the Europe/Paris rules, and
    # for the repeated October hour the fold rule (first occurrence = summer time).
    local_off = np.where(kind == 1, 7200, 3600)
    amb = np.flatnonzero(kind == 3)
    if amb.size:
        seen: set[int] = set()
        for j in amb:
            t = int(naive[j])
            local_off[j] = 3600 if t in seen else 7200
            seen.add(t)
    end = naive - np.where(off >= 0, off, local_off)

    order = np.argsort(end, kind="stable")
    end, val, step, src_line = end[order], val[order], step[order], src_line[order]
    dup = np.flatnonzero(np.diff(end) == 0) + 1
    if dup.size:
        # the first of a run of equal instants is kept; point each duplicate to it
        first_of_run = np.maximum.accumulate(
            np.where(np.r_[True, np.diff(end) != 0], np.arange(end.size), 0)
        )
        for j in dup[:MAX_LINE_ISSUES]:
            f = first_of_run[j]
            same = val[j] == val[f]
            issues.append(
                LineIssue(
                    int(src_line[j]),
                    "doublon",
                    f"horodate déjà lue ligne {src_line[f]}"
                    + (
                        " (même valeur) : ignorée"
                        if same
                        else f" avec une autre valeur ({val[f]:g}) : ignorée"
                    ),
                    "avertissement" if same else "erreur",
                )
            )
        mask = np.ones(end.size, dtype=bool)
        mask[dup] = False
        end, val, step, src_line = end[mask], val[mask], step[mask], src_line[mask]

    missing_step = step == 0
    if missing_step.any():
        diffs = np.diff(end)
        common = np.bincount(
            np.searchsorted(ALLOWED_STEPS_S, diffs[np.isin(diffs, ALLOWED_STEPS_S)]),
            minlength=len(ALLOWED_STEPS_S),
        )
        mode = ALLOWED_STEPS_S[int(common.argmax())] if common.any() else 1800
        # Without a `Pas` column a row's step is the shorter of the distances to its
        # neighbours (a gap on one side does not stretch it), else the file's usual step.
        big = np.iinfo(np.int64).max
        prev = np.r_[big, diffs]
        nxt = np.r_[diffs, big]
        prev = np.where(np.isin(prev, ALLOWED_STEPS_S), prev, big)
        nxt = np.where(np.isin(nxt, ALLOWED_STEPS_S), nxt, big)
        inferred = np.minimum(prev, nxt)
        inferred = np.where(inferred == big, mode, inferred)
        step = np.where(missing_step, inferred, step)

    unit_name = _fold(unit.encode()) if unit else _unit_of(buf, rl, bounds, i_u, preamble, sep)
    if unit_name not in _UNIT_WH_FACTOR:
        raise EnergyInputError(f"unité « {unit_name} » inconnue : W, Wh, kW ou kWh attendue")
    if unit_name == "w":
        wh = val * step / 3600.0
    elif unit_name == "kw":
        wh = val * step / 3.6
    else:
        wh = val * float(_UNIT_WH_FACTOR[unit_name] or 1.0)
    start = end - step

    overlap = np.flatnonzero(start[1:] < end[:-1]) + 1
    for j in overlap[:MAX_LINE_ISSUES]:
        issues.append(
            LineIssue(
                int(src_line[j]),
                "chevauchement",
                "intervalle chevauchant le précédent (pas changé ?) : ignoré",
                "avertissement",
            )
        )
    if overlap.size:
        mask = np.ones(end.size, dtype=bool)
        mask[overlap] = False
        start, end, step, wh = start[mask], end[mask], step[mask], wh[mask]
    holes = np.flatnonzero(start[1:] > end[:-1])
    gaps = [(int(end[j]), int(start[j + 1])) for j in holes]
    for a, b in gaps[:MAX_LINE_ISSUES]:
        issues.append(
            LineIssue(
                0,
                "trou",
                f"mesures manquantes du {_utc_text(a)} au {_utc_text(b)} UTC ({(b - a) // 60} min)",
                "avertissement",
            )
        )
    return LoadCurve(
        start=start.astype(np.int64),
        step=step.astype(np.int64),
        wh=wh,
        gaps=gaps,
        issues=issues,
        prm=prm,
        rows_read=int(n_lines - blank.sum()),
    )


def _unit_of(buf, rl, bounds, i_u, preamble: bytes, sep: bytes) -> str:  # type: ignore[no-untyped-def]
    if i_u is not None and rl.size:
        s, e = bounds(i_u)
        return _fold(buf[s[0] : e[0]].tobytes())
    for line in preamble.split(b"\n"):
        for token in line.split(sep):
            folded = _fold(token)
            if folded in _UNIT_WH_FACTOR:
                return folded
    return "w"


def _utc_text(t: int) -> str:
    return str(np.datetime64(t, "s")).replace("T", " ")


@dataclass(frozen=True)
class Period:
    """Consumption over [start, end) local days, in kWh (plus the amount if invoiced)."""

    start: date
    end: date
    kwh: float
    amount_eur: float | None = None


@dataclass
class PeriodReport:
    periods: list[Period]
    issues: list[LineIssue] = field(default_factory=list)


def _rows(data: bytes | str | Path) -> tuple[list[str], list[list[str]], int]:
    """(folded header, rows, header line number) of a small `;` CSV (indexes, invoices)."""
    raw = _read_bytes(data)
    try:
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = raw.decode("latin-1").split("\n")
    for n, line in enumerate(lines, start=1):
        folded = _fold(line.encode())
        if "date" in folded or "debut" in folded:
            sep = _detect_sep(line.encode()).decode()
            header = [_fold(c.encode()) for c in line.split(sep)]
            rows = [r.split(sep) for r in lines[n:]]
            return header, rows, n
    raise EnergyInputError("Aucune ligne d'en-tête avec une colonne de date.")


def _col(header: list[str], *names: str) -> int | None:
    for name in names:
        for i, c in enumerate(header):
            if c == name or c.startswith(name + " ") or c.startswith(name + "("):
                return i
    return None


def _number(text: str) -> float:
    t = text.strip().strip('"').replace("\u202f", "").replace(" ", "")
    return float(t.replace(",", "."))


def _day(text: str) -> date:
    t = text.strip().strip('"')[:10]
    if "/" in t:
        return datetime.strptime(t, "%d/%m/%Y").date()  # noqa: DTZ007 — a calendar day
    return date.fromisoformat(t)


def _issue_row(n: int, exc: Exception, row: list[str]) -> LineIssue:
    return LineIssue(n, "ligne", f"ligne illisible ({exc}) : « {';'.join(row)[:60]} »")


def parse_index_csv(data: bytes | str | Path) -> PeriodReport:
    """Enedis/GRDF daily or monthly index readings → consumption between readings.

    Columns: a date (`Date`, `Date de relevé`, `Horodate`), an index (`Index`,
    `Valeur`; unit in the column name or an `Unité` column: Wh, kWh or m3) and, for gas
    in m3, a conversion coefficient (`Coefficient`, kWh/m3, GRDF's "coefficient de
    conversion"). A falling index (meter changed) breaks the series, reported.
    """
    header, rows, hline = _rows(data)
    i_d = _col(header, "date de releve", "date", "horodate")
    i_x = _col(header, "index", "valeur")
    if i_d is None or i_x is None:
        raise EnergyInputError(f"ligne {hline} : colonnes de date et d'index attendues")
    i_u = _col(header, "unite")
    i_k = _col(header, "coefficient de conversion", "coefficient")
    issues: list[LineIssue] = []
    readings: list[tuple[date, float, int]] = []
    for n, row in enumerate(rows, start=hline + 1):
        if not any(c.strip() for c in row):
            continue
        try:
            day, value = _day(row[i_d]), _number(row[i_x])
            unit = _fold(row[i_u].encode()) if i_u is not None else header[i_x]
            if "kwh" in unit:
                factor = 1.0
            elif "wh" in unit:
                factor = 0.001
            elif "m3" in unit:
                if i_k is None:
                    raise ValueError("index en m3 sans coefficient de conversion")
                factor = _number(row[i_k])
            else:
                factor = 1.0
        except (ValueError, IndexError) as exc:
            issues.append(_issue_row(n, exc, row))
            continue
        readings.append((day, value * factor, n))
    readings.sort(key=lambda r: r[0])
    periods: list[Period] = []
    for (d0, v0, _), (d1, v1, n1) in zip(readings, readings[1:], strict=False):
        if d1 == d0:
            issues.append(
                LineIssue(n1, "doublon", "relevé du même jour déjà lu : ignoré", "avertissement")
            )
        elif v1 < v0:
            issues.append(
                LineIssue(n1, "index", "index en baisse (compteur changé ?) : période ignorée")
            )
        else:
            periods.append(Period(d0, d1, v1 - v0))
    return PeriodReport(periods, issues)


def parse_invoices_csv(data: bytes | str | Path) -> PeriodReport:
    """Invoices CSV (`debut;fin;kwh[;montant]`) → one period per invoice line.

    `fin` is the last day invoiced (inclusive, as printed on an invoice); the period's
    end is the next day. An invoice overlapping another is reported, not summed twice.
    """
    header, rows, hline = _rows(data)
    i_s, i_e = _col(header, "debut", "date de debut"), _col(header, "fin", "date de fin")
    i_k = _col(header, "kwh", "consommation")
    i_m = _col(header, "montant", "montant_eur")
    if i_s is None or i_e is None or i_k is None:
        raise EnergyInputError(f"ligne {hline} : colonnes « debut ; fin ; kwh » attendues")
    issues: list[LineIssue] = []
    periods: list[Period] = []
    for n, row in enumerate(rows, start=hline + 1):
        if not any(c.strip() for c in row):
            continue
        try:
            start, last = _day(row[i_s]), _day(row[i_e])
            kwh = _number(row[i_k])
            amount = _number(row[i_m]) if i_m is not None and row[i_m].strip() else None
            if last < start:
                raise ValueError("fin avant début")
            if kwh < 0:
                raise ValueError("consommation négative")
        except (ValueError, IndexError) as exc:
            issues.append(_issue_row(n, exc, row))
            continue
        end = date.fromordinal(last.toordinal() + 1)
        if any(p.start < end and start < p.end for p in periods):
            issues.append(LineIssue(n, "chevauchement", "facture chevauchant une autre : ignorée"))
            continue
        periods.append(Period(start, end, kwh, amount))
    periods.sort(key=lambda p: p.start)
    return PeriodReport(periods, issues)
