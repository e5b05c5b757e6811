"""Central brute-force detection: failed logins to Clocher's own services.

Every failed login is already recorded in `accounts.LoginAttempt`: the web login
(service `web`) and, through Dovecot's authentication policy server, IMAP and SMTP AUTH
(Postfix authenticates through Dovecot's SASL, so its failures arrive there too). An
address with SHIELD_BRUTEFORCE_FAILURES failures within the window becomes a
`mail-bruteforce` entry of the collective list, pushed to every box unless allowlisted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from clocher.accounts.models import LoginAttempt
from clocher.core.audit import Actor
from clocher.shield import services

DETECTOR = Actor(label="bouclier : détection de force brute")


@dataclass
class Detection:
    source: str
    failures: int
    services: list[str]
    new: bool


def detect_bruteforce(now: dt.datetime | None = None) -> tuple[list[Detection], list[str]]:
    """Block the addresses over the threshold; returns what was blocked and what was
    left alone because it is allowlisted or a local address."""
    now = now or timezone.now()
    since = now - dt.timedelta(minutes=settings.SHIELD_BRUTEFORCE_WINDOW_MINUTES)
    rows = (
        LoginAttempt.objects.filter(succeeded=False, at__gte=since, ip__isnull=False)
        .values("ip")
        .annotate(failures=Count("id"))
        .filter(failures__gte=settings.SHIELD_BRUTEFORCE_FAILURES)
        .order_by("-failures")
    )
    found, spared = [], []
    for row in rows:
        network = ipaddress.ip_network(row["ip"])
        touching = services.allowlisted(network)
        if touching is not None or services.is_local(network):
            spared.append(f"{network} ({touching or 'adresse locale'})")
            continue
        kinds = sorted(
            set(
                LoginAttempt.objects.filter(
                    succeeded=False, at__gte=since, ip=row["ip"]
                ).values_list("service", flat=True)
            )
        )
        reason = (
            f"{row['failures']} échecs de connexion ({', '.join(kinds)}) "
            f"en {settings.SHIELD_BRUTEFORCE_WINDOW_MINUTES} min sur les services du département"
        )
        _, created = services.upsert_block(DETECTOR, str(network), "mail-bruteforce", reason)
        found.append(Detection(str(network), row["failures"], kinds, created))
    if found:
        services.bump_policy()
    return found, spared
