"""The JSON API with real tokens: scoping, validation, revocation, schema."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import get_doc
from rest_framework.test import APIClient

from clocher.api import common
from clocher.api.models import ApiToken
from clocher.api.services import create_token, revoke_token
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Commune, Membership
from clocher.mail.services import open_mailbox
from tests.conftest import invitation_links

ACTOR = Actor(label="tests")


def client_for(user) -> APIClient:
    _, token = create_token(ACTOR, user, "tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.django_db
def test_operator_sees_all_communes_and_filters(operator_admin, commune_a, commune_b):
    client = client_for(operator_admin)
    body = client.get("/api/v1/communes/").json()
    assert {c["insee"] for c in body["results"]} == {commune_a.insee, commune_b.insee}
    filtered = client.get("/api/v1/communes/?status=suspended").json()
    assert filtered["count"] == 0


@pytest.mark.django_db
def test_commune_admin_sees_only_their_commune(admin_a, commune_a, commune_b, admin_b):
    client = client_for(admin_a)
    body = client.get("/api/v1/communes/").json()
    assert [c["insee"] for c in body["results"]] == [commune_a.insee]
    assert client.get(f"/api/v1/communes/{commune_b.insee}/").status_code == 404
    assert client.get(f"/api/v1/communes/{commune_b.insee}/members/").status_code == 404
    b_member = Membership.objects.get(user=admin_b, commune=commune_b)
    assert (
        client.get(f"/api/v1/communes/{commune_b.insee}/members/{b_member.pk}/").status_code == 404
    )
    # B's membership id under A's URL: still not found.
    assert (
        client.get(f"/api/v1/communes/{commune_a.insee}/members/{b_member.pk}/").status_code == 404
    )


@pytest.mark.django_db
def test_anonymous_revoked_and_expired_tokens_get_401(admin_a, commune_a):
    assert APIClient().get("/api/v1/communes/").status_code == 401
    record, token = create_token(ACTOR, admin_a, "jetable")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me/").status_code == 200
    revoke_token(ACTOR, record)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401 and "révoqué" in response.json()["detail"]
    record, token = create_token(ACTOR, admin_a, "courte", expires_days=1)
    ApiToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Bearer clo_not-a-token")
    assert client.get("/api/v1/me/").status_code == 401


@pytest.mark.django_db
def test_token_is_stored_hashed(admin_a):
    record, token = create_token(ACTOR, admin_a, "x")
    assert token not in record.key_hash and record.prefix == token[:12]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"insee": "123"}, "Code INSEE invalide"),
        ({"insee": "21425", "siren": "212104252"}, "Luhn"),
        ({"insee": "21271"}, "déjà enregistrée"),
    ],
)
def test_create_commune_bad_input(operator_admin, commune_a, payload, message):
    before = Commune.objects.count()
    response = client_for(operator_admin).post("/api/v1/communes/", payload, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert Commune.objects.count() == before


@pytest.mark.django_db
def test_create_commune_operator_only(operator_admin, admin_a):
    assert (
        client_for(admin_a).post("/api/v1/communes/", {"insee": "21425"}, format="json").status_code
        == 403
    )
    response = client_for(operator_admin).post(
        "/api/v1/communes/", {"insee": "21425"}, format="json"
    )
    assert response.status_code == 201 and response.json()["name"] == "Montbard"


@pytest.mark.django_db
def test_members_crud_with_audit(admin_a, commune_a, django_capture_on_commit_callbacks):
    client = client_for(admin_a)
    url = f"/api/v1/communes/{commune_a.insee}/members/"
    bad = client.post(url, {"email": "x@y.test", "role": "boss"}, format="json")
    assert bad.status_code == 400
    bad_mail = client.post(url, {"email": "pas-une-adresse", "role": "agent"}, format="json")
    assert bad_mail.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            url,
            {"email": "Nouveau@Flavigny.test", "role": "agent", "full_name": "Nouvel Agent"},
            format="json",
        )
    assert created.status_code == 201
    body = created.json()
    # The link is mailed to the person, never returned to the caller.
    assert body["email"] == "nouveau@flavigny.test" and body["invitation_sent"] is True
    assert "invitation_url" not in body and not invitation_links(created.content.decode())
    assert [m.to for m in mail.outbox] == [["nouveau@flavigny.test"]]
    assert len(invitation_links(mail.outbox[0].body)) == 1
    assert AuditEntry.objects.filter(action="member.added", target="nouveau@flavigny.test").exists()
    member_url = f"{url}{body['id']}/"
    assert client.patch(member_url, {"role": "elected"}, format="json").json()["role"] == "elected"
    assert (
        client.patch(member_url, {"is_active": False}, format="json").json()["is_active"] is False
    )
    assert client.delete(member_url).status_code == 204
    assert not Membership.objects.filter(pk=body["id"]).exists()
    # The last admin cannot remove themself.
    own = Membership.objects.get(user=admin_a, commune=commune_a)
    response = client.delete(f"{url}{own.pk}/")
    assert response.status_code == 400 and "dernier administrateur" in response.json()["detail"]


@pytest.mark.django_db
def test_agent_cannot_manage_members(agent_a, commune_a):
    client = client_for(agent_a)
    assert client.get(f"/api/v1/communes/{commune_a.insee}/members/").status_code == 404
    assert client.get(f"/api/v1/communes/{commune_a.insee}/").status_code == 200


@pytest.mark.django_db
def test_session_without_second_factor_is_not_enough(agent_a):
    client = APIClient()
    client.force_login(agent_a)
    assert client.get("/api/v1/me/").status_code == 401


@pytest.mark.django_db
def test_pagination(operator_admin, make_commune):
    for insee in ("21425", "21716", "21271", "21603"):
        make_commune(insee)
    body = client_for(operator_admin).get("/api/v1/communes/?limit=2&offset=2").json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["previous"]


def openapi_schema(tmp_path: Path) -> str:
    """The OpenAPI schema as drf-spectacular writes it, failing on any warning."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return out.read_text()


def test_openapi_schema_validates_without_warnings(tmp_path):
    text = openapi_schema(tmp_path)
    assert "/api/v1/communes/{insee}/members/" in text
    assert "bearer" in text


def test_every_list_is_a_page_with_its_parameters():
    """A script reads every list of /api/v1/ the same way (`?limit=&offset=` →
    `{count, next, previous, results}`): no operation answers a bare array, whose
    length nothing bounds."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    bare, unpaged = [], []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            for code, response in operation["responses"].items():
                bodies = response.get("content", {}).values()
                if code.startswith("2") and any(b["schema"].get("type") == "array" for b in bodies):
                    bare.append(name)
            listed = operation["responses"].get("200", {}).get("content", {}).values()
            refs = [b["schema"].get("$ref", "") for b in listed]
            names = {p["name"] for p in operation.get("parameters", [])}
            if any("/Paginated" in ref for ref in refs) and not {"limit", "offset"} <= names:
                unpaged.append(name)
    assert (bare, unpaged) == ([], [])


def test_no_operation_is_described_by_a_base_class_note():
    """The document's descriptions are the views' own; the base classes' docstrings are
    notes for developers, not for the scripts that read the document."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    notes = {get_doc(c) for c in vars(common).values() if isinstance(c, type)} - {""}
    leaked = [
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if operation.get("description") in notes
    ]
    assert leaked == []


@pytest.mark.django_db
def test_api_adding_another_communes_account_gives_no_link(
    admin_a, commune_a, commune_b, django_capture_on_commit_callbacks
):
    jean = open_mailbox(ACTOR, commune_b, "jean.dupont@communes.cotedor.fr").user
    url = f"/api/v1/communes/{commune_a.insee}/members/"
    with django_capture_on_commit_callbacks(execute=True):
        created = client_for(admin_a).post(
            url, {"email": jean.email, "role": "agent"}, format="json"
        )
    assert created.status_code == 201 and created.json()["invitation_sent"] is False
    assert not invitation_links(created.content.decode())
    assert not jean.invitations.filter(commune=commune_a).exists()
    assert [m.to for m in mail.outbox] == [[jean.email]]
    assert not invitation_links(mail.outbox[0].body)


@pytest.mark.django_db
def test_quota_beyond_the_column_is_refused_not_a_server_error(operator_admin, commune_a):
    """Found by the operator's Schemathesis pass: a quota above PostgreSQL's integer was a
    500 there (and stored on SQLite); it is a 400 naming the field, the quota unchanged."""
    url = f"/api/v1/communes/{commune_a.insee}/"
    client = client_for(operator_admin)
    for field, value in (("quota_mailboxes", 2**31), ("quota_storage_bytes", 2**63)):
        refused = client.patch(url, {field: value}, format="json")
        assert refused.status_code == 400 and field in refused.json(), (field, refused.content)
    commune_a.refresh_from_db()
    assert commune_a.quota_mailboxes == 50
    assert client.patch(url, {"quota_mailboxes": 2**31 - 1}, format="json").status_code == 200
