"""Shared mailboxes, forwarding, a commune's own domain, traffic figures and the departure
export, each through the real Postfix, Dovecot and rspamd."""

from __future__ import annotations

import imaplib
import smtplib
import zipfile

import pytest
from django.urls import reverse

from clocher.accounts.services import create_app_password, get_or_create_user
from clocher.core import staging
from clocher.core.models import Membership, Role
from clocher.mail import dns, services, traffic
from clocher.mail.models import Mailbox, MailboxKind, MailTrafficDay
from clocher.onboarding import services as onboarding
from tests.mail.conftest import (
    ACTOR,
    DOMAIN,
    fetch_subjects,
    imap_login,
    message,
    smtp_in,
    submission,
    wait_for_messages,
)

pytestmark = pytest.mark.django_db(transaction=True)


def member(commune, box) -> None:
    Membership.objects.get_or_create(commune=commune, user=box.user, defaults={"role": Role.AGENT})


def test_shared_mailbox_opens_with_each_delegates_own_password(mail_servers, make_box, commune_a):
    claire, jean, paul = make_box("claire"), make_box("jean"), make_box("paul")
    for box in (claire, jean, paul):
        member(commune_a, box)
    owner, _ = get_or_create_user(f"accueil@{DOMAIN}")
    accueil = services.create_mailbox(
        ACTOR, commune_a, f"accueil@{DOMAIN}", kind=MailboxKind.SHARED, user=owner
    )
    services.set_delegates(ACTOR, accueil, [claire.user, jean.user])
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "a@example.org", [accueil.address], message("a@example.org", "x", "État civil")
        )
    for box in (claire, jean):
        client = wait_for_messages(mail_servers, accueil.address, box.password, 1)
        assert fetch_subjects(client) == ["État civil"]
        client.logout()
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, accueil.address, paul.password)
    # The same password still opens the delegate's own box, and sending as the shared
    # address works for a delegate.
    imap_login(mail_servers, claire.address, claire.password).logout()
    # Taking the delegation back closes the door at once.
    services.set_delegates(ACTOR, accueil, [claire.user])
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, accueil.address, jean.password)


def test_delegates_must_be_members_of_the_commune(mail_servers, make_box, commune_a, commune_b):
    claire = make_box("claire")
    stranger = make_box("etranger", commune=commune_b)
    member(commune_a, claire)
    member(commune_b, stranger)
    with pytest.raises(Exception, match="Pas membres actifs"):
        services.set_delegates(ACTOR, claire.mailbox, [stranger.user])
    assert claire.mailbox.delegates.count() == 0


@pytest.mark.parametrize("keep_copy", [True, False])
def test_forwarding_keeps_a_copy_or_not(mail_servers, make_box, keep_copy):
    claire, jean = make_box("claire"), make_box("jean")
    services.set_forwarding(
        ACTOR, claire.mailbox, jean.address, keep_copy, vmail_dir=mail_servers.vmail_dir
    )
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "a@example.org", [claire.address], message("a@example.org", claire.address, "Devis")
        )
    client = wait_for_messages(mail_servers, jean.address, jean.password, 1)
    assert fetch_subjects(client) == ["Devis"]
    client = imap_login(mail_servers, claire.address, claire.password)
    client.select("INBOX")
    assert fetch_subjects(client) == (["Devis"] if keep_copy else [])
    with pytest.raises(Exception, match="elle-même"):
        services.set_forwarding(ACTOR, claire.mailbox, claire.address)


def test_commune_domain_receives_mail_only_once_its_mx_points_here(
    mail_servers, make_box, commune_a, dns_server, settings
):
    settings.MAIL_HOSTNAME = "mail.communes.cotedor.fr"
    domain = services.add_commune_domain(ACTOR, commune_a, "Mairie-Flavigny.FR.")
    assert domain.name == "mairie-flavigny.fr"
    user, _ = get_or_create_user("secretariat@flavigny.test")
    Membership.objects.create(user=user, commune=commune_a, role=Role.AGENT)
    box = services.create_mailbox(ACTOR, commune_a, "secretariat@mairie-flavigny.fr", user=user)
    with smtp_in(mail_servers) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail("a@example.org", [box.address], message("a@example.org", "x", "Trop tôt"))
    assert refused.value.recipients[box.address][0] == 554  # not ours yet: relay denied
    # The MX points elsewhere: still closed.
    dns_server("mairie-flavigny.fr. 3600 IN MX 10 mx.ailleurs.example.")
    assert dns.verify_domain(ACTOR, domain).status == "différent"
    domain.refresh_from_db()
    assert domain.dns_verified_at is None
    dns_server("mairie-flavigny.fr. 3600 IN MX 10 mail.communes.cotedor.fr.")
    assert dns.verify_domain(ACTOR, domain).status == "publié"
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail("a@example.org", [box.address], message("a@example.org", "x", "Bienvenue"))
    password = create_app_password(ACTOR, user, "tests").clear
    client = wait_for_messages(mail_servers, box.address, password, 1)
    assert fetch_subjects(client) == ["Bienvenue"]


def test_bad_domain_names_are_refused(operator, commune_a, commune_b):
    for name in ("", "localhost", "a..b.fr", "-x.fr", "x" * 300 + ".fr", "communes.cotedor.fr"):
        with pytest.raises(Exception):  # noqa: B017, PT011 - each a ValidationError
            services.add_commune_domain(ACTOR, commune_a, name)
    services.add_commune_domain(ACTOR, commune_a, "mairie-flavigny.fr")
    with pytest.raises(Exception, match="déjà déclaré"):
        services.add_commune_domain(ACTOR, commune_b, "mairie-flavigny.fr")


def test_traffic_figures_come_from_postfix_log(mail_servers, make_box):
    log = mail_servers.log_dir / "postfix.log"
    traffic.ingest(log)  # everything before this test
    before = traffic.recent(1, log).days[-1]
    base = {n: getattr(before, n) for n in traffic.COUNTERS}
    claire, jean = make_box("claire"), make_box("jean")
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail("a@example.org", [claire.address], message("a@example.org", "x", "Un"))
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("a@example.org", ["b@example.net"], message("a", "b", "Relais"))
    with submission(mail_servers, claire) as smtp:
        smtp.sendmail(claire.address, [jean.address], message(claire.address, "j", "Deux"))
    wait_for_messages(mail_servers, jean.address, jean.password, 1).logout()
    wait_for_messages(mail_servers, claire.address, claire.password, 1).logout()
    today = traffic.recent(1, log).days[-1]
    assert today.received - base["received"] == 2
    assert today.sent - base["sent"] == 1
    assert today.rejected_policy - base["rejected_policy"] == 1
    # Read again: nothing counted twice.
    assert traffic.ingest(log) == 0
    assert MailTrafficDay.objects.get(day=today.day).received == today.received


def test_traffic_log_parsing_handles_rotation_and_partial_lines(tmp_path, db):
    log = tmp_path / "postfix.log"
    line = (
        "Nov 24 10:00:00 mail postfix/lmtp[1]: ABC: to=<a@x.fr>, relay=r, delay=0, "
        "dsn=2.0.0, status=sent (250 ok)\n"
    )
    log.write_text(line + line[:30])  # the second line is still being written
    assert traffic.ingest(log) == 1
    with log.open("a") as handle:
        handle.write(line[30:])
    assert traffic.ingest(log) == 1
    log.unlink()
    log.write_text(line)  # rotated: a new file
    assert traffic.ingest(log) == 1
    assert traffic.ingest(log) == 0
    assert traffic.classify("garbage", traffic.timezone.localdate()) is None


def test_departure_export_holds_the_messages_then_purges(
    mail_servers, make_box, commune_a, settings
):
    settings.MAIL_DIR = str(mail_servers.mail_dir)
    claire = make_box("claire")
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail("a@example.org", [claire.address], message("a@example.org", "x", "Archive"))
    wait_for_messages(mail_servers, claire.address, claire.password, 1).logout()
    home = services.mailbox_home(claire.mailbox, mail_servers.vmail_dir)
    export = onboarding.depart(ACTOR, commune_a)
    with staging.local_copy(export.path, commune_a) as copy, zipfile.ZipFile(copy) as archive:
        prefix = f"messagerie/{claire.address}/Maildir/"
        stored = [
            n for n in archive.namelist() if n.startswith(prefix) and ("/new/" in n or "/cur/" in n)
        ]
        assert len(stored) == 1, archive.namelist()
        assert b"Subject: Archive" in archive.read(stored[0])
        assert claire.address in archive.read("messagerie.json").decode()
    assert not home.exists()
    assert not Mailbox.objects.filter(address=claire.address).exists()
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, claire.address, claire.password)


def test_mailbox_settings_page(client, mail_servers, make_box, commune_a, admin_a):
    claire, jean = make_box("claire"), make_box("jean")
    member(commune_a, jean)
    client.force_login(admin_a)
    url = reverse("mail:mailbox_settings", args=[commune_a.insee, claire.mailbox.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert "Transfert" in response.text and "Accès partagé" in response.text
    response = client.post(url, {"action": "delegates", "delegates": [str(jean.user.pk)]})
    assert response.status_code == 302
    assert list(claire.mailbox.delegates.all()) == [jean.user]
    response = client.post(url, {"action": "forward", "forward_to": "pas une adresse"})
    assert "Saisissez une adresse" in response.text or "valide" in response.text


def test_cli_domain_add_and_traffic(operator, commune_a, settings, tmp_path):
    from click.testing import CliRunner

    from clocher.cli import main

    settings.MAIL_DIR = str(tmp_path)
    (tmp_path / "log").mkdir()
    today = traffic.timezone.localdate()
    stamp = f"{traffic.MONTH_NAMES[today.month - 1]} {today.day:2d} 09:00:00 mail"
    (tmp_path / "log" / "postfix.log").write_text(
        f"{stamp} postfix/smtpd[9]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 554 5.7.1 "
        "<b@example.net>: Relay access denied; from=<a@example.org> to=<b@example.net>\n"
        f"{stamp} postfix/cleanup[9]: 1A2B: milter-reject: END-OF-MESSAGE from x[192.0.2.1]: "
        "5.7.1 Spam message rejected\n"
    )
    runner = CliRunner()
    added = runner.invoke(main, ["mail", "domain-add", "mairie-flavigny.fr", "--commune", "21271"])
    assert added.exit_code == 0, added.output
    assert "mairie-flavigny.fr" in added.output
    again = runner.invoke(main, ["mail", "domain-add", "mairie-flavigny.fr", "--commune", "21271"])
    assert again.exit_code != 0 and "déjà déclaré" in again.output
    shown = runner.invoke(main, ["mail", "traffic", "--days", "3"])
    assert shown.exit_code == 0, shown.output
    line = next(row for row in shown.output.splitlines() if today.strftime("%d/%m/%Y") in row)
    assert [cell.strip() for cell in line.split("│")[2:6]] == ["0", "0", "1", "1"]
