"""The awareness API with a token: the admin creates and lists campaigns and reads the
monthly figures (none under 5 agents); an agent reads only their own level; another
commune gets 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from clocher.api.services import create_token
from clocher.awareness import services
from clocher.awareness.models import Campaign, EventKind, Recipient
from tests.awareness.test_awareness import launch
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db


def _url(name: str, commune) -> str:
    return reverse(f"api:awareness_{name}", kwargs={"insee": commune.insee})


def _auth(user) -> dict[str, str]:
    _, token = create_token(SYSTEM, user, "tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_admin_creates_and_lists_campaigns_and_reads_results(enrolled, commune_a, admin_a):
    boxes = enrolled(5)
    auth, client = _auth(admin_a), Client()
    made = client.post(
        _url("campaigns", commune_a),
        {"name": "Printemps", "starts_on": "2026-03-02", "days": 2},
        content_type="application/json",
        **auth,
    )
    assert made.status_code == 201, made.content
    assert made.json()["recipients"] == 5 and made.json()["closed_at"] is None
    bad = client.post(
        _url("campaigns", commune_a),
        {"name": "Trop long", "starts_on": "2026-03-02", "days": 40},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400 and "jours" in bad.json()["detail"]
    assert Campaign.objects.count() == 1
    listed = client.get(_url("campaigns", commune_a), **auth).json()
    assert [c["name"] for c in listed] == ["Printemps"]

    launch(commune_a)
    services.record(Recipient.objects.filter(sent_at__isnull=False).first(), EventKind.CLICKED)
    months = client.get(_url("results", commune_a), **auth).json()["months"]
    assert months[-1]["sent"] == 5 and months[-1]["clicked"] == 0.2
    assert boxes[0].address not in str(months)


def test_agent_sees_only_their_level_and_small_communes_publish_nothing(
    enrolled, commune_a, admin_a, admin_b
):
    (box,) = enrolled(1)
    agent = _auth(box.user)
    client = Client()
    me = client.get(_url("me", commune_a), **agent).json()
    assert me == {"takes_part": True, "level": 2.0, "points": 0, "badge": ""}
    assert client.get(_url("campaigns", commune_a), **agent).status_code == 403
    assert client.get(_url("results", commune_a), **_auth(admin_a)).status_code == 403
    assert client.get(_url("campaigns", commune_a), **_auth(admin_b)).status_code == 404
