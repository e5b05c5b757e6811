"""Invitations: one-time, expiring links; nothing changes on a refused attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from clocher.accounts.models import Invitation
from clocher.core import services
from clocher.core.audit import Actor

GOOD = "un-mot-de-passe-solide-2026"


@pytest.fixture
def invited(commune_a):
    added = services.add_member(Actor(label="t"), commune_a, "nouvel.agent@flavigny.test", "agent")
    return added


@pytest.mark.django_db
def test_accept_once_then_replay_refused(invited):
    url = f"/invitation/{invited.invitation_token}/"
    client = Client()
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"full_name": "Nouvel Agent", "password": GOOD, "password_again": GOOD}
    )
    assert response.status_code == 302
    user = invited.membership.user
    user.refresh_from_db()
    assert user.check_password(GOOD) and user.full_name == "Nouvel Agent"
    replay = Client().post(
        url,
        {
            "full_name": "Pirate",
            "password": "autre-mot-de-passe-22",
            "password_again": "autre-mot-de-passe-22",
        },
    )
    assert replay.status_code == 410
    assert "déjà été utilisé" in replay.content.decode()
    user.refresh_from_db()
    assert user.check_password(GOOD)


@pytest.mark.django_db
def test_expired_link_refused(invited):
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = Client().get(f"/invitation/{invited.invitation_token}/")
    assert response.status_code == 410
    assert "expiré" in response.content.decode()


@pytest.mark.django_db
def test_unknown_link_refused():
    assert Client().get("/invitation/not-a-token/").status_code == 410


@pytest.mark.django_db
def test_weak_password_refused_and_nothing_changed(invited):
    url = f"/invitation/{invited.invitation_token}/"
    response = Client().post(url, {"full_name": "X", "password": "123", "password_again": "123"})
    assert response.status_code == 200
    assert "trop court" in response.content.decode() or "au moins" in response.content.decode()
    user = invited.membership.user
    user.refresh_from_db()
    assert not user.has_usable_password()
    assert Invitation.objects.get(user=user).used_at is None
