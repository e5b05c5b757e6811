"""CPU time of the analytics beside forecasts: energy baselines, the debt's indicators,
e-services audits (nmap's own CPU included) and awareness campaigns each record theirs,
per commune, and the sobriety figures show it analytic by analytic."""

from __future__ import annotations

import socket
import sys
from datetime import date

import pytest
from django.urls import reverse

from clocher.awareness import services as awareness
from clocher.awareness.models import Enrolment
from clocher.core.audit import Actor
from clocher.energy.demo import seed_demo_energy
from clocher.eservices import services as eservices
from clocher.finance import services as finance
from clocher.governance import cputime, sobriety
from clocher.governance.models import Analytic, AnalyticsRun
from tests.conftest import SYSTEM

ACTOR = Actor(label="tests")
BUSY = "import time\nwhile time.process_time() < 0.3:\n    pass\n"


def test_a_programs_cpu_is_counted_for_the_thread_that_ran_it():
    meter = cputime.Meter()
    done = cputime.run([sys.executable, "-c", BUSY], timeout=300)
    assert done.returncode == 0
    # The child spun until its own CPU clock passed 0.3 s: at least that much is counted.
    assert meter.seconds >= 0.3


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_each_analytic_records_its_cpu_per_commune(
    commune_a, commune_b, admin_a, client_operator, settings
):
    seed_demo_energy(ACTOR, commune_a)  # fits the buildings' baselines
    finance.refresh_indicators(commune_a)
    awareness.set_programme(
        ACTOR, commune_a, enabled=True, enrolment=Enrolment.DEFAULT_IN,
        notice=awareness.DEFAULT_NOTICE,
    )  # fmt: skip
    campaign = awareness.create_campaign(ACTOR, commune_a, "Exercice", date(2026, 3, 2))
    awareness.close_campaign(ACTOR, campaign)
    settings.ESERVICES_ALLOW_PRIVATE = True
    target = eservices.add_target(SYSTEM, commune_a, f"http://127.0.0.1:{_closed_port()}/")
    eservices.confirm_target(SYSTEM, target, attestation="serveur de test")
    eservices.scan_target(SYSTEM, target)

    recorded = set(
        AnalyticsRun.objects.filter(commune=commune_a).values_list("analytic", flat=True)
    )
    assert recorded == set(Analytic.values)
    assert not AnalyticsRun.objects.filter(commune=commune_b).exists()
    made = sobriety.figures()
    a = next(f for f in made.communes if f.insee == commune_a.insee)
    b = next(f for f in made.communes if f.insee == commune_b.insee)
    assert set(a.cpu_by_analytic) == {str(label) for label in Analytic.labels}
    assert a.analytics_cpu_seconds == pytest.approx(sum(a.cpu_by_analytic.values()))
    assert a.analytics_cpu_seconds > 0
    assert (b.cpu_by_analytic, b.analytics_cpu_seconds) == ({}, 0.0)
    assert made.not_measured == ()
    page = client_operator.get(reverse("governance:operator")).content.decode()
    assert "e-services (audits) :" in page and "non mesuré" not in page
