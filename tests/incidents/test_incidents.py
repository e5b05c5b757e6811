"""The incident register: operator-only pages, the notice shown to the affected
communes' agents only while the incident is open, the journal, and the CNIL draft."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from clocher.core.models import AuditEntry
from clocher.incidents import cnil, services
from clocher.incidents.models import Incident
from tests.conftest import SYSTEM, logged_in

NOTICE = "Messagerie indisponible : vos courriels arrivent avec retard."


@pytest.fixture
def incident(commune_a) -> Incident:
    return services.open_incident(
        SYSTEM, "Panne de la messagerie", "Postfix, Dovecot", [commune_a], notice=NOTICE
    )


@pytest.mark.django_db
def test_operator_opens_follows_and_closes(client_operator, commune_a, commune_b):
    response = client_operator.post(
        "/operateur/incidents/",
        {
            "title": "Rançongiciel sur le coffre",
            "scope": "coffre-fort, WebDAV",
            "severity": "critique",
            "communes": [commune_a.pk, commune_b.pk],
            "notice": "",
        },
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/operateur/incidents/{incident.pk}/"
    assert sorted(c.insee for c in incident.communes.all()) == ["21271", "21716"]
    assert "Rançongiciel sur le coffre" in incident.notice  # the default notice

    url = f"/operateur/incidents/{incident.pk}/"
    client_operator.post(url + "action", {"text": "Serveur isolé du réseau"})
    client_operator.post(url + "avis", {"notice": "Coffre en lecture seule."})
    client_operator.post(url + "cloture", {"summary": "Restauré depuis la sauvegarde"})
    incident.refresh_from_db()
    assert incident.notice == "Coffre en lecture seule."
    assert incident.ended_at is not None
    assert [a.text for a in incident.actions.all()] == [
        "Serveur isolé du réseau",
        "Clôture : Restauré depuis la sauvegarde",
    ]
    page = client_operator.get(url).content.decode()
    assert "Serveur isolé du réseau" in page and "incident clos" in page
    journal = AuditEntry.objects.filter(target=f"incident n°{incident.pk}").order_by("seq")
    assert list(journal.values_list("action", flat=True)) == [
        "incident.open", "incident.action", "incident.notice", "incident.close",
    ]  # fmt: skip
    assert journal.first().data["communes"] == ["21271", "21716"]


@pytest.mark.django_db
def test_closing_twice_is_refused(client_operator, incident):
    services.close_incident(SYSTEM, incident)
    with pytest.raises(ValidationError, match="déjà clos"):
        services.close_incident(SYSTEM, incident)
    response = client_operator.post(f"/operateur/incidents/{incident.pk}/cloture", {}, follow=True)
    assert "déjà clos" in response.content.decode()


@pytest.mark.django_db
def test_pages_are_for_the_operator_only(incident, client_admin_a, client_agent_a):
    for client in (client_admin_a, client_agent_a):
        assert client.get("/operateur/incidents/").status_code == 404
        assert client.get(f"/operateur/incidents/{incident.pk}/").status_code == 404
        assert client.get(f"/operateur/incidents/{incident.pk}/cnil.txt").status_code == 404
    assert Client().get("/operateur/incidents/").status_code == 302  # to the login page


@pytest.mark.django_db
def test_notice_only_for_affected_communes_while_open(
    incident, commune_a, client_agent_a, client_admin_b, client_operator
):
    console_a = f"/c/{commune_a.insee}/"
    assert NOTICE in client_agent_a.get(console_a).content.decode()
    assert NOTICE in client_agent_a.get("/compte/").content.decode()  # every page of theirs
    assert NOTICE not in client_admin_b.get("/c/21716/").content.decode()
    assert NOTICE not in client_operator.get("/operateur/").content.decode()
    services.close_incident(SYSTEM, incident)
    assert NOTICE not in client_agent_a.get(console_a).content.decode()


@pytest.mark.django_db
def test_notice_not_for_a_former_member(incident, commune_a, agent_a):
    from clocher.core import services as core
    from clocher.core.models import Membership

    core.deactivate_member(SYSTEM, Membership.objects.get(user=agent_a, commune=commune_a))
    assert NOTICE not in logged_in(agent_a).get("/compte/").content.decode()


@pytest.mark.django_db
def test_banner_costs_nothing_when_not_shown(incident, django_assert_num_queries):
    """An anonymous page runs no incident query at all."""
    from django.template import Context, Template
    from django.test import RequestFactory

    from clocher.incidents.context_processors import incident_notices

    request = RequestFactory().get("/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        Template("{{ incident_notices }}").render(Context(incident_notices(request)))


@pytest.mark.django_db
def test_cnil_draft(operator, incident, admin_a, agent_a, settings, client_operator):
    settings.DPO_NAME, settings.DPO_EMAIL = "Claire Martin", "dpo@cotedor.fr"
    services.update_breach(
        SYSTEM,
        incident,
        personal_data=True,
        nature="Accès non autorisé aux boîtes aux lettres",
        person_categories="agents et élus",
        data_categories="courriels, carnets d'adresses",
        records_count=1200,
        consequences="divulgation de courriels",
        measures="mots de passe réinitialisés",
    )
    services.add_action(SYSTEM, incident, "Comptes suspendus")
    text = cnil.to_text(cnil.draft(incident))
    deadline = timezone.localtime(incident.detected_at + dt.timedelta(hours=72))
    assert f"avant le {deadline:%d/%m/%Y à %H:%M}" in text
    for expected in (
        "article 33 du RGPD",
        "Accès non autorisé aux boîtes aux lettres",
        "agents et élus",
        "Nombre : au plus 2 (comptes actifs",  # the admin and agent fixtures of A
        "Nombre : environ 1200",
        "Claire Martin, dpo@cotedor.fr",
        "divulgation de courriels",
        "mots de passe réinitialisés",
        "Comptes suspendus",
        "Flavigny-sur-Ozerain (21271)",
    ):
        assert expected in text, expected
    assert "Motifs du retard" not in text
    late = cnil.draft(incident, now=incident.detected_at + dt.timedelta(hours=73))
    assert late.late and "Motifs du retard" in cnil.to_text(late)

    response = client_operator.get(f"/operateur/incidents/{incident.pk}/cnil.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    page = client_operator.get(f"/operateur/incidents/{incident.pk}/").content.decode()
    assert f"{deadline:%d/%m/%Y à %H:%M}" in page


@pytest.mark.django_db
def test_unknown_commune_named():
    with pytest.raises(ValidationError, match="99999"):
        services.communes_from_codes(["99999"])


@pytest.mark.django_db
def test_cli(commune_a, tmp_path):
    """`clocher incident open|list|action|notice|close|cnil`."""
    from click.testing import CliRunner

    from clocher.cli import main

    def clocher(*args: str):  # noqa: ANN202
        return CliRunner().invoke(main, ["incident", *args])

    opened = clocher("open", "Coupure réseau", "--scope", "fibre", "--commune", "21271")
    assert opened.exit_code == 0, opened.output
    incident = Incident.objects.get()
    assert "Coupure réseau" in clocher("list").output
    assert clocher("action", str(incident.pk), "Opérateur appelé").exit_code == 0
    assert clocher("notice", str(incident.pk), "Réseau rétabli ce soir.").exit_code == 0
    assert clocher("close", str(incident.pk), "--summary", "fibre réparée").exit_code == 0
    incident.refresh_from_db()
    assert incident.notice == "Réseau rétabli ce soir." and incident.ended_at is not None
    assert incident.actions.count() == 2
    assert "Coupure réseau" not in clocher("list").output  # open ones only
    refused = clocher("open", "X", "--scope", "y", "--commune", "99999")
    assert refused.exit_code != 0 and "99999" in refused.output
    assert "article 33" in clocher("cnil", str(incident.pk)).output
    pdf = tmp_path / "cnil.pdf"
    assert clocher("cnil", str(incident.pk), "--pdf", str(pdf)).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
