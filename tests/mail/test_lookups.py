"""Postfix's lookups in Clocher's tables, asked as Postfix asks them (`postmap -q` on the
rendered maps, against the test database): each query is only made for a whole address,
so the `@domain` catch-all and bare local-part keys that Postfix tries after a miss cost
no database query (issue 14: mail throughput with live lookups)."""

from __future__ import annotations

import subprocess

import pytest

from clocher.mail import services
from clocher.mail.models import Alias, MailDomain
from tests.mail.conftest import ACTOR, DOMAIN

pytestmark = pytest.mark.django_db(transaction=True)


def postmap(config, table: str, key: str) -> str | None:  # noqa: ANN001
    """What Postfix's map `table` answers for `key` (None: not found)."""
    kind = "sqlite" if config.is_sqlite else "pgsql"
    conf = config.postfix_dir / "conf"
    answer = subprocess.run(  # noqa: S603
        ["/usr/sbin/postmap", "-c", str(conf), "-q", key, f"{kind}:{conf}/{table}.cf"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode in (0, 1), answer.stderr
    return answer.stdout.strip() if answer.returncode == 0 else None


def test_only_whole_addresses_are_looked_up(mail_servers, make_box, commune_a):
    jean = make_box("jean.dupont")
    services.create_alias(ACTOR, commune_a, f"conseil@{DOMAIN}", [jean.mailbox.address])
    # Rows no service writes (a catch-all, a bare local part): were they ever stored,
    # Postfix would not ask for them, so they deliver nothing.
    domain = MailDomain.objects.get(name=DOMAIN)
    for address in (f"@{DOMAIN}", "conseil"):
        Alias.objects.create(
            commune=commune_a,
            domain=domain,
            local_part=address.split("@")[0],
            address=address,
            destinations=jean.mailbox.address,
        )
    assert postmap(mail_servers, "aliases", f"conseil@{DOMAIN}") == jean.mailbox.address
    assert postmap(mail_servers, "aliases", f"Conseil@{DOMAIN.upper()}") == jean.mailbox.address
    assert postmap(mail_servers, "aliases", f"@{DOMAIN}") is None
    assert postmap(mail_servers, "aliases", "conseil") is None
    assert postmap(mail_servers, "mailboxes", jean.mailbox.address) == "OK"
    assert postmap(mail_servers, "mailboxes", f"@{DOMAIN}") is None
    assert postmap(mail_servers, "senders", jean.mailbox.address) == jean.mailbox.address
    assert postmap(mail_servers, "domains", DOMAIN) == DOMAIN


def test_a_mailbox_answers_the_alias_map_with_itself(mail_servers, make_box, commune_a):
    """smtpd's recipient check stops at the alias map, cleanup keeps an address that
    expands to itself: one lookup a message fewer, the same deliveries."""
    jean, marie = make_box("jean.dupont"), make_box("marie.durand")
    assert postmap(mail_servers, "aliases", jean.mailbox.address) == jean.mailbox.address
    services.set_mailbox_active(ACTOR, marie.mailbox, False)
    assert postmap(mail_servers, "aliases", marie.mailbox.address) is None
    assert postmap(mail_servers, "mailboxes", marie.mailbox.address) is None
    # An alias of a mailbox's own address (the services refuse one; a row written by
    # hand) answers as it did before: its destinations only, not the mailbox too.
    Alias.objects.create(
        commune=commune_a,
        domain=jean.mailbox.domain,
        local_part="jean.dupont",
        address=jean.mailbox.address,
        destinations=f"accueil@{DOMAIN}",
    )
    assert postmap(mail_servers, "aliases", jean.mailbox.address) == f"accueil@{DOMAIN}"


def doveadm_user(config, address: str, service: str) -> dict[str, str]:  # noqa: ANN001
    """The fields Dovecot's userdb gives `service` for `address`, asked of the running
    servers as their own processes ask (`doveadm user` over the auth socket)."""
    answer = subprocess.run(  # noqa: S603
        [
            "/usr/bin/doveadm",
            "-c",
            str(config.dovecot_dir / "dovecot.conf"),
            "user",
            "-x",
            f"service={service}",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    fields = (line.split(None, 1) for line in answer.stdout.splitlines()[1:])
    return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in fields}


def test_quota_status_reads_the_quota_without_the_acl_groups(mail_servers, make_box):
    """Postfix asks quota-status at every RCPT: its userdb gives the quota and home but
    not the ACL groups, which only sessions that open shared mailboxes need."""
    accueil, claire = make_box("accueil"), make_box("claire")
    services.set_delegates(
        ACTOR, accueil.mailbox, [], readers=[claire.user], vmail_dir=mail_servers.vmail_dir
    )
    group = f"lecture-{accueil.mailbox.storage_key}"
    imap = doveadm_user(mail_servers, claire.address, "imap")
    assert group in imap["acl_groups"].split(",")
    quota = doveadm_user(mail_servers, claire.address, "quota-status")
    assert "acl_groups" not in quota
    assert quota["quota_rule"] == imap["quota_rule"] and quota["home"] == imap["home"]
