"""A personal mailbox made without a member makes its address an agent of the commune
(issue 12 follow-up): IMAP and submission let in only active members, so otherwise nobody
could open it. Shared and function mailboxes stay opened by their delegates."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from django.core import mail
from django.test import Client
from django.urls import reverse

from clocher.accounts.models import Invitation, User
from clocher.cli import main
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Membership, Role
from clocher.core.services import add_member
from clocher.mail import services
from clocher.mail.models import Mailbox, MailboxKind
from tests.conftest import invitation_links
from tests.mail.conftest import DOMAIN, imap_login

ACTOR = Actor(label="tests")
ADDRESS = f"jean.dupont@{DOMAIN}"
GOOD = "un-mot-de-passe-solide-2026"


def _by_page(client, commune, address: str, kind: str = "personal", invite_to: str = ""):
    local, domain = address.split("@")
    return client.post(
        reverse("mail:commune", kwargs={"insee": commune.insee}),
        {
            "action": "mailbox",
            "local_part": local,
            "domain": domain,
            "kind": kind,
            "member": "",
            "invite_to": invite_to,
            "quota_mb": 100,
        },
        follow=True,
    )


def _by_cli(commune, address: str, kind: str = "personal", invite_to: str = ""):
    extra = ["--invite-to", invite_to] if invite_to else []
    return CliRunner().invoke(
        main,
        ["mail", "mailbox", "add", address, "--commune", commune.insee, "--kind", kind, *extra],
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("way", ["page", "cli"])
def test_mailbox_without_a_member_opens_over_imap(mail_servers, client_admin_a, commune_a, way):
    if way == "page":
        assert _by_page(client_admin_a, commune_a, ADDRESS).redirect_chain
    else:
        result = _by_cli(commune_a, ADDRESS)
        assert result.exit_code == 0, result.output
    membership = Membership.objects.get(commune=commune_a, user__email=ADDRESS)
    assert (membership.role, membership.is_active) == (Role.AGENT, True)
    assert Mailbox.objects.get(address=ADDRESS).user == membership.user
    assert AuditEntry.objects.filter(action="member.added", target=ADDRESS).count() == 1
    # A new account: its one-time link goes to the address only, by mail.
    assert [m.to for m in mail.outbox] == [[ADDRESS]]
    assert len(invitation_links(mail.outbox[0].body)) == 1

    password = CliRunner().invoke(main, ["mail", "app-password", ADDRESS])
    assert password.exit_code == 0, password.output
    assert "Attention" not in password.output  # a member: nothing to warn about
    client = imap_login(mail_servers, ADDRESS, password.output.strip().splitlines()[-1])
    try:
        status, _ = client.select("INBOX")
        assert status == "OK"
    finally:
        client.logout()


@pytest.mark.django_db
@pytest.mark.parametrize("way", ["page", "cli"])
def test_full_members_quota_refuses_the_mailbox(
    client_admin_a, commune_a, way, django_capture_on_commit_callbacks
):
    commune_a.quota_members = Membership.objects.filter(commune=commune_a).count()
    commune_a.save(update_fields=["quota_members"])
    with django_capture_on_commit_callbacks(execute=True):
        if way == "page":
            output = _by_page(client_admin_a, commune_a, ADDRESS).content.decode()
        else:
            result = _by_cli(commune_a, ADDRESS)
            assert result.exit_code == 1
            output = result.output
    assert "Quota de membres atteint" in output
    assert not User.objects.filter(email=ADDRESS).exists()
    assert not Mailbox.objects.filter(address=ADDRESS).exists()
    assert not AuditEntry.objects.filter(target=ADDRESS).exists()
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_member_already_is_left_as_it_is(commune_a, django_capture_on_commit_callbacks):
    add_member(ACTOR, commune_a, ADDRESS, Role.COMMUNE_ADMIN, invite=False)
    with django_capture_on_commit_callbacks(execute=True):
        mailbox = services.open_mailbox(ACTOR, commune_a, ADDRESS)
    membership = Membership.objects.get(commune=commune_a, user=mailbox.user)
    assert membership.role == Role.COMMUNE_ADMIN
    assert mail.outbox == [] and not Invitation.objects.exists()


@pytest.mark.django_db
def test_an_account_of_another_commune_gets_a_notice_not_a_link(
    commune_a, commune_b, django_capture_on_commit_callbacks
):
    add_member(ACTOR, commune_b, ADDRESS, Role.AGENT, invite=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.open_mailbox(ACTOR, commune_a, ADDRESS)
    assert Membership.objects.filter(commune=commune_a, user__email=ADDRESS).exists()
    assert [m.to for m in mail.outbox] == [[ADDRESS]]
    assert not invitation_links(mail.outbox[0].body)
    assert not Invitation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [MailboxKind.SHARED, MailboxKind.FUNCTION])
def test_shared_and_function_mailboxes_make_no_member(commune_a, kind):
    mailbox = services.open_mailbox(ACTOR, commune_a, f"accueil@{DOMAIN}", kind=kind)
    assert not Membership.objects.filter(user=mailbox.user).exists()


OLD_ADDRESS = "mairie.flavigny@wanadoo.example"


@pytest.mark.django_db
@pytest.mark.parametrize("way", ["page", "cli"])
def test_new_account_invitation_goes_to_the_address_given(
    client_admin_a, commune_a, way, django_capture_on_commit_callbacks
):
    """A new mailbox cannot be read before its account has a password: the admin gives
    the person's current address, the link goes there (and only there), journalled."""
    with django_capture_on_commit_callbacks(execute=True):
        if way == "page":
            page = _by_page(client_admin_a, commune_a, ADDRESS, invite_to=OLD_ADDRESS)
            assert f"Invitation envoyée à {OLD_ADDRESS}" in page.content.decode()
        else:
            result = _by_cli(commune_a, ADDRESS, invite_to=OLD_ADDRESS)
            assert result.exit_code == 0, result.output
    (sent,) = mail.outbox
    assert sent.to == [OLD_ADDRESS]
    assert f"Votre compte est {ADDRESS}" in sent.body
    (link,) = invitation_links(sent.body)
    added = AuditEntry.objects.get(action="member.added", target=ADDRESS)
    assert added.data["invitation_to"] == OLD_ADDRESS
    # The person follows it and sets the new account's password.
    answer = Client().post(link, {"full_name": "Jean", "password": GOOD, "password_again": GOOD})
    assert answer.status_code == 302
    assert User.objects.get(email=ADDRESS).check_password(GOOD)


@pytest.mark.django_db
def test_an_existing_accounts_link_never_goes_elsewhere(
    commune_a, commune_b, django_capture_on_commit_callbacks
):
    """Only the account this mailbox makes may be invited at another address: an existing
    account's way in stays its own address (a notice here, tied to commune B)."""
    add_member(ACTOR, commune_b, ADDRESS, Role.AGENT, invite=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.open_mailbox(ACTOR, commune_a, ADDRESS, invite_to=OLD_ADDRESS)
    assert [m.to for m in mail.outbox] == [[ADDRESS]]
    assert not invitation_links(mail.outbox[0].body)
    entry = AuditEntry.objects.get(action="member.added", target=ADDRESS, commune=commune_a)
    assert "invitation_to" not in entry.data


@pytest.mark.django_db
@pytest.mark.parametrize("way", ["page", "cli"])
def test_a_bad_invitation_address_creates_nothing(client_admin_a, commune_a, way):
    if way == "page":
        output = _by_page(client_admin_a, commune_a, ADDRESS, invite_to="pas une adresse")
        assert output.status_code == 200 and not output.redirect_chain
        assert "Saisissez une adresse" in output.content.decode()
    else:
        result = _by_cli(commune_a, ADDRESS, invite_to="pas une adresse")
        assert result.exit_code == 1
        assert "Adresse électronique invalide" in result.output
    assert not User.objects.filter(email=ADDRESS).exists()
    assert not Mailbox.objects.filter(address=ADDRESS).exists()
    assert mail.outbox == []
