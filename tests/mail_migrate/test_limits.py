"""Several imports at once: the connections to one source server stay bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clocher.core.models import ImportStatus
from clocher.mail.migrate import services
from clocher.mail.migrate.sources import SourceError
from clocher.mail.models import MailImport
from tests.concurrency import at_once


def _job(box, server: str, status: str = ImportStatus.QUEUED, connections: int = 0):
    return MailImport.objects.create(
        commune=box.mailbox.commune,
        mailbox=box.mailbox,
        source_kind="imap",
        source_key=f"imap://{box.address}@{server}",
        server=server,
        status=status,
        connections=connections,
    )


@pytest.mark.django_db
def test_connections_per_source_server_are_shared_between_imports(make_box, settings):
    settings.MAIL_IMPORT_SERVER_CONNECTIONS = 5
    server = "imap.ancien-fournisseur.fr:993"
    _job(make_box("un"), server, ImportStatus.RUNNING, connections=3)
    second = _job(make_box("deux"), server)
    assert services.acquire_connections(second, 3) == 2  # what the first one leaves
    second.refresh_from_db()
    assert second.status == ImportStatus.RUNNING and second.connections == 2

    third = _job(make_box("trois"), server)
    with pytest.raises(SourceError, match="Trop de reprises en cours"):
        services.acquire_connections(third, 3, patience=0)
    # Another server is not affected; an import that died long ago frees its share.
    assert services.acquire_connections(_job(make_box("quatre"), "imap.autre.fr:993"), 3) == 3
    MailImport.objects.filter(pk=second.pk).update(
        updated_at=timezone.now() - services.STALE_AFTER - timedelta(minutes=1)
    )
    assert services.acquire_connections(third, 3, patience=0) == 2


@pytest.mark.django_db(transaction=True)
def test_two_imports_taking_their_share_at_the_same_moment_do_not_deadlock(make_box, settings):
    """Each import locked the others' rows and then updated its own: two at once waited
    on each other (PostgreSQL: « deadlock detected », one import failed)."""
    settings.MAIL_IMPORT_SERVER_CONNECTIONS = 4
    server = "imap.ancien-fournisseur.fr:993"
    jobs = [_job(make_box(f"verrou{i}"), server, ImportStatus.RUNNING, 2) for i in (1, 2)]

    def take(job: MailImport):
        return lambda _round: services.acquire_connections(job, 2, patience=0)

    assert at_once([take(job) for job in jobs], rounds=60) == [[2] * 60, [2] * 60]


@pytest.mark.django_db(transaction=True)
def test_two_mailboxes_import_in_parallel_from_one_server(
    target_settings, small_source_server, make_box, settings
):
    """Two imports at once (as two workers run them), sharing 3 connections to the
    source server: both complete, each mailbox gets every message once."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from clocher.core.audit import Actor

    settings.MAIL_IMPORT_SERVER_CONNECTIONS = 3
    boxes = [make_box("parallele1"), make_box("parallele2")]

    def one(box):
        try:
            source = services.imap_source(
                small_source_server.url(),
                small_source_server.password,
                str(small_source_server.ca_file),
            )
            job = services.job_for(Actor(label="tests"), box.mailbox, source)
            return services.run(Actor(label="tests"), job, source, connections=2)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        jobs = list(pool.map(one, boxes))
    for job in jobs:
        assert job.status == ImportStatus.DONE, job.error
        assert (job.copied, job.failed, job.connections) == (98, 0, 0)
