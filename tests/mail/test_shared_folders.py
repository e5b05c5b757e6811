"""A delegated mailbox as folders of the delegate's own IMAP session (`mail.sharing`),
through the real Postfix and Dovecot: LIST, SELECT, rights, revocation, tenancy."""

from __future__ import annotations

import imaplib

import pytest
from django.urls import reverse

from clocher.core.models import Membership, Role
from clocher.mail import services, sharing
from tests.mail.conftest import (
    ACTOR,
    DOMAIN,
    Box,
    fetch_subjects,
    imap_login,
    message,
    smtp_in,
    wait_for_messages,
)

pytestmark = pytest.mark.django_db(transaction=True)


def shared_root(box: Box) -> str:
    """How Dovecot lists the owner's INBOX (the Maildir++ root) in a shared namespace."""
    return f"shared/{box.address}"


def shared_inbox(box: Box) -> str:
    return f"shared/{box.address}/INBOX"


def listed(client: imaplib.IMAP4) -> list[str]:
    """Every mailbox name the session lists under `shared/`."""
    status, data = client.list('""', '"shared/*"')
    assert status == "OK", data
    return [line.decode().rsplit(' "/" ', 1)[1].strip('"') for line in data if line]


def subscribed(client: imaplib.IMAP4) -> list[str]:
    status, data = client.lsub('""', '"shared/*"')
    assert status == "OK", data
    return [line.decode().rsplit(' "/" ', 1)[1].strip('"') for line in data if line]


def rights(client: imaplib.IMAP4, mailbox: str) -> set[str]:
    status, data = client.myrights(f'"{mailbox}"')
    assert status == "OK", data
    # Without RFC 2086's obsolete `c` and `d`, that Dovecot also reports for k/x and t/e.
    return set(data[0].decode().rsplit(" ", 1)[1].strip('"')) - set("cd")


def refused(call) -> bool:
    """imaplib raises on NO/BAD for most commands, returns ("NO", …) for others."""
    try:
        status, _ = call()
    except imaplib.IMAP4.error:
        return True
    return status != "OK"


def selectable(client: imaplib.IMAP4, mailbox: str) -> bool:
    status, _ = client.select(f'"{mailbox}"')
    return status == "OK"


def test_shared_mailbox_as_folders_read_write_revoked_and_isolated(
    mail_servers, make_box, commune_b
):
    alice, lecteur, redacteur = make_box("alice"), make_box("lecteur"), make_box("redacteur")
    voisin = make_box("voisin", commune=commune_b)
    # The reader also works for another commune, with a mailbox there: that session never
    # sees Alice's mailbox (sharing stays inside the mailbox's commune).
    Membership.objects.create(user=lecteur.user, commune=commune_b, role=Role.AGENT)
    ailleurs = services.create_mailbox(
        ACTOR, commune_b, f"lecteur.ailleurs@{DOMAIN}", user=lecteur.user
    )
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "a@example.org", [alice.address], message("a@example.org", "x", "Permis de construire")
        )
    owner = wait_for_messages(mail_servers, alice.address, alice.password, 1)
    assert owner.create("Urbanisme")[0] == "OK"  # a folder made before the sharing
    owner.logout()

    # Nothing shared yet: nobody sees Alice's mailbox.
    client = imap_login(mail_servers, lecteur.address, lecteur.password)
    assert listed(client) == []
    assert not selectable(client, shared_inbox(alice))
    client.logout()

    services.set_delegates(
        ACTOR,
        alice.mailbox,
        [redacteur.user],
        readers=[lecteur.user],
        vmail_dir=mail_servers.vmail_dir,
    )

    # The reader: listed, readable, read-only; the \Seen flag set is the reader's own.
    client = imap_login(mail_servers, lecteur.address, lecteur.password)
    assert {shared_root(alice), f"{shared_root(alice)}/Urbanisme"} <= set(listed(client))
    assert subscribed(client) == [shared_root(alice)]  # shown by clients at once
    assert rights(client, shared_inbox(alice)) == set("lrs")
    assert selectable(client, shared_inbox(alice))
    assert fetch_subjects(client) == ["Permis de construire"]
    client.fetch("1", "(BODY[])")
    client.store("1", "+FLAGS", "(\\Flagged)")  # Dovecot drops flags one has no right to
    assert b"\\Flagged" not in client.fetch("1", "(FLAGS)")[1][0]
    assert refused(
        lambda: client.append(f'"{shared_inbox(alice)}"', "", None, b"Subject: x\r\n\r\nx\r\n")
    )
    assert refused(lambda: client.getacl(f'"{shared_inbox(alice)}"'))
    client.logout()
    owner = imap_login(mail_servers, alice.address, alice.password)
    owner.select("INBOX")
    assert owner.search(None, "UNSEEN")[1][0].split() == [b"1"]
    assert "a" not in rights(owner, "INBOX")  # nobody changes ACLs over IMAP
    assert refused(lambda: owner.getacl("INBOX"))
    owner.logout()

    # The delegate writes: a message appended lands in Alice's INBOX.
    client = imap_login(mail_servers, redacteur.address, redacteur.password)
    assert shared_root(alice) in listed(client)
    assert rights(client, shared_inbox(alice)) == set("lrswipte")
    status, _ = client.append(
        f'"{shared_inbox(alice)}"', "", None, b"Subject: Note du secretariat\r\n\r\nVu.\r\n"
    )
    assert status == "OK"
    client.logout()
    owner = wait_for_messages(mail_servers, alice.address, alice.password, 2)
    assert sorted(fetch_subjects(owner)) == ["Note du secretariat", "Permis de construire"]
    owner.logout()

    # Another commune: not listed, and selecting the guessed name is refused — for a
    # stranger and for the reader's own mailbox in that other commune.
    for address, password in (
        (voisin.address, voisin.password),
        (ailleurs.address, lecteur.password),
    ):
        client = imap_login(mail_servers, address, password)
        assert listed(client) == [] and subscribed(client) == []
        assert not selectable(client, shared_inbox(alice))
        assert refused(lambda c=client: c.myrights(f'"{shared_inbox(alice)}"'))
        client.logout()

    # Revoked: gone from the next session.
    services.set_delegates(ACTOR, alice.mailbox, [], readers=[], vmail_dir=mail_servers.vmail_dir)
    for box in (lecteur, redacteur):
        client = imap_login(mail_servers, box.address, box.password)
        assert listed(client) == [] and subscribed(client) == []
        assert not selectable(client, shared_inbox(alice))
        client.logout()


def test_readers_must_be_members_and_a_delegate_is_not_also_a_reader(
    mail_servers, make_box, commune_b
):
    alice, jean = make_box("alice"), make_box("jean")
    voisin = make_box("voisin", commune=commune_b)
    with pytest.raises(Exception, match="Pas membres actifs"):
        services.set_delegates(
            ACTOR, alice.mailbox, [], readers=[voisin.user], vmail_dir=mail_servers.vmail_dir
        )
    assert alice.mailbox.readers.count() == 0
    services.set_delegates(
        ACTOR, alice.mailbox, [jean.user], readers=[jean.user], vmail_dir=mail_servers.vmail_dir
    )
    assert list(alice.mailbox.delegates.all()) == [jean.user]
    assert alice.mailbox.readers.count() == 0


def test_mailbox_page_grants_and_revokes_read_only_access(
    client, settings, mail_servers, make_box, commune_a, admin_a
):
    settings.MAIL_DIR = str(mail_servers.mail_dir)
    alice, lecteur = make_box("alice"), make_box("lecteur")
    client.force_login(admin_a)
    url = reverse("mail:mailbox_settings", args=[commune_a.insee, alice.mailbox.pk])
    assert "Lecture seule" in client.get(url).text
    response = client.post(url, {"action": "delegates", "readers": [str(lecteur.user.pk)]})
    assert response.status_code == 302
    session = imap_login(mail_servers, lecteur.address, lecteur.password)
    assert listed(session) == [shared_root(alice)]
    assert rights(session, shared_inbox(alice)) == set("lrs")
    session.logout()
    # Unticked: gone from the next session.
    assert client.post(url, {"action": "delegates"}).status_code == 302
    session = imap_login(mail_servers, lecteur.address, lecteur.password)
    assert listed(session) == []
    assert not selectable(session, shared_inbox(alice))
    session.logout()


def test_delegations_made_before_the_upgrade_are_published_at_start_up(mail_servers, make_box):
    alice, jean = make_box("alice"), make_box("jean")
    alice.mailbox.delegates.add(jean.user)  # as the database holds it, no file written
    client = imap_login(mail_servers, jean.address, jean.password)
    assert listed(client) == []
    client.logout()
    sharing.publish_all(mail_servers.vmail_dir)  # what `runtime.prepare` does
    client = imap_login(mail_servers, jean.address, jean.password)
    assert listed(client) == [shared_root(alice)]
    assert rights(client, shared_inbox(alice)) == set("lrswipte")
    client.logout()


def test_nobody_shares_over_imap_even_a_mailbox_never_shared(mail_servers, make_box, commune_b):
    """Sharing is decided on Clocher's page only: with `imap_acl` loaded, an owner
    holding `a` could SETACL their mailbox to anyone, another commune included."""
    alice = make_box("alice")
    voisin = make_box("voisin", commune=commune_b)
    owner = imap_login(mail_servers, alice.address, alice.password)
    assert "a" not in rights(owner, "INBOX")
    assert refused(lambda: owner.setacl("INBOX", f"user={voisin.address}", "lr"))
    owner.logout()
    client = imap_login(mail_servers, voisin.address, voisin.password)
    assert not selectable(client, shared_inbox(alice))
    client.logout()
