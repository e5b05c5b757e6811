"""The erasure flow in pages: the commune admin (or the operator) sees what goes and what
the law keeps before confirming, confirms by typing the address, and the erasure is
journalled; another commune's admin reaches nothing; a person of two communes is the
operator's to erase. And the agent's own « exporter mes données »."""

from __future__ import annotations

import html
import io
import json
import zipfile

import pytest
from django.urls import reverse

from clocher.accounts.models import User
from clocher.core import services as core
from clocher.core.models import AuditEntry, Membership, Role
from tests.conftest import SYSTEM, logged_in

pytestmark = pytest.mark.django_db


def _text(response) -> str:  # noqa: ANN001
    return html.unescape(response.content.decode())


def _erasure_url(commune, user) -> str:
    membership = Membership.objects.get(commune=commune, user=user)
    return reverse(
        "governance:commune_erasure",
        kwargs={"insee": commune.insee, "membership_id": membership.pk},
    )


def test_admin_sees_what_goes_and_what_is_kept_then_confirms(
    commune_a, admin_a, agent_a, client_admin_a
):
    listing = client_admin_a.get(
        reverse("governance:commune_erasure_list", kwargs={"insee": commune_a.insee})
    )
    url = _erasure_url(commune_a, agent_a)
    assert listing.status_code == 200 and url in _text(listing)
    page = _text(client_admin_a.get(url))
    assert "Ce qui sera effacé" in page and "Ce que la loi conserve" in page
    assert "archives scellées (code du patrimoine)" in page
    assert "journal d'audit" in page and agent_a.email in page

    # A slip is not a confirmation: nothing erased, the reason named.
    wrong = client_admin_a.post(url, {"confirmation": "agent", "demande": "courrier du 2/12"})
    assert wrong.status_code == 400
    assert "tapez exactement l'adresse" in _text(wrong)
    assert User.objects.filter(pk=agent_a.pk).exists()

    done = client_admin_a.post(
        url, {"confirmation": agent_a.email.upper(), "demande": "courrier du 2/12"}
    )
    assert done.status_code == 302
    assert not User.objects.filter(email=agent_a.email).exists()
    entry = AuditEntry.objects.get(action="governance.subject_erased")
    assert (entry.commune_insee, entry.target) == (commune_a.insee, agent_a.email)
    assert entry.actor_label == admin_a.email or entry.actor_id == admin_a.pk
    assert entry.data["demande"] == "courrier du 2/12"
    assert "archives scellées (code du patrimoine)" in entry.data["conserve"]


def test_last_admin_is_shown_as_blocked(commune_a, admin_a, client_admin_a):
    page = client_admin_a.get(_erasure_url(commune_a, admin_a)).content.decode()
    assert "Effacement impossible pour l'instant" in page
    assert "dernier administrateur actif" in page
    assert 'name="confirmation"' not in page
    refused = client_admin_a.post(_erasure_url(commune_a, admin_a), {"confirmation": admin_a.email})
    assert refused.status_code == 400
    assert User.objects.filter(pk=admin_a.pk).exists()


def test_other_commune_admin_reaches_nothing(commune_a, agent_a, admin_b, client_admin_b):
    url = _erasure_url(commune_a, agent_a)
    assert client_admin_b.get(url).status_code == 404
    assert client_admin_b.post(url, {"confirmation": agent_a.email}).status_code == 404
    # Through B's own pages, with A's membership id: not found either.
    own = reverse(
        "governance:commune_erasure",
        kwargs={
            "insee": admin_b.memberships.get().commune.insee,
            "membership_id": Membership.objects.get(user=agent_a).pk,
        },
    )
    assert client_admin_b.post(own, {"confirmation": agent_a.email}).status_code == 404
    assert User.objects.filter(pk=agent_a.pk).exists()
    agent = logged_in(agent_a)  # an agent is no admin, even of their own commune
    assert agent.get(url).status_code == 404


def test_person_of_two_communes_is_the_operators(
    commune_a, commune_b, agent_a, client_admin_a, client_operator
):
    core.add_member(SYSTEM, commune_b, agent_a.email, Role.AGENT, invite=False)
    url = _erasure_url(commune_a, agent_a)
    refused = client_admin_a.post(url, {"confirmation": agent_a.email})
    assert refused.status_code == 400
    assert f"aussi membre de {commune_b.name}" in _text(refused)
    assert Membership.objects.filter(user=agent_a).count() == 2

    operator_url = reverse("governance:operator_erasure")
    page = _text(client_operator.get(operator_url, {"email": agent_a.email}))
    assert commune_a.name in page and commune_b.name in page
    assert client_operator.get(operator_url, {"email": "personne@nulle.part"}).status_code == 404
    done = client_operator.post(
        operator_url, {"email": agent_a.email, "confirmation": agent_a.email}
    )
    assert done.status_code == 302
    assert not User.objects.filter(email=agent_a.email).exists()
    entry = AuditEntry.objects.get(action="governance.subject_erased")
    assert entry.commune_insee in ("", None)  # the operator's act, for every commune


def test_agent_exports_own_data(agent_a, client_agent_a):
    url = reverse("governance:my_data")
    page = client_agent_a.get(url)
    assert page.status_code == 200 and "Télécharger mes données" in _text(page)
    response = client_agent_a.post(url)
    assert response.status_code == 200
    assert "mes-donnees-clocher.zip" in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert json.loads(archive.read("compte.json"))["adresse"] == agent_a.email
    entry = AuditEntry.objects.get(action="governance.subject_exported")
    assert entry.target == agent_a.email
