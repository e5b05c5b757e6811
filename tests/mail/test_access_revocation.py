"""App passwords follow the console over IMAP and submission (real Postfix and Dovecot):
refused the moment a member is deactivated or removed or their commune suspended or gone,
open again with the same password when the console restores them (issue 12, defect 2)."""

from __future__ import annotations

import imaplib
import smtplib

import pytest

from clocher.accounts.services import create_app_password, get_or_create_user
from clocher.core.models import Membership, Role
from clocher.mail import services
from clocher.mail.engines.config import MailConfig
from clocher.mail.models import MailboxKind
from tests.access_cuts import ACTOR, cut_in, cuts, restore_in
from tests.mail.conftest import DOMAIN, tls_context

pytestmark = pytest.mark.django_db(transaction=True)


def imap_opens(config: MailConfig, address: str, password: str) -> bool:
    client = imaplib.IMAP4("127.0.0.1", config.imap_port, timeout=20)
    try:
        client.starttls(ssl_context=tls_context())
        client.login(address, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        client.logout()
    return True


def submission_opens(config: MailConfig, address: str, password: str) -> bool:
    with smtplib.SMTP("127.0.0.1", config.submission_port, timeout=20) as client:
        client.ehlo("poste.flavigny.test")
        client.starttls(context=tls_context())
        client.ehlo("poste.flavigny.test")
        try:
            client.login(address, password)
        except smtplib.SMTPAuthenticationError:
            return False
    return True


def opens(config: MailConfig, address: str, password: str) -> bool:
    """Both doors agree (submission asks Dovecot's passdb too)."""
    imap, smtp = imap_opens(config, address, password), submission_opens(config, address, password)
    assert imap == smtp, f"IMAP {imap}, submission {smtp}"
    return imap


@cuts
def test_app_password_follows_the_console(mail_servers, make_box, commune_a, cut, restore):
    box = make_box("ines")
    assert opens(mail_servers, box.address, box.password)
    cut(box.user, commune_a)
    assert not opens(mail_servers, box.address, box.password)
    if restore is not None:
        restore(box.user, commune_a)
        assert opens(mail_servers, box.address, box.password)


def test_deactivated_delegate_loses_the_shared_mailbox_then_gets_it_back(
    mail_servers, make_box, commune_a
):
    claire, jean = make_box("claire"), make_box("jean")
    accueil = services.create_mailbox(
        ACTOR, commune_a, f"accueil@{DOMAIN}", kind=MailboxKind.SHARED, user=claire.user
    )
    services.set_delegates(ACTOR, accueil, [jean.user])
    assert opens(mail_servers, accueil.address, jean.password)
    cut_in(jean.user, commune_a)
    assert not opens(mail_servers, accueil.address, jean.password)
    assert opens(mail_servers, accueil.address, claire.password)  # the owner still opens it
    restore_in(jean.user, commune_a)
    assert opens(mail_servers, accueil.address, jean.password)
    assert list(accueil.delegates.all()) == [jean.user]  # nothing was taken away


def test_member_of_two_communes_deactivated_in_one_keeps_the_other(
    mail_servers, commune_a, commune_b
):
    """A secretary serving two communes, one app password for both mailboxes."""
    user, _ = get_or_create_user("secretaire@flavigny.test")
    for commune in (commune_a, commune_b):
        Membership.objects.create(user=user, commune=commune, role=Role.AGENT)
    in_a = services.create_mailbox(ACTOR, commune_a, f"secretariat.a@{DOMAIN}", user=user)
    in_b = services.create_mailbox(ACTOR, commune_b, f"secretariat.b@{DOMAIN}", user=user)
    password = create_app_password(ACTOR, user, "tests").clear
    cut_in(user, commune_a)
    assert not opens(mail_servers, in_a.address, password)
    assert opens(mail_servers, in_b.address, password)
