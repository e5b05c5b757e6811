"""Archive fixtures: a private archive directory (TSA key, blobs) per test, and helpers
to deposit small PDFs and to tamper with the database behind the triggers' back."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection

from clocher.archive import services
from clocher.archive.models import ArchivedObject, RetentionRule
from clocher.core.audit import Actor

ACTOR = Actor(label="tests")


@pytest.fixture(autouse=True)
def archive_dir(settings, tmp_path):
    settings.ARCHIVE_DIR = tmp_path / "archive"
    settings.VAULT_DIR = tmp_path / "vault"
    settings.ARCHIVE_TSA_URL = ""
    return settings.ARCHIVE_DIR


def pdf(text: str = "Délibération n°1") -> bytes:
    """A small but well-formed PDF 1.4 (FIDO identifies it as fmt/18)."""
    body = text.encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\nBT /F1 12 Tf 72 720 Td (%s) Tj ET\nendstream"
        % (len(body) + 33, body),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, content in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, content)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def rule(code: str) -> RetentionRule:
    return RetentionRule.objects.get(code=code)


def deposit(
    commune,
    *,
    title: str = "Délibération budget 2025",
    code: str = "deliberations",
    act_date: date = date(2025, 3, 14),
    data: bytes | None = None,
    actor: Actor = ACTOR,
) -> ArchivedObject:
    given = services.DepositInput(
        title=title,
        kind=rule(code).label,
        act_date=act_date,
        author="Le conseil municipal",
        rule=rule(code),
        filename="deliberation.pdf",
        data=data if data is not None else pdf(title),
    )
    return services.deposit(actor, commune, given).obj


def drop_trigger(name: str, table: str) -> None:
    """What an intruder with database access would do before editing rows."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER {name} ON {table}")
        else:
            cursor.execute(f"DROP TRIGGER {name}")


def drop_journal_triggers() -> None:
    if connection.vendor == "postgresql":
        drop_trigger("archive_journalentry_append_only", "archive_journalentry")
    else:
        for op in ("update", "delete"):
            drop_trigger(f"archive_journalentry_append_only_{op}", "archive_journalentry")
