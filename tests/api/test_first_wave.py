"""The first-wave services in the JSON API: each route scoped as its page, each change
journalled by its service, bad input refused in French and nothing written."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest

from clocher.accounts.models import AppPassword
from clocher.archive import services as archive
from clocher.archive.models import ArchivedObject, RetentionRule
from clocher.core.models import AuditEntry, Role
from clocher.mail.models import Alias, Mailbox
from clocher.shield import services as shield
from clocher.vault import services as vault
from clocher.vault.models import ShareLink
from tests.api.test_api import ACTOR, client_for
from tests.conftest import _member


@pytest.mark.django_db
def test_mailboxes_and_aliases_for_the_admin_only(admin_a, agent_a, commune_a, admin_b):
    admin, base = client_for(admin_a), f"/api/v1/communes/{commune_a.insee}/mail/"
    created = admin.post(
        f"{base}mailboxes/",
        {"address": "accueil@communes.cotedor.fr", "kind": "shared", "owner": agent_a.email},
        format="json",
    )
    assert created.status_code == 201, created.content
    box = created.json()
    assert box["owner"] == agent_a.email and box["quota_bytes"] == 2 * 1024**3
    again = admin.post(f"{base}mailboxes/", {"address": box["address"]}, format="json")
    assert again.status_code == 400 and "déjà prise" in again.json()["detail"]
    stranger = admin.post(
        f"{base}mailboxes/",
        {"address": "autre@communes.cotedor.fr", "owner": admin_b.email},
        format="json",
    )
    assert stranger.status_code == 400 and "n'est pas membre" in stranger.json()["detail"]
    assert not Mailbox.objects.filter(address="autre@communes.cotedor.fr").exists()
    url = f"{base}mailboxes/{box['id']}/"
    too_small = admin.patch(url, {"quota_bytes": 1024}, format="json")
    assert too_small.status_code == 400 and "quota_bytes" in too_small.json()
    assert admin.patch(url, {"quota_bytes": 50 * 1024**2}, format="json").status_code == 200
    assert admin.post(f"{url}disable/").json()["is_active"] is False
    assert Mailbox.objects.get(pk=box["id"]).quota_bytes == 50 * 1024**2
    actions = set(AuditEntry.objects.filter(target=box["address"]).values_list("action", flat=True))
    assert {"mail.mailbox_created", "mail.mailbox_quota", "mail.mailbox_disabled"} <= actions
    alias = admin.post(
        f"{base}aliases/",
        {"address": "conseil@communes.cotedor.fr", "destinations": [box["address"]]},
        format="json",
    ).json()
    assert alias["destinations"] == [box["address"]]
    assert admin.delete(f"{base}aliases/{alias['id']}/").status_code == 204
    assert not Alias.objects.filter(pk=alias["id"]).exists()
    # An agent reaches neither the list nor a mailbox, as on the pages.
    agent = client_for(agent_a)
    assert agent.get(f"{base}mailboxes/").status_code == 404
    assert agent.post(f"{url}enable/").status_code == 404


@pytest.mark.django_db
def test_a_new_accounts_invitation_goes_to_the_address_given(
    admin_a, commune_a, django_capture_on_commit_callbacks
):
    from django.core import mail

    admin, base = client_for(admin_a), f"/api/v1/communes/{commune_a.insee}/mail/"
    with django_capture_on_commit_callbacks(execute=True):
        created = admin.post(
            f"{base}mailboxes/",
            {"address": "jean.dupont@communes.cotedor.fr", "invite_to": "jean@ancienne.example"},
            format="json",
        )
    assert created.status_code == 201, created.content
    assert [m.to for m in mail.outbox] == [["jean@ancienne.example"]]
    entry = AuditEntry.objects.get(action="member.added", target="jean.dupont@communes.cotedor.fr")
    assert entry.data["invitation_to"] == "jean@ancienne.example"
    wrong = admin.post(
        f"{base}mailboxes/",
        {"address": "paul@communes.cotedor.fr", "invite_to": "pas une adresse"},
        format="json",
    )
    assert wrong.status_code == 400 and "invite_to" in wrong.json()
    assert not Mailbox.objects.filter(address="paul@communes.cotedor.fr").exists()


@pytest.mark.django_db
def test_typed_input_and_pagination_are_strict(admin_a, commune_a):
    admin = client_for(admin_a)
    wrong = admin.post("/api/v1/me/app-passwords/", {"name": 0}, format="json")
    assert wrong.status_code == 400 and "texte" in wrong.json()["name"][0]
    base = f"/api/v1/communes/{commune_a.insee}/members/"
    for bad in ("abc", "-1", "1.5", "0x10", "99999999999"):
        answer = admin.get(f"{base}?offset={bad}")
        assert answer.status_code == 400, bad
        assert "entier attendu" in answer.json()["offset"][0]
    assert admin.get(f"{base}?limit=0").status_code == 400
    unknown_status = admin.get("/api/v1/communes/?status=dormante")
    assert unknown_status.status_code == 400 and "active" in unknown_status.json()["status"][0]
    assert admin.get("/api/v1/communes/?status=active").json()["count"] == 1
    assert admin.get(f"{base}?limit=1&offset=0").json()["count"] == 1
    unknown = admin.get(f"{base}abc/")
    assert unknown.status_code == 404 and unknown["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_app_password_shown_once_and_revoked_by_its_owner_only(agent_a, admin_a):
    agent = client_for(agent_a)
    created = agent.post("/api/v1/me/app-passwords/", {"name": "Téléphone"}, format="json")
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    clear = created.json()["password"]
    assert len(clear) == 23 and clear.startswith(created.json()["prefix"])
    listed = agent.get("/api/v1/me/app-passwords/").json()["results"]
    assert [p["name"] for p in listed] == ["Téléphone"] and "password" not in listed[0]
    revoke = f"/api/v1/me/app-passwords/{created.json()['id']}/revoke/"
    assert client_for(admin_a).post(revoke).status_code == 404
    assert agent.post(revoke).json()["revoked_at"] is not None
    assert AppPassword.objects.get(pk=created.json()["id"]).revoked_at is not None


@pytest.mark.django_db
def test_vault_usage_and_share_links_of_the_persons_spaces(agent_a, admin_a, commune_a):
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    node = vault.write_bytes(ACTOR, root, "budget.txt", b"12345")
    agent, base = client_for(agent_a), f"/api/v1/communes/{commune_a.insee}/vault/"
    usage = agent.get(f"{base}usage/").json()
    assert usage["used_bytes"] == 5 and usage["files"] == 1
    assert {s["kind"] for s in usage["spaces"]} == {"commune", "personal"}
    created = agent.post(f"{base}nodes/{node.pk}/shares/", {"mode": "read"}, format="json")
    assert created.status_code == 201 and "/partage/" in created.json()["url"]
    drop = agent.post(f"{base}nodes/{node.pk}/shares/", {"mode": "drop"}, format="json")
    assert drop.status_code == 400 and "dossier" in drop.json()["detail"]
    past = agent.post(f"{base}nodes/{node.pk}/shares/", {"expires_on": "2020-01-01"}, format="json")
    assert past.status_code == 400
    assert agent.post(f"{base}nodes/{root.pk}/shares/", {}, format="json").status_code == 404
    listed = agent.get(f"{base}shares/").json()["results"]
    assert [s["path"] for s in listed] == ["/budget.txt"]
    assert agent.post(f"{base}shares/{listed[0]['id']}/revoke/").status_code == 200
    assert ShareLink.objects.get(pk=listed[0]["id"]).revoked_at is not None
    assert agent.get(f"{base}shares/").json()["count"] == 0
    assert AuditEntry.objects.filter(action="vault.share_revoked").count() == 1


@pytest.mark.django_db
def test_archive_deposit_detail_and_evidence(agent_a, commune_a, monkeypatch):
    agent, base = client_for(agent_a), f"/api/v1/communes/{commune_a.insee}/archive/objects/"
    form = {"title": "Délibération budget", "rule": "deliberations", "author": "Le conseil"}
    pdf = io.BytesIO(b"%PDF-1.4 budget")
    pdf.name = "budget.pdf"
    created = agent.post(base, {**form, "act_date": "2026-12-01", "file": pdf}, format="multipart")
    assert created.status_code == 201, created.content
    obj = created.json()
    assert obj["rule"] == "deliberations" and obj["state"] == "sealed"
    evidence = agent.get(f"{base}{obj['id']}/evidence/")
    assert evidence.status_code == 200 and evidence["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(evidence.content)).namelist()
    assert "horodatage.tsr" in names and "document/budget.pdf" in names
    assert agent.get(f"{base}{obj['id']}/").json()["reference"] == obj["reference"]
    neither = agent.post(base, {**form, "act_date": "2026-12-01"}, format="multipart")
    assert neither.status_code == 400
    monkeypatch.setattr(archive, "MAX_DEPOSIT_BYTES", 4)
    big = io.BytesIO(b"%PDF-1.4 trop gros")
    big.name = "gros.pdf"
    too_big = agent.post(base, {**form, "act_date": "2026-12-01", "file": big}, format="multipart")
    assert too_big.status_code == 413
    assert ArchivedObject.objects.count() == 1


@pytest.mark.django_db
def test_elected_members_and_the_operator_do_not_deposit(commune_a, operator_admin):
    elected = _member(commune_a, "maire@flavigny.test", Role.ELECTED)
    rule = RetentionRule.objects.get(code="deliberations")
    archive.deposit(
        ACTOR,
        commune_a,
        archive.DepositInput("Acte", rule.label, date(2026, 1, 5), "Le maire", rule, "a.pdf", b"%"),
    )
    base = f"/api/v1/communes/{commune_a.insee}/archive/objects/"
    for who in (elected, operator_admin):
        client = client_for(who)
        assert client.get(base).json()["count"] == 1
        refused = client.post(base, {"title": "x"}, format="multipart")
        assert refused.status_code == 403 and "opérateur" in refused.json()["detail"]


@pytest.mark.django_db
def test_boxes_and_report_for_the_admin_and_the_operator(
    admin_a, agent_a, commune_a, operator_admin
):
    from clocher_box import protocol

    key = protocol.public_key_b64(protocol.new_private_key())
    box = shield.enroll(shield.issue_token(ACTOR, commune_a).token, key, "boitier-mairie", "1")
    admin, base = client_for(admin_a), f"/api/v1/communes/{commune_a.insee}/shield/"
    listed = admin.get(f"{base}boxes/").json()["results"]
    assert [b["hostname"] for b in listed] == ["boitier-mairie"]
    assert admin.get(f"{base}boxes/{box.pk}/").json()["online"] is True
    report = admin.get(f"{base}report/?month=2026-11").json()
    assert report["month"] == "2026-11" and report["flows"] == 0 and len(report["daily"]) == 30
    for bad in ("2026-13", "2026-1", "9999-12", ""):
        answer = admin.get(f"{base}report/?month={bad}")
        assert answer.status_code == 400 and "AAAA-MM" in answer.json()["month"][0], bad
    assert client_for(agent_a).get(f"{base}boxes/").status_code == 404
    assert admin.get("/api/v1/shield/boxes/").status_code == 403
    operator = client_for(operator_admin)
    assert operator.get("/api/v1/shield/boxes/").json()["count"] == 1
    assert operator.get("/api/v1/shield/report/").status_code == 200
