"""The awareness API with a token: the admin creates and lists campaigns and reads the
monthly figures (none under 5 agents); an agent reads only their own level; another
commune gets 404."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

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
    for wrong in ({"name": 7}, {"days": "2"}, {"starts_on": 20260302}):
        typed = client.post(
            _url("campaigns", commune_a),
            {"name": "Été", "starts_on": "2026-06-01", "days": 2, **wrong},
            content_type="application/json",
            **auth,
        )
        assert typed.status_code == 400 and "Type invalide" in str(typed.json()), wrong
    assert Campaign.objects.count() == 1
    listed = client.get(_url("campaigns", commune_a), **auth).json()
    assert listed["count"] == 1 and [c["name"] for c in listed["results"]] == ["Printemps"]

    launch(commune_a)
    services.record(Recipient.objects.filter(sent_at__isnull=False).first(), EventKind.CLICKED)
    months = client.get(_url("results", commune_a), **auth).json()["months"]
    assert months[-1]["sent"] == 5 and months[-1]["clicked"] == 0.2
    assert boxes[0].address not in str(months)


def test_campaigns_are_a_page_newest_first(enrolled, commune_a, admin_a):
    """Same envelope and parameters as every list of the API; created in the same
    instant, the later one (higher id) still comes first, on every page."""
    enrolled(5)
    for name in ("Hiver", "Printemps", "Été"):
        services.create_campaign(SYSTEM, commune_a, name, date(2026, 3, 2))
    Campaign.objects.update(created_at=timezone.now())
    auth, client = _auth(admin_a), Client()
    pages = [
        client.get(f"{_url('campaigns', commune_a)}?limit=1&offset={k}", **auth).json()
        for k in range(3)
    ]
    assert [p["count"] for p in pages] == [3, 3, 3] and pages[-1]["next"] is None
    assert [p["results"][0]["name"] for p in pages] == ["Été", "Printemps", "Hiver"]
    assert pages[0]["results"][0]["recipients"] == 5


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
