"""Elimination after expiry, in two steps: the commune admin proposes, the operator's
archivist gives the visa; then the bytes are destroyed and a certificate is journalled."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from clocher.archive import services, store
from clocher.archive.models import EliminationProposal, JournalEntry
from clocher.core import services as core_services
from clocher.core.audit import Actor
from clocher.core.models import Role
from tests.archive.conftest import ACTOR, deposit
from tests.conftest import PASSWORD, logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def archivist(operator):
    membership = core_services.add_operator_member(
        ACTOR, "archiviste@cotedor.fr", Role.OPERATOR_ARCHIVIST
    )
    membership.user.set_password(PASSWORD)
    membership.user.save()
    return membership.user


def test_elimination_needs_expiry_proposal_and_visa(
    commune_a, admin_a, archivist, operator_admin, django_capture_on_commit_callbacks
):
    expired = deposit(commune_a, code="contrats-conventions", act_date=date(2012, 5, 2))
    forever = deposit(
        commune_a, title="Délibération", code="deliberations", act_date=date(1990, 1, 1)
    )
    assert services.is_expired(expired) and not services.is_expired(forever)
    with pytest.raises(ValidationError, match="définitivement"):
        services.propose_elimination(Actor(user=admin_a), forever, "vieux")

    proposal = services.propose_elimination(Actor(user=admin_a), expired, "Contrat échu")
    with pytest.raises(ValidationError, match="attend déjà"):
        services.propose_elimination(Actor(user=admin_a), expired, "encore")
    # Without the archivist's visa, nothing happens: not the admin, not the operator admin.
    for who in (admin_a, operator_admin, None):
        with pytest.raises(ValidationError, match="archiviste"):
            services.approve_elimination(Actor(user=who), proposal)
    assert store.archive_store().exists(expired.blob_key)

    with django_capture_on_commit_callbacks(execute=True):  # bytes go once committed
        certificate = services.approve_elimination(Actor(user=archivist), proposal, "Visa AD21")
    expired.refresh_from_db()
    assert expired.state == "eliminated" and expired.eliminated_at is not None
    assert not store.archive_store().exists(expired.blob_key)
    entry = JournalEntry.objects.filter(archived_object=expired, event="elimination").get()
    assert entry.data == certificate
    assert certificate["sha256"] == expired.sha256
    assert certificate["vise_par"] == "archiviste@cotedor.fr"
    assert certificate["propose_par"] == "secretaire@flavigny.test"
    assert certificate["octets_detruits"] is True
    with pytest.raises(ValidationError, match="éliminé"):
        services.read_document(ACTOR, expired)
    # The notice and the chain stay; the audit no longer expects the bytes.
    assert services.audit_integrity(ACTOR).ok
    with pytest.raises(ValidationError, match="déjà été traitée"):
        services.approve_elimination(Actor(user=archivist), proposal)


def test_elimination_through_the_pages(
    commune_a, admin_a, agent_a, archivist, operator_admin, django_capture_on_commit_callbacks
):
    obj = deposit(commune_a, code="pieces-comptables", act_date=date(2010, 12, 31))
    detail = reverse("archive:detail", kwargs={"insee": commune_a.insee, "object_id": obj.pk})
    propose = reverse("archive:propose", kwargs={"insee": commune_a.insee, "object_id": obj.pk})
    assert "Proposer l'élimination" in logged_in(admin_a).get(detail).content.decode()
    assert logged_in(agent_a).post(propose, {"reason": "x"}).status_code == 404  # admins only
    logged_in(admin_a).post(propose, {"reason": "Pièces de 2010"})
    proposal = EliminationProposal.objects.get(archived_object=obj)

    visa = reverse("archive:visa", kwargs={"proposal_id": proposal.pk})
    page = logged_in(operator_admin).post(visa, {"decision": "approve"}, follow=True)
    assert "est réservé à l" in page.content.decode()
    page = logged_in(archivist).get(reverse("archive:operator")).content.decode()
    assert "Viser l'élimination" in page and obj.reference in page
    with django_capture_on_commit_callbacks(execute=True):
        logged_in(archivist).post(visa, {"decision": "approve", "note": "Visa n°2026-14"})
    obj.refresh_from_db()
    assert not store.archive_store().exists(obj.blob_key)
    assert obj.state == "eliminated"
    assert JournalEntry.objects.filter(archived_object=obj, event="elimination").exists()
    assert "Télécharger le document" not in logged_in(admin_a).get(detail).content.decode()


def test_refused_visa_keeps_the_document(commune_a, admin_a, archivist):
    obj = deposit(commune_a, code="pieces-comptables", act_date=date(2010, 12, 31))
    proposal = services.propose_elimination(Actor(user=admin_a), obj, "Pièces de 2010")
    services.refuse_elimination(Actor(user=archivist), proposal, "Intérêt historique")
    obj.refresh_from_db()
    assert obj.state == "sealed" and services.read_document(ACTOR, obj)
    assert JournalEntry.objects.filter(archived_object=obj, event="refus_elimination").exists()
