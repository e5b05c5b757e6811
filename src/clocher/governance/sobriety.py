"""Sobriety figures, per commune and in total: what the platform stores (and what
deduplication saves), the mail it holds and carries, the CPU its analytics used, and an
energy estimate whose method is written here and in docs/governance.md.

Method of the estimate (an order of magnitude, not a meter reading): storage draws
CLOCHER_SOBRIETY_WATTS_PER_TB watts per terabyte stored, all year round (disks, their
share of the server, the replica and the cooling); computation draws
CLOCHER_SOBRIETY_WATTS_PER_CPU watts per busy core, for the CPU seconds measured.
Only measured figures enter it: an analytic that does not record its CPU time is named
as not measured, never guessed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from clocher.core.models import Commune

HOURS_PER_YEAR = 24 * 365
FORECASTS = "prévisions"
TB = 10**12
# Analytics that run on the platform without recording their CPU time (none left:
# forecasts on their rows, the others in governance.cputime).
NOT_MEASURED: tuple[str, ...] = ()


@dataclass
class Figures:
    insee: str
    name: str
    used_bytes: int = 0  # what the files weigh, every version counted (the quota's view)
    stored_bytes: int = 0  # what is on disk after deduplication
    mailboxes: int = 0
    mail_bytes: int = 0
    analytics_cpu_seconds: float = 0.0
    # Analytic's label → its CPU seconds (forecasts, energy, finance, audits, awareness).
    cpu_by_analytic: dict[str, float] = field(default_factory=dict)

    @property
    def dedup_saved_bytes(self) -> int:
        return max(self.used_bytes - self.stored_bytes, 0)

    @property
    def storage_kwh_per_year(self) -> float:
        held = self.stored_bytes + self.mail_bytes
        return held / TB * settings.SOBRIETY_WATTS_PER_TB * HOURS_PER_YEAR / 1000

    @property
    def analytics_kwh(self) -> float:
        return self.analytics_cpu_seconds * settings.SOBRIETY_WATTS_PER_CPU / 3_600_000

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "dedup_saved_bytes": self.dedup_saved_bytes,
            "storage_kwh_per_year": round(self.storage_kwh_per_year, 6),
            "analytics_kwh": round(self.analytics_kwh, 6),
        }


@dataclass
class Sobriety:
    communes: list[Figures]
    total: Figures
    mail_received_30d: int
    mail_sent_30d: int
    method: str
    not_measured: tuple[str, ...] = field(default=NOT_MEASURED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "communes": [f.as_dict() for f in self.communes],
            "total": self.total.as_dict(),
            "mail_received_30d": self.mail_received_30d,
            "mail_sent_30d": self.mail_sent_30d,
            "method": self.method,
            "not_measured": list(self.not_measured),
        }


def method() -> str:
    return (
        f"Stockage : {settings.SOBRIETY_WATTS_PER_TB} W par téraoctet stocké, toute "
        f"l'année ; calcul : {settings.SOBRIETY_WATTS_PER_CPU} W par cœur occupé, pendant "
        "les secondes CPU mesurées. Ordre de grandeur, pas un relevé de compteur."
    )


def _sums(rows: Any) -> dict[int, Any]:
    return {commune_id: value or 0 for commune_id, value in rows}


def figures(commune: Commune | None = None) -> Sobriety:
    """The figures of `commune`, or of every commune with their total."""
    from clocher.forecast.models import Forecast
    from clocher.governance import cputime
    from clocher.governance.models import Analytic
    from clocher.mail import services as mail
    from clocher.mail.models import Mailbox, MailTrafficDay
    from clocher.vault.models import Chunk, CommuneUsage

    communes = [commune] if commune else list(Commune.objects.order_by("insee"))
    ids = [c.pk for c in communes]
    used = _sums(
        CommuneUsage.objects.filter(commune_id__in=ids).values_list("commune_id", "used_bytes")
    )
    stored = _sums(
        Chunk.objects.filter(commune_id__in=ids)
        .values("commune_id")
        .annotate(s=Sum("size"))
        .values_list("commune_id", "s")
    )
    cpu = _sums(
        Forecast.objects.filter(commune_id__in=ids)
        .values("commune_id")
        .annotate(s=Sum("cpu_seconds"))
        .values_list("commune_id", "s")
    )
    runs = cputime.by_commune(ids)
    vmail = mail.default_vmail_dir()
    by_commune = {c.pk: Figures(c.insee, c.name) for c in communes}
    for box in Mailbox.objects.filter(commune_id__in=ids).select_related("domain"):
        one = by_commune[box.commune_id]
        one.mailboxes += 1
        one.mail_bytes += mail.mailbox_usage(box, vmail) or 0
    for pk, one in by_commune.items():
        one.used_bytes, one.stored_bytes = used.get(pk, 0), stored.get(pk, 0)
        parts = {FORECASTS: float(cpu[pk])} if pk in cpu else {}
        parts |= {str(Analytic(k).label): v for k, v in runs.get(pk, {}).items()}
        one.cpu_by_analytic = parts
        one.analytics_cpu_seconds = sum(parts.values())
    rows = list(by_commune.values())
    total = Figures("", "Total")
    for one in rows:
        total.used_bytes += one.used_bytes
        total.stored_bytes += one.stored_bytes
        total.mailboxes += one.mailboxes
        total.mail_bytes += one.mail_bytes
        total.analytics_cpu_seconds += one.analytics_cpu_seconds
        for label, seconds in one.cpu_by_analytic.items():
            total.cpu_by_analytic[label] = total.cpu_by_analytic.get(label, 0.0) + seconds
    since = timezone.localdate() - timedelta(days=30)
    traffic = MailTrafficDay.objects.filter(day__gte=since).aggregate(
        r=Sum("received"), s=Sum("sent")
    )
    return Sobriety(rows, total, traffic["r"] or 0, traffic["s"] or 0, method())
