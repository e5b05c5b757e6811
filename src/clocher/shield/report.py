"""The monthly report of blocked flows, per département or per commune.

Figures come from the boxes' events only: flows are the `drops` events' counts, blocks
the `decision` events (a row a box aggregated counts as its `count`). Months are
calendar months in the installation's time zone. The same figures feed the page, the
CSV, the PDF and `clocher shield report`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from clocher.core import charts
from clocher.core.models import AuditEntry, Commune
from clocher.core.pdf import render_pdf
from clocher.shield import countries
from clocher.shield.models import SCENARIO_LABELS, EventKind, ShieldEvent

MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
TOP_SOURCES = 10


def current_month() -> dt.date:
    """The first day of this month (what the commune's page shows: so far this month)."""
    return timezone.localdate().replace(day=1)


def last_complete_month() -> dt.date:
    """The first day of the previous month: a monthly report is about a finished month
    (on the 1st, the current one has nothing yet)."""
    return (current_month() - dt.timedelta(days=1)).replace(day=1)


def parse_month(text: str | None) -> dt.date:
    """`2026-11` → 1 Nov 2026; empty → the last complete month; ValueError in French
    otherwise."""
    if not text:
        return last_complete_month()
    try:
        year, month = (int(part) for part in text.split("-"))
        return dt.date(year, month, 1)
    except ValueError as exc:
        raise ValueError(f"Mois « {text} » invalide : attendu AAAA-MM (ex. 2026-11).") from exc


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def number(value: int) -> str:
    """French digit grouping (narrow no-break space): 117 145."""
    return f"{value:,}".replace(",", "\u202f")


def month_label(month: dt.date) -> str:
    return f"{MONTHS_FR[month.month - 1]} {month.year}"


@dataclass
class Line:
    key: str
    label: str
    flows: int
    blocks: int


@dataclass
class Report:
    month: dt.date
    commune: Commune | None
    flows: int
    blocks: int
    boxes: int
    by_country: list[Line]
    by_scenario: list[Line]
    top_sources: list[Line]
    daily: list[Line]
    by_commune: list[Line]
    # Sources this month put in the collective list, pushed to every box: reported by
    # boxes (for a commune: by its boxes), and found by the central's login detector.
    collective_added: int = 0
    central_bruteforce: int = 0
    # Ports the boxes close (shield.services.ports): packets dropped per port.
    by_port: list[Line] = field(default_factory=list)

    @property
    def scope(self) -> str:
        return self.commune.name if self.commune else "le département"

    @property
    def label(self) -> str:
        return month_label(self.month)

    def summary(self) -> str:
        """The sentence that opens the report (and that the CLI prints)."""
        where = f"à {self.commune.name}" if self.commune else "dans le département"
        boxes = f"{self.boxes} boîtier{'s' if self.boxes > 1 else ''}"
        text = (
            f"{number(self.flows)} flux malveillants bloqués en {self.label} {where} "
            f"par {boxes} ({number(self.blocks)} blocages décidés)"
        )
        known = [line for line in self.by_country if line.key]
        if known and (self.flows or self.blocks):
            weight = self.flows or self.blocks
            parts = [
                f"{line.label} ({(line.flows if self.flows else line.blocks) * 100 // weight} %)"
                for line in known[:3]
            ]
            text += ", surtout depuis : " + ", ".join(parts)
        if self.by_scenario and (self.flows or self.blocks):
            text += f" ; premier motif : {self.by_scenario[0].label.lower()}"
        return text + "."

    @property
    def busiest_day(self) -> Line:
        return max(self.daily, key=lambda line: (line.flows, line.blocks))

    def country_bars(self) -> list[charts.Bar]:
        return charts.bars([(line.label, line.flows) for line in self.by_country[:10]])

    def scenario_bars(self) -> list[charts.Bar]:
        return charts.bars([(line.label, line.flows) for line in self.by_scenario])

    def trend_columns(self) -> list[charts.Column]:
        return charts.columns(
            [line.label for line in self.daily],
            {"flux": [line.flows for line in self.daily]},
        )


def _blocks() -> Coalesce:
    """Decisions reported: a row stands for `count` of them (the box's spool aggregates)."""
    return Coalesce(Sum("count", filter=Q(kind=EventKind.DECISION)), 0)


def _sums(events: QuerySet[ShieldEvent], field: str) -> list[dict[str, Any]]:
    return list(
        events.values(field)
        .annotate(
            flows=Sum("flows", filter=Q(kind=EventKind.DROPS)),
            blocks=_blocks(),
        )
        .order_by()
    )


def _lines(rows: list[dict[str, Any]], field: str, label: Any) -> list[Line]:
    lines = [
        Line(row[field] or "", label(row[field] or ""), row["flows"] or 0, row["blocks"])
        for row in rows
    ]
    return sorted(lines, key=lambda line: (-line.flows, -line.blocks, line.key))


def _port_lines(events: QuerySet[ShieldEvent]) -> list[Line]:
    """« port 3389 bloqué : N tentatives », from the boxes' `port-block` drops (their
    detail is `port 3389/tcp`)."""
    rows = (
        events.filter(kind=EventKind.DROPS, scenario="port-block")
        .values("detail")
        .annotate(flows=Sum("flows"))
        .order_by()
    )
    lines = []
    for row in rows:
        port = str(row["detail"]).removesuffix("/tcp")
        flows = row["flows"] or 0
        lines.append(Line(row["detail"], f"{port} bloqué : {number(flows)} tentatives", flows, 0))
    return sorted(lines, key=lambda line: (-line.flows, line.key))


def build(month: dt.date, commune: Commune | None = None) -> Report:
    start = timezone.make_aware(dt.datetime.combine(month, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(next_month(month), dt.time.min))
    events = ShieldEvent.objects.filter(at__gte=start, at__lt=end)
    if commune is not None:
        events = events.filter(commune=commune)
    totals = events.aggregate(
        flows=Sum("flows", filter=Q(kind=EventKind.DROPS)),
        blocks=_blocks(),
        boxes=Count("box", distinct=True),
    )
    by_day = {
        row["day"]: row
        for row in events.annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(
            flows=Sum("flows", filter=Q(kind=EventKind.DROPS)),
            blocks=_blocks(),
        )
        .order_by()
    }
    # The whole of a past month; the current one up to today (or its last event).
    last_day = min(
        next_month(month) - dt.timedelta(days=1),
        max([timezone.localdate(), month, *by_day.keys()]),
    )
    daily = []
    day = month
    while day <= last_day:
        row = by_day.get(day, {})
        daily.append(
            Line(
                day.isoformat(), day.strftime("%d/%m"), row.get("flows") or 0, row.get("blocks", 0)
            )
        )
        day += dt.timedelta(days=1)
    names = dict(Commune.objects.values_list("pk", "name")) if commune is None else {}
    # From the audit journal: collective entries are purged once expired, the journal stays.
    added = AuditEntry.objects.filter(action="shield.collective_block", at__gte=start, at__lt=end)
    if commune is not None:
        added = added.filter(commune=commune)
    by_scenario = dict(added.values_list("data__scenario").annotate(n=Count("id")).order_by())
    return Report(
        month=month,
        commune=commune,
        flows=totals["flows"] or 0,
        blocks=totals["blocks"],
        boxes=totals["boxes"],
        by_country=_lines(_sums(events, "country"), "country", countries.name),
        by_scenario=_lines(
            _sums(events, "scenario"), "scenario", lambda s: SCENARIO_LABELS.get(s, s)
        ),
        top_sources=_lines(_sums(events, "source"), "source", lambda s: s)[:TOP_SOURCES],
        daily=daily,
        by_commune=(
            _lines(
                [{**row, "commune": str(row["commune"])} for row in _sums(events, "commune")],
                "commune",
                lambda pk: names.get(int(pk), pk),
            )
            if commune is None
            else []
        ),
        collective_added=by_scenario.get("collective", 0),
        central_bruteforce=by_scenario.get("mail-bruteforce", 0) if commune is None else 0,
        by_port=_port_lines(events),
    )


def to_csv(report: Report) -> str:
    """One table, semicolon-separated with a BOM, as French spreadsheets open it."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["section", "clé", "libellé", "flux bloqués", "blocages décidés"])
    writer.writerow(
        ["total", report.month.strftime("%Y-%m"), report.scope, report.flows, report.blocks]
    )
    writer.writerow(
        ["défense collective", "sources ajoutées", report.scope, "", report.collective_added]
    )
    if report.commune is None:
        writer.writerow(
            [
                "défense collective",
                "force brute (central)",
                report.scope,
                "",
                report.central_bruteforce,
            ]
        )
    sections = [
        ("pays", report.by_country),
        ("scénario", report.by_scenario),
        ("port fermé", report.by_port),
        ("source", report.top_sources),
        ("commune", report.by_commune),
        ("jour", report.daily),
    ]
    for section, lines in sections:
        for line in lines:
            writer.writerow([section, line.key, line.label, line.flows, line.blocks])
    return out.getvalue()


def to_pdf(report: Report, operator_name: str = "") -> bytes:
    return render_pdf(
        "shield/report_print.html",
        {"report": report, "operator_name": operator_name, "generated": timezone.localtime()},
    )


def filename(report: Report, extension: str) -> str:
    scope = report.commune.insee if report.commune else "departement"
    return f"bouclier-{scope}-{report.month:%Y-%m}.{extension}"
