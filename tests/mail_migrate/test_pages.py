"""The commune admin's page: start an IMAP import for a mailbox and follow it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clocher.core.models import AuditEntry, ImportStatus
from clocher.mail.models import MailImport

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_admin_starts_an_imap_import_and_follows_it(
    target_settings, small_source_server, make_box, client_admin_a, client_agent_a, commune_a,
    monkeypatch,
):  # fmt: skip
    # The old provider's certificate is self-signed: trust it as a CA would be.
    monkeypatch.setenv("SSL_CERT_FILE", str(small_source_server.ca_file))
    box = make_box("accueil")
    url = reverse(
        "mail:mail_import", kwargs={"insee": commune_a.insee, "mailbox_id": box.mailbox.pk}
    )
    page = client_admin_a.get(url)
    assert page.status_code == 200
    assert "Reprendre un compte IMAP" in page.content.decode()
    assert client_agent_a.get(url).status_code == 404  # admins only

    form = {
        "host": "localhost",
        "port": small_source_server.imaps_port,
        "security": "tls",
        "user": small_source_server.user,
        "password": "faux",
    }
    answer = client_admin_a.post(url, form, follow=True)
    job = MailImport.objects.get(mailbox=box.mailbox)
    assert job.status == ImportStatus.FAILED
    assert "mot de passe incorrect" in answer.content.decode()

    answer = client_admin_a.post(url, {**form, "password": small_source_server.password})
    assert answer.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, job.error
    assert (job.copied, job.failed) == (98, 0)
    assert job.sealed_secret is None  # the password is gone with the run
    assert AuditEntry.objects.filter(action="mail.import_queued", target=box.address).count() == 2

    status_url = reverse(
        "mail:mail_import_status", kwargs={"insee": commune_a.insee, "mail_import_id": job.pk}
    )
    fragment = client_admin_a.get(status_url).content.decode()
    assert "98 message(s) copié(s)" in fragment and "Éléments envoyés" in fragment
    assert "hx-get" not in fragment  # finished: the page stops polling
    state = client_admin_a.get(status_url, {"format": "json"}).json()
    assert state == {
        "status": "done", "total": 98, "copied": 98, "skipped": 0, "failed": 0,
        "percent": 100, "folder": "", "error": "",
    }  # fmt: skip
    page = client_admin_a.get(url).content.decode()
    assert "98 message(s) copié(s)" in page and small_source_server.password not in page


def test_running_import_polls_its_progress_line(
    client_admin_a, client_operator, commune_a, make_box
):
    box = make_box("encours")
    job = MailImport.objects.create(
        commune=commune_a,
        mailbox=box.mailbox,
        source_kind="imap",
        source_key="imap://x@ancien.fr:993",
        status=ImportStatus.RUNNING,
        total=200,
        copied=50,
        current_folder="Archives/Année 2019",
    )
    status_url = reverse(
        "mail:mail_import_status", kwargs={"insee": commune_a.insee, "mail_import_id": job.pk}
    )
    fragment = client_admin_a.get(status_url).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "25 %" in fragment
    assert "Archives/Année 2019" in fragment
    # The operator's support follows it too.
    assert client_operator.get(status_url).status_code == 200
    page = reverse(
        "mail:mail_import", kwargs={"insee": commune_a.insee, "mailbox_id": box.mailbox.pk}
    )
    assert "25 %" in client_operator.get(page).content.decode()
