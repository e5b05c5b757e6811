"""OIDC sign-in only matches existing active accounts; it never creates one."""

from __future__ import annotations

import pytest

from clocher.accounts.models import User
from clocher.accounts.oidc import ClocherOIDCBackend


@pytest.fixture
def backend(settings):
    for name in (
        "OIDC_RP_CLIENT_ID",
        "OIDC_RP_CLIENT_SECRET",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
    ):
        setattr(settings, name, "x")
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    return ClocherOIDCBackend()


@pytest.mark.django_db
def test_matches_existing_user_by_email(backend, agent_a):
    found = backend.filter_users_by_claims({"email": "Agent@Flavigny.test", "email_verified": True})
    assert list(found) == [agent_a]


@pytest.mark.django_db
def test_unknown_or_inactive_user_is_not_created(backend, agent_a):
    assert not backend.filter_users_by_claims({"email": "stranger@example.test"}).exists()
    assert backend.create_user({"email": "stranger@example.test"}) is None
    assert not User.objects.filter(email="stranger@example.test").exists()
    agent_a.is_active = False
    agent_a.save()
    assert not backend.filter_users_by_claims({"email": agent_a.email}).exists()
