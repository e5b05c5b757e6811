"""Archive pages: deposit by upload and from the vault, the seal shown with its
« non qualifié » label, the journal of each access, and one commune's archive invisible
to another's members."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clocher.archive import services
from clocher.archive.models import ArchivedObject, JournalEntry, RetentionRule
from clocher.vault import services as vault
from tests.archive.conftest import ACTOR, deposit, pdf
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def _form(**extra):
    rule = RetentionRule.objects.get(code="arretes")
    return {
        "title": "Arrêté de circulation rue du Four",
        "rule": rule.pk,
        "kind": "",
        "act_date": "2025-06-02",
        "author": "Le maire",
        **extra,
    }


def test_deposit_by_upload_shows_seal_and_warning(commune_a, agent_a):
    client = logged_in(agent_a)
    url = reverse("archive:list", kwargs={"insee": commune_a.insee})
    page = client.get(url).content.decode()
    assert "Déposer un acte" in page and "horodatage non qualifié" in page
    upload = SimpleUploadedFile("arrete.pdf", pdf("Arrêté"), content_type="application/pdf")
    response = client.post(url, _form(file=upload), follow=True)
    obj = ArchivedObject.objects.get()
    assert response.redirect_chain[-1][0].endswith(f"/archives/{obj.pk}/")
    page = response.content.decode()
    assert obj.sha256 in page and "horodatage non qualifié" in page
    assert "PDF/A" in page  # a plain PDF: the page says PDF/A is preferred
    assert obj.kind == "Arrêtés du maire" and obj.deposited_by == agent_a
    assert list(obj.journal.values_list("event", flat=True)) == ["depot", "consultation"]
    download = client.get(
        reverse("archive:download", kwargs={"insee": commune_a.insee, "object_id": obj.pk})
    )
    assert download.content == pdf("Arrêté")
    assert obj.journal.filter(event="telechargement").count() == 1


def test_deposit_from_a_vault_file(commune_a, admin_a):
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    node = vault.write_bytes(ACTOR, root, "arrete-coffre.pdf", pdf("coffre"))
    client = logged_in(admin_a)
    url = reverse("archive:list", kwargs={"insee": commune_a.insee})
    assert "/arrete-coffre.pdf" in client.get(url).content.decode()
    client.post(url, _form(vault_file=node.pk))
    obj = ArchivedObject.objects.get()
    assert obj.filename == "arrete-coffre.pdf" and obj.source == "coffre-fort : /arrete-coffre.pdf"


def test_bad_form_loses_nothing_and_says_why(commune_a, agent_a):
    client = logged_in(agent_a)
    url = reverse("archive:list", kwargs={"insee": commune_a.insee})
    response = client.post(url, _form())
    assert response.status_code == 200
    assert "l&#x27;un des deux" in response.content.decode()
    empty = SimpleUploadedFile("vide.pdf", b"", content_type="application/pdf")
    response = client.post(url, _form(file=empty))
    assert "vide" in response.content.decode()
    assert not ArchivedObject.objects.exists() and not JournalEntry.objects.exists()


def test_elected_members_read_but_do_not_deposit(commune_a):
    from clocher.core import services as core
    from tests.conftest import PASSWORD

    elected = core.add_member(ACTOR, commune_a, "elu@flavigny.test", "elected", invite=False)
    user = elected.membership.user
    user.set_password(PASSWORD)
    user.save()
    obj = deposit(commune_a)
    client = logged_in(user)
    url = reverse("archive:list", kwargs={"insee": commune_a.insee})
    page = client.get(url).content.decode()
    assert obj.reference in page and "Déposer un acte" not in page
    assert client.post(url, _form()).status_code == 404


def test_other_commune_sees_nothing(commune_a, commune_b, admin_b, agent_a):
    obj = deposit(commune_a, title="Délibération secrète de A")
    assert list(services.objects_for(admin_b, commune_a)) == []
    client = logged_in(admin_b)
    for name in ("detail", "download", "evidence"):
        url = reverse(f"archive:{name}", kwargs={"insee": commune_a.insee, "object_id": obj.pk})
        assert client.get(url).status_code == 404
        # Even through B's own commune in the URL, A's object is not found.
        url = reverse(f"archive:{name}", kwargs={"insee": commune_b.insee, "object_id": obj.pk})
        assert client.get(url).status_code == 404
    page = client.get(reverse("archive:list", kwargs={"insee": commune_b.insee})).content.decode()
    assert "secrète de A" not in page
    assert not obj.journal.exclude(event="depot").exists()  # no access was journalled


def test_operator_console_and_tile(client_operator, commune_a):
    deposit(commune_a)
    page = client_operator.get(reverse("archive:operator")).content.decode()
    assert "Règles de conservation" in page and "Délibérations du conseil municipal" in page
    assert "horodatage non qualifié" in page
    dashboard = client_operator.get(reverse("core:operator_dashboard")).content.decode()
    assert "Archivage probant" in dashboard and "Objets scellés" in dashboard


def test_operator_edits_a_rule_journalled(client_operator):
    rule = RetentionRule.objects.get(code="contrats-conventions")
    url = reverse("archive:rule_edit", kwargs={"rule_id": rule.pk})
    client_operator.post(url, {"years": "12", "final_fate": "destroy", "source": "délibération AD"})
    rule.refresh_from_db()
    assert rule.years == 12
    entry = JournalEntry.objects.get(event="regle_conservation")
    assert entry.data["avant"]["ans"] == 10 and entry.data["apres"]["ans"] == 12
    client_operator.post(url, {"years": "", "final_fate": "destroy", "source": ""})
    rule.refresh_from_db()
    assert rule.years == 12  # unlimited must mean keep: refused


def test_demo_deposits_a_pdfa_deliberation(commune_a, admin_a):
    from clocher.archive.hooks import demo_archive

    demo_archive(ACTOR, commune_a, admin_a)
    demo_archive(ACTOR, commune_a, admin_a)  # idempotent
    obj = ArchivedObject.objects.get()
    assert obj.puid == "fmt/477" and obj.long_term_fit  # PDF/A-2b, identified by FIDO
