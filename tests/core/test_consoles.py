"""Operator and commune consoles: the right people see them, others get nothing."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clocher.core import reference, services, tiles
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Commune, CommuneStatus, Membership

ACTOR = Actor(label="tests")


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.mark.django_db
def test_operator_dashboard_shows_real_tiles_only(client_operator, commune_a):
    page = client_operator.get(reverse("core:operator_dashboard")).content.decode()
    assert "Communes" in page and "Adhésions" in page
    # Services not built yet say so (none once every service is in); no invented figures.
    planned = [t for t in tiles.all_tiles() if not t.available]
    assert page.count("Pas encore en service.") == len(planned)
    assert all(f"<h2>{t.title}</h2>" in page or t.title in page for t in tiles.all_tiles())
    assert "<svg" in page and "Active : 1" in page


@pytest.mark.django_db
def test_operator_pages_refuse_commune_people(client_admin_a, client_agent_a, commune_a):
    for name in (
        "core:operator_dashboard",
        "core:operator_communes",
        "core:operator_prospects",
        "core:operator_audit",
    ):
        assert client_admin_a.get(reverse(name)).status_code == 404
        assert client_agent_a.get(reverse(name)).status_code == 404


@pytest.mark.django_db
def test_commune_list_filters_and_flags_commercial_mail(client_operator, make_commune):
    make_commune("21271")
    make_commune("21716", status=CommuneStatus.PROSPECT)
    page = client_operator.get(reverse("core:operator_communes"), {"status": "prospect"})
    body = page.content.decode()
    assert "Vougeot" in body and "Flavigny" not in body
    search = client_operator.get(reverse("core:operator_communes"), {"q": "flav"}).content.decode()
    assert "Flavigny-sur-Ozerain" in search


@pytest.mark.django_db
def test_quotas_form(client_operator, commune_a, admin_a):
    url = reverse("core:operator_commune", kwargs={"insee": commune_a.insee})
    client_operator.post(url, {"storage_gib": 10, "mailboxes": 20, "members": 30})
    commune_a.refresh_from_db()
    assert commune_a.quota_members == 30 and commune_a.quota_storage_bytes == 10 * 1024**3
    refused = client_operator.post(url, {"storage_gib": 10, "mailboxes": 20, "members": 0})
    assert refused.status_code == 200
    commune_a.refresh_from_db()
    assert commune_a.quota_members == 30


@pytest.mark.django_db
def test_load_department_is_idempotent(client_operator):
    expected = len(reference.department_communes("21"))
    assert expected == 698
    client_operator.post(reverse("core:operator_prospects"))
    assert Commune.objects.filter(status=CommuneStatus.PROSPECT).count() == 698
    client_operator.post(reverse("core:operator_prospects"))
    assert Commune.objects.count() == 698
    page = client_operator.get(reverse("core:operator_prospects")).content.decode()
    commercial, total = services.commercial_mail_count()
    assert 0 < commercial < total
    assert f"{commercial} mairie(s) sur {total}" in page


@pytest.mark.django_db
def test_invite_member_flow(client_admin_a, commune_a):
    url = reverse("core:commune_members", kwargs={"insee": commune_a.insee})
    response = client_admin_a.post(
        url,
        {
            "email": "Nouvel.Agent@flavigny.test",
            "full_name": "Nouvel Agent",
            "role": "agent",
            "title": "Agent technique",
        },
    )
    body = response.content.decode()
    assert 'id="invitation-link"' in body
    membership = Membership.objects.get(commune=commune_a, user__email="nouvel.agent@flavigny.test")
    assert membership.title == "Agent technique"
    assert AuditEntry.objects.filter(action="member.added", target=membership.user.email).exists()
    duplicate = client_admin_a.post(url, {"email": "nouvel.agent@flavigny.test", "role": "agent"})
    assert "déjà membre" in duplicate.content.decode()


@pytest.mark.django_db
def test_member_actions_and_last_admin_guard(client_admin_a, commune_a, admin_a, agent_a):
    def url(name, membership):
        return reverse(name, kwargs={"insee": commune_a.insee, "membership_id": membership.pk})

    agent = Membership.objects.get(user=agent_a)
    admin = Membership.objects.get(user=admin_a)
    client_admin_a.post(url("core:commune_member_role", agent), {"role": "elected"})
    agent.refresh_from_db()
    assert agent.role == "elected"
    client_admin_a.post(url("core:commune_member_toggle", agent))
    agent.refresh_from_db()
    assert not agent.is_active
    page = client_admin_a.post(
        url("core:commune_member_role", admin), {"role": "agent"}, follow=True
    )
    assert "dernier administrateur" in page.content.decode()
    admin.refresh_from_db()
    assert admin.role == "commune_admin"
    client_admin_a.post(url("core:commune_member_remove", agent))
    assert not Membership.objects.filter(pk=agent.pk).exists()


@pytest.mark.django_db
def test_other_commune_ids_are_not_found(client_admin_a, commune_a, commune_b, admin_b):
    b_member = Membership.objects.get(user=admin_b)
    for name in (
        "core:commune_member_role",
        "core:commune_member_toggle",
        "core:commune_member_remove",
    ):
        under_a = reverse(name, kwargs={"insee": commune_a.insee, "membership_id": b_member.pk})
        assert client_admin_a.post(under_a, {"role": "agent"}).status_code == 404
    b_member.refresh_from_db()
    assert b_member.is_active and b_member.role == "commune_admin"
    assert client_admin_a.get(f"/c/{commune_b.insee}/").status_code == 404


@pytest.mark.django_db
def test_agent_sees_console_but_not_member_admin(client_agent_a, commune_a):
    assert client_agent_a.get(f"/c/{commune_a.insee}/").status_code == 200
    assert client_agent_a.get(f"/c/{commune_a.insee}/membres/").status_code == 404
    assert client_agent_a.get(f"/c/{commune_a.insee}/membres/import/").status_code == 404


@pytest.mark.django_db
def test_resend_invitation(client_admin_a, commune_a, django_capture_on_commit_callbacks):
    added = services.add_member(ACTOR, commune_a, "pending@flavigny.test", "agent")
    url = reverse(
        "core:commune_member_invite",
        kwargs={"insee": commune_a.insee, "membership_id": added.membership.pk},
    )
    with django_capture_on_commit_callbacks(execute=True):
        client_admin_a.post(url)
    assert len(mail.outbox) == 1 and "/invitation/" in mail.outbox[0].body


def _seed(commune, n: int) -> None:
    for i in range(n):
        services.add_member(ACTOR, commune, f"agent{i}@flavigny.test", "agent", invite=False)


@pytest.mark.django_db
def test_member_list_query_count_is_constant(client_admin_a, commune_a, django_assert_num_queries):
    url = reverse("core:commune_members", kwargs={"insee": commune_a.insee})
    client_admin_a.get(url)  # warm caches (session, reference)
    _seed(commune_a, 3)
    with django_assert_num_queries(10) as small:
        client_admin_a.get(url)
    _seed_more = 30
    for i in range(3, _seed_more):
        services.add_member(ACTOR, commune_a, f"agent{i}@flavigny.test", "agent", invite=False)
    with django_assert_num_queries(len(small.captured_queries)):
        client_admin_a.get(url)


@pytest.mark.django_db
def test_operator_dashboard_query_count_is_constant(
    client_operator, make_commune, django_assert_num_queries
):
    url = reverse("core:operator_dashboard")
    client_operator.get(url)
    make_commune("21271")
    # Each service's tile adds its own few queries: what matters is that the count does
    # not grow with the number of communes.
    with CaptureQueriesContext(connection) as small:
        client_operator.get(url)
    assert len(small.captured_queries) <= 40
    for insee in ("21716", "21603", "21425", "21231", "21054"):
        make_commune(insee)
    services.load_department_prospects(ACTOR, "21")
    with django_assert_num_queries(len(small.captured_queries)):
        client_operator.get(url)
