"""Invitations: one-time, expiring links; nothing changes on a refused attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from clocher.accounts.models import Invitation
from clocher.accounts.services import (
    InvitationInvalid,
    accept_invitation,
    create_invitation,
    find_invitation,
    get_or_create_user,
)
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


@pytest.mark.django_db
def test_disabled_account_is_not_reenabled_by_its_invitation(invited):
    user = invited.membership.user
    user.is_active = False
    user.save(update_fields=["is_active"])
    url = f"/invitation/{invited.invitation_token}/"
    assert "désactivé" in Client().get(url).content.decode()
    response = Client().post(url, {"full_name": "X", "password": GOOD, "password_again": GOOD})
    assert response.status_code == 410 and "désactivé" in response.content.decode()
    with pytest.raises(InvitationInvalid, match="désactivé"):
        accept_invitation(Actor(label="t"), invited.invitation_token, GOOD)
    user.refresh_from_db()
    assert not user.is_active and not user.has_usable_password()
    assert Invitation.objects.get(user=user).used_at is None


@pytest.mark.django_db
def test_an_invitation_withdraws_only_its_own_communes_pending_one(commune_a, commune_b):
    user, _ = get_or_create_user("partage@example.test")
    actor = Actor(label="t")
    from_a = create_invitation(actor, user, commune_a)
    from_b = create_invitation(actor, user, commune_b)
    again_a = create_invitation(actor, user, commune_a)
    with pytest.raises(InvitationInvalid, match="expiré"):
        find_invitation(from_a)  # replaced by the same commune's new one
    assert find_invitation(from_b).commune == commune_b  # the other commune's stays
    assert find_invitation(again_a).commune == commune_a
    # Once the owner has set a password with one link, no other link may reset it.
    accept_invitation(actor, from_b, GOOD)
    with pytest.raises(InvitationInvalid):
        find_invitation(again_a)
