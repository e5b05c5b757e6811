"""« Bloquer ce port » (issue 21): a port found open on the address the commune's box
connects from is closed on that box from the audit's page; nowhere else, by nobody else."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.utils import timezone

from clocher.eservices import services
from clocher.eservices.checks import ports
from clocher.eservices.models import Finding, Kind, Scan, Target
from clocher.shield import services as shield
from clocher.shield.models import Box, PortRule
from clocher_box import protocol
from tests.conftest import SYSTEM, logged_in

pytestmark = pytest.mark.django_db

TOWN_HALL = "198.51.100.20"  # where the box connects from
ELSEWHERE = "198.51.100.30"  # the website's host: not behind the box
BUTTON = re.compile(r'action="(/c/\d+/e-services/constats/(\d+)/bloquer)"')


def _audited(commune, address: str, *codes: str) -> Target:
    target = Target.objects.create(
        commune=commune, kind=Kind.IP, value=address, token="t",
        confirmed_at=timezone.now(), confirmed_how="attestation",
    )  # fmt: skip
    now = timezone.now()
    scan = Scan.objects.create(
        target=target, commune=commune, started_at=now, finished_at=now, score=20
    )
    for code in codes:
        Finding.objects.create(
            scan=scan, commune=commune, code=code, severity="critique",
            title=f"{code} sur {address}", explanation="-", fix="-",
        )  # fmt: skip
    return target


@pytest.fixture
def town_hall(commune_a):
    key = protocol.public_key_b64(protocol.new_private_key())
    box = shield.enroll(shield.issue_token(SYSTEM, commune_a).token, key, "mairie", "0.1.0")
    Box.objects.filter(pk=box.pk).update(last_address=TOWN_HALL)
    target = _audited(commune_a, TOWN_HALL, "PORT_OPEN_3389", "UNREACHABLE")
    _audited(commune_a, ELSEWHERE, "PORT_OPEN_445")
    return box, target


def _buttons(client, commune) -> list[tuple[str, int]]:
    page = client.get(f"/c/{commune.insee}/e-services/").content.decode()
    return [(url, int(pk)) for url, pk in BUTTON.findall(page)]


def test_button_only_for_ports_behind_the_box_and_it_closes_the_port(
    commune_a, admin_a, town_hall, monkeypatch
):
    box, target = town_hall
    client = logged_in(admin_a)
    buttons = _buttons(client, commune_a)
    only = Finding.objects.get(code="PORT_OPEN_3389")
    assert [pk for _url, pk in buttons] == [only.pk]  # not 445 elsewhere, not UNREACHABLE
    page = client.get(f"/c/{commune_a.insee}/e-services/").content.decode()
    assert 'data-confirm="Bloquer le port 3389 sur le boîtier de la mairie ?' in page

    answer = client.post(buttons[0][0], follow=True)
    assert "Port 3389 bloqué" in answer.content.decode()
    rule = PortRule.objects.get(commune=commune_a)
    assert (rule.port, rule.proto) == (3389, "tcp")
    assert "PORT_OPEN_3389" in rule.origin
    assert _buttons(client, commune_a) == []
    assert "Blocage demandé" in client.get(f"/c/{commune_a.insee}/e-services/").content.decode()

    # The box applied it (its heartbeat says so), and the next audit still reaches the
    # port (from the central, allowlisted on the box): « bloqué par le boîtier ».
    Box.objects.filter(pk=box.pk).update(health={"ports_blocked": ["3389/tcp"]})
    monkeypatch.setattr(ports, "open_ports", lambda host, wanted: {3389: "ms-wbt-server"})
    services.scan_target(SYSTEM, target)
    assert (
        "Bloqué par le boîtier" in client.get(f"/c/{commune_a.insee}/e-services/").content.decode()
    )
    # Audited from where the box drops it: the finding is gone.
    monkeypatch.setattr(ports, "open_ports", lambda host, wanted: {})
    services.scan_target(SYSTEM, target)
    page = client.get(f"/c/{commune_a.insee}/e-services/").content.decode()
    assert "PORT_OPEN_3389" not in page and "3389 sur" not in page


def test_a_port_not_behind_the_box_is_refused(commune_a, admin_a, town_hall):
    elsewhere = Finding.objects.get(code="PORT_OPEN_445")
    answer = logged_in(admin_a).post(
        f"/c/{commune_a.insee}/e-services/constats/{elsewhere.pk}/bloquer", follow=True
    )
    assert "n'est pas un port que le boîtier de la commune peut" in unescape(
        answer.content.decode()
    )
    assert not PortRule.objects.exists()


def test_other_commune_and_agents_are_refused(commune_a, agent_a, admin_b, town_hall):
    finding = Finding.objects.get(code="PORT_OPEN_3389")
    url = f"/c/{commune_a.insee}/e-services/constats/{finding.pk}/bloquer"
    for user in (admin_b, agent_a):
        assert logged_in(user).post(url).status_code == 404
    # B's admin on B's own URL with A's finding: not found either.
    commune_b = admin_b.memberships.get().commune
    assert (
        logged_in(admin_b)
        .post(f"/c/{commune_b.insee}/e-services/constats/{finding.pk}/bloquer")
        .status_code
        == 404
    )
    assert not PortRule.objects.exists()
