"""Results over time: per month, the rates of a commune or of the whole département
(click, submission, report), the median time to report and the "risk" figure; exports
as CSV and PDF for the council.

Risk (0–100, docs/awareness.md): the share of exercises that would have handed something
to an attacker — a submission counts whole, a click without submission half — reduced
by half the report rate, since each report lets the team warn everyone else:
    risk = 100 × (submitted + ½ × clicked only) / sent × (1 − ½ × report rate)
Figures never name a person; a commune's are hidden below MIN_GROUP participants.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from clocher.awareness.models import Event, EventKind, Recipient
from clocher.core.models import Commune


@dataclass
class Month:
    month: date
    sent: int
    clicked: float
    submitted: float
    reported: float
    minutes_to_report: float | None
    risk: float


def risk(sent: int, clicked_only: int, submitted: int, reported: int) -> float:
    if not sent:
        return 0.0
    exposure = (submitted + 0.5 * clicked_only) / sent
    return round(100.0 * exposure * (1.0 - 0.5 * reported / sent), 1)


def trends(communes: QuerySet[Commune] | list[Commune], months: int = 12) -> list[Month]:
    """The last `months` months with messages sent, oldest first."""
    sent: dict[int, datetime] = {
        pk: at
        for pk, at in Recipient.objects.filter(
            commune__in=communes, sent_at__isnull=False
        ).values_list("pk", "sent_at")
        if at is not None
    }
    kinds: dict[int, dict[str, datetime]] = {}
    for recipient_id, kind, when in Event.objects.filter(
        recipient_id__in=list(sent),
        kind__in=[EventKind.CLICKED, EventKind.SUBMITTED, EventKind.REPORTED],
    ).values_list("recipient_id", "kind", "at"):
        kinds.setdefault(recipient_id, {})[kind] = when
    by_month: dict[date, list[int]] = {}
    for pk, at in sent.items():
        local = timezone.localtime(at)
        by_month.setdefault(date(local.year, local.month, 1), []).append(pk)
    found = []
    for month in sorted(by_month)[-months:]:
        ids = by_month[month]
        n = len(ids)
        clicked = sum(1 for i in ids if EventKind.CLICKED in kinds.get(i, {}))
        submitted = sum(1 for i in ids if EventKind.SUBMITTED in kinds.get(i, {}))
        clicked_only = sum(
            1
            for i in ids
            if EventKind.CLICKED in kinds.get(i, {}) and EventKind.SUBMITTED not in kinds.get(i, {})
        )
        delays = [
            (kinds[i][EventKind.REPORTED] - sent[i]).total_seconds() / 60
            for i in ids
            if EventKind.REPORTED in kinds.get(i, {})
        ]
        found.append(
            Month(
                month,
                n,
                clicked / n,
                submitted / n,
                len(delays) / n,
                round(statistics.median(delays), 1) if delays else None,
                risk(n, clicked_only, submitted, len(delays)),
            )
        )
    return found


HEADER = ["mois", "envoyés", "taux de clic", "taux de saisie", "taux de signalement",
          "délai médian de signalement (min)", "risque"]  # fmt: skip


def to_csv(rows: list[Month]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(
            [
                f"{row.month:%Y-%m}",
                row.sent,
                f"{row.clicked:.3f}",
                f"{row.submitted:.3f}",
                f"{row.reported:.3f}",
                "" if row.minutes_to_report is None else row.minutes_to_report,
                row.risk,
            ]
        )
    return out.getvalue()


def to_pdf(rows: list[Month], scope: str) -> bytes:
    """The same table for the council, through WeasyPrint as the shield's report."""
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    html = render_to_string(
        "awareness/results_print.html",
        {"rows": rows, "scope": scope, "generated": timezone.localtime()},
    )
    return bytes(HTML(string=html).write_pdf())
