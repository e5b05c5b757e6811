"""Real Postfix and Dovecot, started for the mail tests on free ports, reading the test
database. Tests that use them commit their data (`transaction=True`) so the servers see it.
"""

from __future__ import annotations

import email
import imaplib
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings
from dnslib import QTYPE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from clocher.accounts.models import User
from clocher.accounts.services import create_app_password, get_or_create_user
from clocher.core.audit import Actor
from clocher.core.models import Membership, Role
from clocher.mail import services
from clocher.mail.engines import loopback, rspamd, runtime
from clocher.mail.engines.config import MailConfig
from clocher.mail.engines.loopback import (  # noqa: F401 - free_ports: for other test modules
    free_ports,
    wait_for_port,
    wait_for_socket,
)
from clocher.mail.models import Mailbox

MAX_MESSAGE_BYTES = 1024 * 1024
DOMAIN = "communes.cotedor.fr"
ACTOR = Actor(label="tests")


def config_on_free_ports(
    data_dir: Path,
    live_server_url: str,
    mail_dir: str = "mail",
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> MailConfig:
    """The test database's mail servers in `data_dir`/`mail_dir`, every port a free one
    (the delivery tests and the import tests' target Dovecot share this layout)."""
    return loopback.config_on_free_ports(
        data_dir,
        mail_dir,
        hostname="mail.communes.cotedor.fr",
        domain="communes.cotedor.fr",
        max_message_bytes=max_message_bytes,
        policy_url=f"{live_server_url}/interne/dovecot/politique",
    )


@pytest.fixture(scope="session")
def mail_servers(django_db_setup, django_db_blocker, live_server) -> Iterator[MailConfig]:
    with django_db_blocker.unblock():
        config = config_on_free_ports(Path(settings.DATA_DIR), live_server.url)
        # rspamd asks a loopback DNS server that answers at once (NXDOMAIN): the tests do
        # not depend on this machine's resolver, nor wait for its timeouts.
        quiet_dns = DNSServer(
            ZoneResolver(""),
            port=0,
            address="127.0.0.1",
            logger=DNSLogger(log="-request,-reply,-truncated,-recv,-send,-data", prefix=False),
        )
        quiet_dns.start_thread()
        saved, settings.DNS_RESOLVER = (
            settings.DNS_RESOLVER,
            f"127.0.0.1:{quiet_dns.server.server_address[1]}",
        )
        try:
            runtime.prepare(config)
        finally:
            settings.DNS_RESOLVER = saved
    log = (config.log_dir / "daemons.out").open("ab")
    rspamd_process = subprocess.Popen(rspamd.argv(config), stdout=log, stderr=log)  # noqa: S603
    postfix = subprocess.Popen(runtime.postfix_argv(config), stdout=log, stderr=log)  # noqa: S603
    dovecot = subprocess.Popen(runtime.dovecot_argv(config), stdout=log, stderr=log)  # noqa: S603
    try:
        wait_for_socket(config.milter_socket)
        for port in (
            config.smtp_port,
            config.submission_port,
            config.imap_port,
            config.lmtp_port,
            config.auth_port,
            config.quota_status_port,
        ):
            wait_for_port(port)
        yield config
    finally:
        for process in (postfix, dovecot, rspamd_process):
            process.terminate()
        for process in (postfix, dovecot, rspamd_process):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
        quiet_dns.stop()


def tls_context() -> ssl.SSLContext:
    """The demo certificate is self-signed: tests check encryption, not the CA."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def imap_login(config: MailConfig, user: str, password: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", config.imap_port)
    client.starttls(ssl_context=tls_context())
    client.login(user, password)
    return client


def wait_for_messages(
    config: MailConfig,
    user: str,
    password: str,
    count: int,
    folder: str = "INBOX",
    timeout: float = 15,
) -> imaplib.IMAP4:
    """Log in and wait until `folder` holds `count` messages (delivery is queued)."""
    deadline = time.monotonic() + timeout
    client = imap_login(config, user, password)
    while True:
        status, data = client.select(folder)
        assert status == "OK", data
        if int(data[0]) >= count or time.monotonic() > deadline:
            return client
        client.close()
        time.sleep(0.2)


@dataclass
class Box:
    mailbox: Mailbox
    user: User
    password: str

    @property
    def address(self) -> str:
        return self.mailbox.address


@pytest.fixture
def make_box(operator, commune_a):
    def make(local: str, quota: int = 50 * 1024 * 1024, commune=None) -> Box:
        commune = commune or commune_a
        user, _ = get_or_create_user(f"{local}@flavigny.test")
        # Only an active member of the mailbox's commune opens it (core.scoping).
        Membership.objects.get_or_create(user=user, commune=commune, defaults={"role": Role.AGENT})
        mailbox = services.create_mailbox(
            ACTOR, commune, f"{local}@{DOMAIN}", user=user, quota_bytes=quota
        )
        return Box(mailbox, user, create_app_password(ACTOR, user, "tests").clear)

    return make


def message(sender: str, to: str, subject: str, body: str = "Bonjour.\r\n") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{time.time_ns()}@test>\r\n\r\n{body}"
    ).encode()


def smtp_in(config) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", config.smtp_port, timeout=20)
    client.ehlo("mx.example.org")
    return client


def submission(config, box: Box) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", config.submission_port, timeout=20)
    client.ehlo("poste.flavigny.test")
    client.starttls(context=tls_context())
    client.ehlo("poste.flavigny.test")
    client.login(box.address, box.password)
    return client


def fetch_subjects(client: imaplib.IMAP4) -> list[str]:
    _, data = client.search(None, "ALL")
    subjects = []
    for number in data[0].split():
        _, parts = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects.append(
            str(email.message_from_bytes(parts[0][1], policy=policy.default)["Subject"])
        )
    return subjects


def fetch_by_subject(client: imaplib.IMAP4) -> dict[str, EmailMessage]:
    """Every message of the selected folder, whole, by subject."""
    _, data = client.search(None, "ALL")
    messages = {}
    for number in data[0].split():
        _, parts = client.fetch(number, "(RFC822)")
        parsed = email.message_from_bytes(parts[0][1], policy=policy.default)
        messages[str(parsed["Subject"])] = parsed
    return messages


class ZoneResolver(BaseResolver):
    """Answers from a zone text, like an authoritative server would."""

    def __init__(self, zone: str) -> None:
        self.records = RR.fromZone(zone)

    def resolve(self, request, handler):  # noqa: ANN001, ANN201 - dnslib's interface
        reply = request.reply()
        qname, qtype = request.q.qname, QTYPE[request.q.qtype]
        for record in self.records:
            if record.rname == qname and QTYPE[record.rtype] == qtype:
                reply.add_answer(record)
        if not reply.rr:
            reply.header.rcode = 3  # NXDOMAIN
        return reply


@pytest.fixture
def dns_server(settings):
    servers = []

    def start(zone: str) -> None:
        server = DNSServer(ZoneResolver(zone), port=0, address="127.0.0.1")
        server.start_thread()
        servers.append(server)
        settings.DNS_RESOLVER = f"127.0.0.1:{server.server.server_address[1]}"

    yield start
    for server in servers:
        server.stop()
