"""Mail in the consoles, the CLI, the onboarding step and client autoconfiguration."""

from __future__ import annotations

import plistlib
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clocher.accounts.models import User
from clocher.cli import main
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Commune, CommuneStatus
from clocher.mail import services
from clocher.mail.models import Alias, Mailbox, MailTrafficDay
from clocher.onboarding import services as onboarding

ACTOR = Actor(label="tests")


@pytest.mark.django_db
def test_admin_creates_mailbox_and_alias_from_the_console(client_admin_a, commune_a, agent_a):
    url = reverse("mail:commune", kwargs={"insee": commune_a.insee})
    page = client_admin_a.get(url)
    assert page.status_code == 200 and "@communes.cotedor.fr" in page.content.decode()
    client_admin_a.post(
        url,
        {
            "action": "mailbox",
            "local_part": "Accueil",
            "domain": "communes.cotedor.fr",
            "kind": "shared",
            "member": str(agent_a.pk),
            "quota_mb": 512,
        },
    )
    mailbox = Mailbox.objects.get(address="accueil@communes.cotedor.fr")
    assert mailbox.user == agent_a and mailbox.quota_bytes == 512 * 1024**2
    assert mailbox.commune == commune_a
    client_admin_a.post(
        url,
        {
            "action": "alias",
            "local_part": "contact",
            "domain": "communes.cotedor.fr",
            "destinations": "accueil@communes.cotedor.fr, maire@example.org",
        },
    )
    alias = Alias.objects.get(address="contact@communes.cotedor.fr")
    assert alias.destinations == "accueil@communes.cotedor.fr,maire@example.org"
    duplicate = client_admin_a.post(
        url,
        {
            "action": "mailbox",
            "local_part": "contact",
            "domain": "communes.cotedor.fr",
            "kind": "personal",
            "member": "",
            "quota_mb": 100,
        },
    )
    assert "déjà prise" in duplicate.content.decode()
    toggle = reverse(
        "mail:mailbox_toggle", kwargs={"insee": commune_a.insee, "mailbox_id": mailbox.pk}
    )
    client_admin_a.post(toggle)
    mailbox.refresh_from_db()
    assert not mailbox.is_active
    assert AuditEntry.objects.filter(action="mail.mailbox_disabled").exists()


@pytest.mark.django_db
def test_bad_local_parts_are_refused(operator, commune_a):
    from django.core.exceptions import ValidationError

    for bad in (
        "é@communes.cotedor.fr",
        ".x@communes.cotedor.fr",
        "a..b@communes.cotedor.fr",
        "x@autre-domaine.fr",
        "pas une adresse",
    ):
        with pytest.raises(ValidationError):
            services.create_mailbox(ACTOR, commune_a, bad)
    assert not Mailbox.objects.exists()


@pytest.mark.django_db
def test_mailbox_quota_of_the_commune(operator, commune_a):
    from django.core.exceptions import ValidationError

    commune_a.quota_mailboxes = 1
    commune_a.save()
    services.create_mailbox(ACTOR, commune_a, "un@communes.cotedor.fr")
    with pytest.raises(ValidationError, match="Quota de boîtes"):
        services.create_mailbox(ACTOR, commune_a, "deux@communes.cotedor.fr")


@pytest.mark.django_db
def test_agent_and_other_commune_cannot_manage_mail(client_agent_a, client_admin_b, commune_a):
    url = reverse("mail:commune", kwargs={"insee": commune_a.insee})
    assert client_agent_a.get(url).status_code == 404
    assert client_admin_b.get(url).status_code == 404


@pytest.mark.django_db
def test_onboarding_mail_step_creates_the_function_mailbox(operator, client_operator):
    application = onboarding.submit_application(
        ACTOR,
        onboarding.ApplicationInput(
            insee="21425",
            contact_name="C",
            contact_email="c@montbard.test",
            agents_count=2,
            services=["mail"],
        ),
    )
    run = onboarding.approve(ACTOR, application)
    run.refresh_from_db()
    assert run.status == "done"
    commune = Commune.objects.get(insee="21425")
    assert commune.status == CommuneStatus.ACTIVE
    mailbox = Mailbox.objects.get(commune=commune, kind="function")
    assert mailbox.address == "mairie.montbard@communes.cotedor.fr"
    # Without the mail service, no mail step.
    other = onboarding.submit_application(
        ACTOR,
        onboarding.ApplicationInput(
            insee="21716",
            contact_name="V",
            contact_email="v@vougeot.test",
            agents_count=2,
            services=["vault"],
        ),
    )
    run = onboarding.approve(ACTOR, other)
    assert "mail" not in set(run.steps.values_list("name", flat=True))


@pytest.mark.django_db
def test_cli_mail_commands(operator, commune_a):
    runner = CliRunner()
    added = runner.invoke(
        main,
        [
            "mail",
            "mailbox",
            "add",
            "secretariat@communes.cotedor.fr",
            "--commune",
            commune_a.insee,
            "--quota",
            "1G",
        ],
    )
    assert added.exit_code == 0, added.output
    mailbox = Mailbox.objects.get(address="secretariat@communes.cotedor.fr")
    assert mailbox.quota_bytes == 1024**3
    password = runner.invoke(main, ["mail", "app-password", mailbox.address])
    assert password.exit_code == 0
    clear = password.output.strip().splitlines()[-1]
    from clocher.accounts.services import check_app_password

    assert check_app_password(mailbox.user.email, clear) == mailbox.user
    alias = runner.invoke(
        main,
        [
            "mail",
            "alias",
            "add",
            "info@communes.cotedor.fr",
            mailbox.address,
            "--commune",
            commune_a.insee,
        ],
    )
    assert alias.exit_code == 0, alias.output
    bad = runner.invoke(
        main, ["mail", "mailbox", "add", "x@ailleurs.fr", "--commune", commune_a.insee]
    )
    assert bad.exit_code == 1 and "n'est pas hébergé" in bad.output


@pytest.mark.django_db
def test_a_refused_mailbox_leaves_no_account_behind(client_admin_a, commune_a):
    """The page and the CLI make the account and the mailbox in one transaction."""
    commune_a.quota_mailboxes = 0
    commune_a.save(update_fields=["quota_mailboxes"])
    page = client_admin_a.post(
        reverse("mail:commune", kwargs={"insee": commune_a.insee}),
        {
            "action": "mailbox",
            "local_part": "orphelin",
            "domain": "communes.cotedor.fr",
            "kind": "personal",
            "member": "",
            "quota_mb": 100,
        },
    )
    assert "Quota de boîtes atteint" in page.content.decode()
    cli = CliRunner().invoke(
        main, ["mail", "mailbox", "add", "orphelin2@communes.cotedor.fr", "--commune", "21271"]
    )
    assert cli.exit_code == 1 and "Quota de boîtes atteint" in cli.output
    assert not User.objects.filter(email__startswith="orphelin").exists()
    assert not Mailbox.objects.filter(commune=commune_a).exists()


@pytest.mark.django_db
def test_cli_configure_writes_production_configs(operator, tmp_path):
    result = CliRunner().invoke(main, ["mail", "configure", "--target", str(tmp_path)])
    assert result.exit_code == 0, result.output
    main_cf = (tmp_path / "postfix/conf/main.cf").read_text()
    assert "virtual_mailbox_maps = proxy:" in main_cf
    assert "mailboxes.cf" in main_cf
    sql = (tmp_path / "dovecot/dovecot-sql.conf.ext").read_text()
    assert "password_query" in sql and "substr('%w', 1, 5)" in sql


@pytest.mark.django_db
def test_thunderbird_autoconfig(operator):
    response = Client().get("/.well-known/autoconfig/mail/config-v1.1.xml")
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    incoming = root.find("emailProvider/incomingServer")
    assert incoming.findtext("hostname") == "mail.communes.cotedor.fr"
    assert incoming.findtext("socketType") == "SSL"


@pytest.mark.django_db
def test_outlook_autodiscover(operator):
    body = (
        b'<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
        b'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>a@communes.cotedor.fr'
        b"</EMailAddress></Request></Autodiscover>"
    )
    response = Client().post("/autodiscover/autodiscover.xml", body, content_type="text/xml")
    assert response.status_code == 200
    assert b"<LoginName>a@communes.cotedor.fr</LoginName>" in response.content
    ET.fromstring(response.content)


@pytest.mark.django_db
def test_apple_mobileconfig(client_admin_a, commune_a):
    mailbox = services.create_mailbox(ACTOR, commune_a, "profil@communes.cotedor.fr")
    response = client_admin_a.get(
        reverse("mail:mobileconfig", kwargs={"insee": commune_a.insee, "mailbox_id": mailbox.pk})
    )
    profile = plistlib.loads(response.content)
    account = profile["PayloadContent"][0]
    assert account["EmailAddress"] == "profil@communes.cotedor.fr"
    assert account["IncomingMailServerUseSSL"] is True


@pytest.mark.django_db
def test_operator_mail_page_and_tile(client_operator, commune_a):
    services.create_mailbox(ACTOR, commune_a, "tile@communes.cotedor.fr")
    MailTrafficDay.objects.create(day=timezone.localdate(), received=7, sent=3)
    page = client_operator.get(reverse("mail:operator")).content.decode()
    assert commune_a.name in page
    dashboard = client_operator.get(reverse("core:operator_dashboard")).content.decode()
    assert "Boîtes aux lettres" in dashboard
    # SVG coordinates are read as numbers: a French decimal comma would break the charts.
    for html_page in (page, dashboard):
        assert '<rect x="' in html_page
        assert not re.search(r'(?:x|y|width|height)="[0-9]+,[0-9]', html_page)


@pytest.mark.django_db
def test_out_of_office_form(client_admin_a, commune_a, settings, tmp_path):
    settings.MAIL_DIR = tmp_path
    mailbox = services.create_mailbox(ACTOR, commune_a, "absent@communes.cotedor.fr")
    url = reverse("mail:out_of_office", kwargs={"insee": commune_a.insee, "mailbox_id": mailbox.pk})
    refused = client_admin_a.post(url, {"enabled": "on", "subject": "Absent", "body": ""})
    assert "Écrivez le texte" in refused.content.decode()
    client_admin_a.post(
        url, {"enabled": "on", "subject": 'Absent "vraiment"', "body": "De retour lundi."}
    )
    mailbox.refresh_from_db()
    assert mailbox.vacation_enabled
    script = (services.mailbox_home(mailbox, tmp_path / "vmail") / ".dovecot.sieve").read_text()
    assert 'vacation :days 1 :subject "Absent \\"vraiment\\""' in script
