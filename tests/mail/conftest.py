"""Real Postfix and Dovecot, started for the mail tests on free ports, reading the test
database. Tests that use them commit their data (`transaction=True`) so the servers see it.
"""

from __future__ import annotations

import imaplib
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from clocher.mail.engines import rspamd, runtime
from clocher.mail.engines.config import MailConfig

MAX_MESSAGE_BYTES = 1024 * 1024


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} not listening after {timeout}s")


@pytest.fixture(scope="session")
def mail_servers(django_db_setup, django_db_blocker, live_server) -> Iterator[MailConfig]:
    ports = free_ports(9)
    with django_db_blocker.unblock():
        config = MailConfig.from_settings(
            mail_dir=Path(settings.DATA_DIR) / "mail",
            hostname="mail.communes.cotedor.fr",
            domain="communes.cotedor.fr",
            smtp_port=ports[0],
            submission_port=ports[1],
            imap_port=ports[2],
            imaps_port=ports[3],
            sieve_port=ports[4],
            lmtp_port=ports[5],
            auth_port=ports[6],
            quota_status_port=ports[7],
            milter_port=ports[8],
            max_message_bytes=MAX_MESSAGE_BYTES,
            tls_cert=Path(settings.DATA_DIR) / "tls" / "mail.crt",
            tls_key=Path(settings.DATA_DIR) / "tls" / "mail.key",
            policy_url=f"{live_server.url}/interne/dovecot/politique",
        )
        runtime.prepare(config)
    log = (config.log_dir / "daemons.out").open("ab")
    rspamd_process = subprocess.Popen(rspamd.argv(config), stdout=log, stderr=log)  # noqa: S603
    postfix = subprocess.Popen(runtime.postfix_argv(config), stdout=log, stderr=log)  # noqa: S603
    dovecot = subprocess.Popen(runtime.dovecot_argv(config), stdout=log, stderr=log)  # noqa: S603
    try:
        for port in (
            config.milter_port,
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
