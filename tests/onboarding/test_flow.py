"""Adhésion end to end: public form → review → provisioning steps → invitation."""

from __future__ import annotations

import zipfile

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from clocher.accounts.services import find_invitation
from clocher.core.models import AuditEntry, Commune, CommuneStatus, Membership
from clocher.onboarding import services, steps
from clocher.onboarding.models import Application, ProvisioningRun

FORM = {
    "insee": "21425",
    "siren": "",
    "contact_name": "Claire Martin",
    "contact_role": "Secrétaire de mairie",
    "contact_email": "Claire.Martin@montbard.test",
    "contact_phone": "03 80 00 00 00",
    "agents_count": "6",
    "services": ["mail", "vault"],
    "message": "Bonjour",
    "consent": "on",
}


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _apply(client: Client, **changes):
    return client.post(reverse("onboarding:apply"), {**FORM, **changes})


@pytest.mark.django_db
def test_full_flow(client_operator, django_capture_on_commit_callbacks):
    response = _apply(Client())
    assert response.status_code == 302 and response.headers["Location"] == "/adhesion/merci/"
    application = Application.objects.get()
    commune = application.commune
    assert commune.name == "Montbard" and commune.status == CommuneStatus.APPLIED
    assert application.services == ["mail", "vault"]
    detail = client_operator.get(
        reverse("onboarding:application", kwargs={"application_id": application.pk})
    )
    assert "Montbard" in detail.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        approved = client_operator.post(
            reverse("onboarding:application", kwargs={"application_id": application.pk}),
            {"action": "approve"},
        )
    run = ProvisioningRun.objects.get()
    assert approved.headers["Location"] == reverse("onboarding:run", kwargs={"run_id": run.pk})
    assert run.status == "done"
    assert [s.status for s in run.steps.all()] == ["done"] * run.steps.count()
    commune.refresh_from_db()
    assert commune.status == CommuneStatus.ACTIVE
    admin = Membership.objects.get(commune=commune, user__email="claire.martin@montbard.test")
    assert admin.role == "commune_admin" and admin.title == "Secrétaire de mairie"
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/invitation/" in line)
    token = link.strip().rstrip("/").rsplit("/", 1)[-1]
    assert find_invitation(token).user == admin.user
    page = client_operator.get(reverse("onboarding:run", kwargs={"run_id": run.pk}))
    assert "Terminé" in page.content.decode()
    actions = set(AuditEntry.objects.filter(commune=commune).values_list("action", flat=True))
    assert {
        "application.submitted",
        "application.approved",
        "provisioning.commune",
        "provisioning.admin",
        "member.added",
    } <= actions


@pytest.mark.django_db
def test_failing_step_then_retry_skips_done_steps(operator, client_operator):
    calls = {"n": 0}

    @steps.register_step("flaky", "Étape de test", position=15)
    def flaky(run, actor):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("serveur indisponible")
        return "ok au deuxième essai"

    try:
        _apply(Client())
        application = Application.objects.get()
        run = services.approve(services_actor(), application)
        run.refresh_from_db()
        assert run.status == "failed"
        by_name = {s.name: s for s in run.steps.all()}
        assert by_name["commune"].status == "done"
        assert by_name["flaky"].status == "failed"
        assert "serveur indisponible" in by_name["flaky"].error
        assert by_name["admin"].status == "pending"
        page = client_operator.get(reverse("onboarding:run", kwargs={"run_id": run.pk}))
        assert "serveur indisponible" in page.content.decode()
        client_operator.post(reverse("onboarding:run_retry", kwargs={"run_id": run.pk}))
        run.refresh_from_db()
        assert run.status == "done"
        by_name = {s.name: s for s in run.steps.all()}
        assert by_name["commune"].attempts == 1
        assert by_name["flaky"].attempts == 2 and by_name["flaky"].detail == "ok au deuxième essai"
    finally:
        steps.unregister_step("flaky")


def services_actor():
    from clocher.core.audit import Actor

    return Actor(label="tests")


@pytest.mark.django_db
def test_reject_needs_reason_and_returns_commune_to_prospect(
    operator, client_operator, django_capture_on_commit_callbacks
):
    _apply(Client())
    application = Application.objects.get()
    url = reverse("onboarding:application", kwargs={"application_id": application.pk})
    client_operator.post(url, {"action": "reject", "reason": ""})
    application.refresh_from_db()
    assert application.status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        client_operator.post(url, {"action": "reject", "reason": "Commune hors du département."})
    application.refresh_from_db()
    assert application.status == "rejected"
    assert application.commune.status == CommuneStatus.PROSPECT
    assert "hors du département" in mail.outbox[0].body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"insee": "2142"}, "Code INSEE invalide"),
        ({"insee": "99999"}, "inconnu du référentiel"),
        ({"siren": "212104252"}, "Luhn"),
        ({"contact_email": "pas-une-adresse"}, "adresse e-mail valide"),
        ({"services": []}, "obligatoire"),
        ({"consent": ""}, "obligatoire"),
    ],
)
def test_bad_input_is_refused_and_nothing_created(operator, changes, field_message):
    response = _apply(Client(), **changes)
    assert response.status_code == 200
    assert field_message in response.content.decode()
    assert not Application.objects.exists()
    assert not Commune.objects.exists()


@pytest.mark.django_db
def test_active_commune_cannot_apply_again(commune_a):
    response = _apply(Client(), insee=commune_a.insee)
    assert "déjà une demande ou une adhésion" in response.content.decode()
    assert not Application.objects.exists()


@pytest.mark.django_db
def test_prospect_becomes_applied(operator, make_commune):
    prospect = make_commune("21425", status=CommuneStatus.PROSPECT)
    _apply(Client())
    prospect.refresh_from_db()
    assert prospect.status == CommuneStatus.APPLIED


@pytest.mark.django_db
def test_form_is_csrf_protected(operator):
    response = Client(enforce_csrf_checks=True).post(reverse("onboarding:apply"), FORM)
    assert response.status_code == 403


@pytest.mark.django_db
def test_commune_lookup_fragment():
    response = Client().get(reverse("onboarding:commune_lookup"), {"insee": "21425"})
    assert "Montbard" in response.content.decode()
    unknown = Client().get(reverse("onboarding:commune_lookup"), {"insee": "99999"})
    assert "inconnu" in unknown.content.decode()


@pytest.mark.django_db
def test_applications_are_throttled_per_ip(operator):
    for insee in ("21425", "21716", "21271", "21603", "21231"):
        assert _apply(Client(), insee=insee).status_code == 302
    response = _apply(Client(), insee="21054")
    assert "Trop de demandes" in response.content.decode()


@pytest.mark.django_db
def test_suspend_keeps_data_and_hides_console(commune_a, admin_a, client_admin_a, client_operator):
    client_operator.post(
        reverse("onboarding:suspend", kwargs={"insee": commune_a.insee}), {"reason": "impayé"}
    )
    commune_a.refresh_from_db()
    assert commune_a.status == CommuneStatus.SUSPENDED
    assert Membership.objects.filter(commune=commune_a, is_active=True).exists()
    assert client_admin_a.get(f"/c/{commune_a.insee}/").status_code == 404
    client_operator.post(reverse("onboarding:reactivate", kwargs={"insee": commune_a.insee}))
    assert client_admin_a.get(f"/c/{commune_a.insee}/").status_code == 200


@pytest.mark.django_db
def test_departure_exports_then_closes(
    commune_a, admin_a, agent_a, client_operator, client_admin_a, client_admin_b
):
    url = reverse("onboarding:depart", kwargs={"insee": commune_a.insee})
    client_operator.post(url, {"confirm_name": "mauvais nom"})
    commune_a.refresh_from_db()
    assert commune_a.status == CommuneStatus.ACTIVE
    client_operator.post(url, {"confirm_name": commune_a.name})
    commune_a.refresh_from_db()
    assert commune_a.status == CommuneStatus.LEFT
    assert not Membership.objects.filter(commune=commune_a).exists()
    # Accounts that belonged only to this commune are deleted; the journal stays intact.
    from clocher.accounts.models import User
    from clocher.core import audit

    assert not User.objects.filter(email=agent_a.email).exists()
    assert audit.verify().ok
    download = client_operator.get(
        reverse("onboarding:export_download", kwargs={"insee": commune_a.insee})
    )
    assert download.status_code == 200
    import io

    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = set(archive.namelist())
    assert {"commune.json", "membres.json", "journal.json"} <= names
    assert agent_a.email in archive.read("membres.json").decode()
    assert "member.added" in archive.read("journal.json").decode()
    assert AuditEntry.objects.filter(action="commune.exported", commune=commune_a).exists()
    # Operator only: another commune's admin gets 404; A's admin's account is gone with A.
    url = reverse("onboarding:export_download", kwargs={"insee": commune_a.insee})
    assert client_admin_b.get(url).status_code == 404
    assert client_admin_a.get(url).status_code == 302
