"""Real servers for the mail import tests: the project's Dovecot (the target, configured
by Clocher's engine and reading the test database) and a second Dovecot seeded as the old
provider (the source). The import needs no Postfix nor rspamd: only Dovecot is started."""

from __future__ import annotations

import ssl
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from imapclient import IMAPClient

from clocher.mail.engines import runtime
from clocher.mail.engines.config import MailConfig
from clocher.mail.migrate.sources import fingerprint
from tests.mail.conftest import (  # noqa: F401 - fixtures
    config_on_free_ports,
    free_ports,
    make_box,
    wait_for_port,
)
from tests.mail_migrate.source_server import SourceServer, corpus, start_source

BIG_ATTACHMENT = 20 * 1024 * 1024


def _source(scale: float, big: int) -> Iterator[SourceServer]:
    base = Path(tempfile.mkdtemp(prefix="clocher-source-"))
    server = start_source(base, (free_ports(2)[0], free_ports(2)[1]), corpus(scale, big))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def private_sources_allowed(settings):
    """The old providers of these tests are Dovecots on 127.0.0.1 and free ports: the
    operator's switch for internal servers is on (tests/mail_migrate/test_network.py
    turns it off)."""
    settings.MAIL_IMPORT_ALLOW_PRIVATE = True


@pytest.fixture(scope="module")
def source_server() -> Iterator[SourceServer]:
    """2,000 messages in nested accented folders, malformed ones, a 20 MB attachment."""
    yield from _source(1.0, BIG_ATTACHMENT)


@pytest.fixture(scope="module")
def small_source_server() -> Iterator[SourceServer]:
    """The same folders with 98 messages."""
    yield from _source(0.05, 0)


@pytest.fixture(scope="session")
def target_dovecot(django_db_setup, django_db_blocker, live_server) -> Iterator[MailConfig]:
    with django_db_blocker.unblock():
        config = config_on_free_ports(
            Path(django_settings.DATA_DIR),
            live_server.url,
            mail_dir="mail-import",
            max_message_bytes=django_settings.MAIL_MAX_MESSAGE_BYTES,
        )
        runtime.prepare(config)
    log = (config.log_dir / "daemons.out").open("ab")
    dovecot = subprocess.Popen(runtime.dovecot_argv(config), stdout=log, stderr=log)  # noqa: S603
    try:
        wait_for_port(config.imaps_port)
        yield config
    finally:
        dovecot.terminate()
        dovecot.wait(timeout=20)
        log.close()


@pytest.fixture
def target_settings(settings, target_dovecot):
    settings.MAIL_BIND = "127.0.0.1"
    settings.MAIL_IMAPS_PORT = target_dovecot.imaps_port
    settings.MAIL_TLS_CERT = str(target_dovecot.tls_cert)
    return target_dovecot


def open_imap(port: int, user: str, password: str, ca_file: Path | None = None) -> IMAPClient:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if ca_file is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    client = IMAPClient("localhost", port, ssl=True, ssl_context=context, timeout=60)
    client.normalise_times = False
    client.login(user, password)
    return client


Snapshot = dict[str, Counter[tuple[str, tuple[str, ...], float, int]]]


def snapshot(port: int, user: str, password: str, names: dict[str, str] | None = None) -> Snapshot:
    """Folder → multiset of (fingerprint, flags, internal date, size) for every message
    of a mailbox, read over IMAPS: what must be equal on both sides. `names` renames
    folders (source → target)."""
    client = open_imap(port, user, password)
    try:
        return _listing(client, names or {})
    finally:
        client.logout()


def _listing(client: IMAPClient, names: dict[str, str]) -> Snapshot:
    result: Snapshot = {}
    for flags, _sep, name in client.list_folders():
        if {b"\\Noselect", b"\\NonExistent"} & set(flags):
            continue
        client.select_folder(name, readonly=True)
        uids = client.search("ALL")
        seen: Counter[tuple[str, tuple[str, ...], float, int]] = Counter()
        for start in range(0, len(uids), 300):
            fetched = client.fetch(
                uids[start : start + 300], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE", "RFC822.SIZE"]
            )
            for data in fetched.values():
                flags = tuple(sorted(f.decode() for f in data[b"FLAGS"] if f != b"\\Recent"))
                seen[
                    (
                        fingerprint(data[b"BODY[]"]),
                        flags,
                        data[b"INTERNALDATE"].timestamp(),
                        data[b"RFC822.SIZE"],
                    )
                ] += 1
        result[names.get(name, name)] = seen
    return result
