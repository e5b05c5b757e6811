"""Per-device app passwords: shown once, Dovecot-verifiable, revocable at once."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from clocher.accounts import services
from clocher.accounts.models import AppPassword
from clocher.core.audit import Actor


@pytest.mark.django_db
def test_created_once_and_verifiable(client_agent_a, agent_a):
    response = client_agent_a.post(reverse("accounts:app_passwords"), {"name": "Téléphone"})
    body = response.content.decode()
    match = re.search(r'id="new-app-password">([a-z0-9-]+)<', body)
    assert match, body
    clear = match.group(1)
    record = AppPassword.objects.get(user=agent_a)
    assert record.hash.startswith("{ARGON2ID}$argon2id$")
    assert clear not in record.hash
    assert response.headers["Cache-Control"] == "no-store"
    assert services.check_app_password(agent_a.email, clear, "192.0.2.1") == agent_a
    record.refresh_from_db()
    assert record.last_used_at is not None and record.last_used_from == "192.0.2.1"
    # The list never shows it again.
    assert clear not in client_agent_a.get(reverse("accounts:app_passwords")).content.decode()
    # Revoked: refused at once.
    client_agent_a.post(
        reverse("accounts:app_password_revoke", kwargs={"app_password_id": record.pk})
    )
    assert services.check_app_password(agent_a.email, clear) is None


@pytest.mark.django_db
def test_cannot_revoke_someone_elses(client_admin_b, agent_a):
    created = services.create_app_password(Actor(label="t"), agent_a, "PC")
    url = reverse("accounts:app_password_revoke", kwargs={"app_password_id": created.record.pk})
    assert client_admin_b.post(url).status_code == 404
    assert services.check_app_password(agent_a.email, created.clear) == agent_a


@pytest.mark.django_db
def test_empty_device_name_is_refused(client_agent_a, agent_a):
    response = client_agent_a.post(reverse("accounts:app_passwords"), {"name": "  "})
    assert response.status_code == 200
    assert not AppPassword.objects.filter(user=agent_a).exists()


@pytest.mark.django_db
def test_live_prefixes_are_unique_across_people(agent_a, admin_a, monkeypatch):
    """A shared mailbox accepts several people's passwords, picked by prefix: two live
    passwords never share one, whoever owns them; a revoked one frees its prefix."""
    actor = Actor(label="tests")
    first = services.create_app_password(actor, agent_a, "Téléphone")
    candidates = iter([first.clear, first.clear, "zzzzz-aaaaa-bbbbb-ccccc"])
    monkeypatch.setattr(services, "generate_app_password", lambda: next(candidates))
    second = services.create_app_password(actor, admin_a, "Portable")
    assert second.clear == "zzzzz-aaaaa-bbbbb-ccccc"
    assert AppPassword.objects.filter(user=admin_a).count() == 1
    services.revoke_app_password(actor, first.record)
    monkeypatch.setattr(services, "generate_app_password", lambda: first.clear)
    third = services.create_app_password(actor, admin_a, "Tablette")
    assert third.record.prefix == first.record.prefix
