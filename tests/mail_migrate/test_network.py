"""Which servers an IMAP import may reach (issue 12, defect 7): with
CLOCHER_MAIL_IMPORT_ALLOW_PRIVATE off (the default), loopback, private, link-local and
reserved addresses — literal or behind a name — and ports other than 993/143 are refused
from the page and the CLI with the importer's own words, nothing is queued, and the
connection goes to the address that was checked. The server's own text is never shown."""

from __future__ import annotations

import logging
import socket
import ssl
import threading

import pytest
from click.testing import CliRunner
from django.urls import reverse

from clocher.cli import main
from clocher.core.models import AuditEntry
from clocher.mail.migrate import network
from clocher.mail.migrate.sources import SourceError, connect_imap
from clocher.mail.models import MailImport

REFUSED_HOSTS = ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "localhost"]
REFUSED = "Adresse refusée"


@pytest.fixture
def private_refused(settings):
    settings.MAIL_IMPORT_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1", "240.0.0.1",  # noqa: S104
        "::1", "::", "fe80::1", "fe80::1%lo", "fc00::1", "fd12::1", "fec0::1", "ff02::1",
        "2001:db8::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1",
        "2002:7f00:1::1", "2002:a00:1::1",
    ],
)  # fmt: skip
def test_internal_addresses_are_not_public(address):
    assert not network.is_public(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "193.51.24.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are(address):
    assert network.is_public(address)


@pytest.mark.django_db
@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_page_refuses_internal_servers_and_queues_nothing(
    host, private_refused, make_box, client_admin_a, commune_a
):
    box = make_box("accueil")
    url = reverse(
        "mail:mail_import", kwargs={"insee": commune_a.insee, "mailbox_id": box.mailbox.pk}
    )
    form = {"host": host, "port": 993, "security": "tls", "user": "u", "password": "p"}
    page = client_admin_a.post(url, form)
    assert page.status_code == 200
    assert REFUSED in page.content.decode()
    assert not MailImport.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="mail.import").exists()


@pytest.mark.django_db
def test_page_refuses_other_ports(private_refused, make_box, client_admin_a, commune_a):
    box = make_box("accueil")
    url = reverse(
        "mail:mail_import", kwargs={"insee": commune_a.insee, "mailbox_id": box.mailbox.pk}
    )
    form = {"host": "imap.exemple.fr", "port": 22, "security": "tls", "user": "u", "password": "p"}
    page = client_admin_a.post(url, form).content.decode()
    assert "Port 22 refusé" in page and "993 (TLS) ou 143 (STARTTLS)" in page
    assert not MailImport.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_cli_refuses_internal_servers(host, private_refused, make_box, tmp_path):
    box = make_box("accueil")
    password_file = tmp_path / "mdp"
    password_file.write_text("secret\n")
    server = f"[{host}]" if ":" in host else host
    answer = CliRunner().invoke(
        main,
        ["mail", "import", box.address, "--imap", f"imaps://u@{server}",
         "--password-file", str(password_file)],
    )  # fmt: skip
    assert answer.exit_code == 1, answer.output
    assert REFUSED in answer.output
    assert not MailImport.objects.exists()


def test_connection_goes_to_the_checked_address(monkeypatch):
    """A name that answers a public address when checked and 127.0.0.1 afterwards (DNS
    rebinding) is connected to at the public address, and resolved once."""
    answers = iter(["8.8.8.8"])
    resolved, connected = [], []

    def getaddrinfo(host, port, *args, **kwargs):
        resolved.append(host)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    def create_connection(address, *args, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    with pytest.raises(SourceError) as refused:
        connect_imap(
            "imap.rebond.test", 993, "u", "p",
            implicit_tls=True, context=ssl.create_default_context(), allow_private=False,
        )  # fmt: skip
    assert resolved == ["imap.rebond.test"]
    assert connected == [("8.8.8.8", 993)]
    assert str(refused.value) == (
        "Impossible de joindre imap.rebond.test:993 : serveur injoignable, port fermé ou délai "
        "dépassé."
    )
    assert "Connection refused" not in str(refused.value)


def test_the_servers_own_words_go_to_the_log_only(caplog):
    """An internal service's banner (here a fake one on 127.0.0.1, private allowed) never
    reaches the message shown to the person who started the import."""
    banner = b"SSH-2.0-OpenSSH_9.2 base-interne.cotedor.lan secret\r\n"
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(banner)
            conn.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO), pytest.raises(SourceError) as refused:
            connect_imap(
                "127.0.0.1", port, "u", "p",
                implicit_tls=False, context=ssl.create_default_context(), allow_private=True,
            )  # fmt: skip
    finally:
        listener.close()
        thread.join(timeout=30)
    message = str(refused.value)
    assert message == (
        f"Le serveur 127.0.0.1:{port} a refusé la connexion ou ne répond pas en IMAP."
    )
    assert "secret" in caplog.text and "secret" not in message
