"""Write once: every interface refuses to change or delete an object under retention —
services, the model, the ORM's bulk update/delete, raw SQL (database triggers), the
pages and the CLI (which have no such route or command, and refuse elimination)."""

from __future__ import annotations

from datetime import date

import click
import pytest
from click.testing import CliRunner
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from clocher.archive import services
from clocher.archive.models import ArchivedObject, JournalEntry
from clocher.cli import main
from tests.archive.conftest import ACTOR, deposit, pdf, rule
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def _refused_by_database(sql: str, params: list) -> None:
    with (
        pytest.raises(DatabaseError, match="archive"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_model_refuses_change_and_delete(commune_a):
    obj = deposit(commune_a, code="contrats-conventions")
    obj.title = "Titre réécrit"
    with pytest.raises(ValidationError, match="scellé"):
        obj.save()
    fresh = ArchivedObject.objects.get(pk=obj.pk)
    with pytest.raises(ValidationError, match="jamais supprimé"):
        fresh.delete()
    with pytest.raises(ValidationError, match="ajout seul"):
        JournalEntry.objects.first().delete()


@pytest.mark.parametrize(
    ("sql", "value"),
    [
        ("UPDATE archive_archivedobject SET sha256 = %s WHERE id = %s", "0" * 64),
        ("UPDATE archive_archivedobject SET title = %s WHERE id = %s", "réécrit"),
        ("UPDATE archive_archivedobject SET timestamp_token = %s WHERE id = %s", b"x"),
        ("UPDATE archive_archivedobject SET retention_end = %s WHERE id = %s", "2026-01-01"),
        ("UPDATE archive_archivedobject SET final_fate = %s WHERE id = %s", "sort"),
    ],
    ids=["empreinte", "intitulé", "jeton", "raccourcir", "sort-final"],
)
def test_database_refuses_sealed_changes(commune_a, sql, value):
    obj = deposit(commune_a, code="contrats-conventions", act_date=date(2024, 1, 1))
    _refused_by_database(sql, [value, obj.pk])


def test_database_refuses_deletion_and_early_elimination(commune_a):
    obj = deposit(commune_a, code="contrats-conventions")
    _refused_by_database("DELETE FROM archive_archivedobject WHERE id = %s", [obj.pk])
    _refused_by_database(
        "UPDATE archive_archivedobject SET state = 'eliminated', eliminated_at = %s WHERE id = %s",
        [timezone.now(), obj.pk],
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        ArchivedObject.objects.filter(pk=obj.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        ArchivedObject.objects.filter(pk=obj.pk).update(title="réécrit")
    _refused_by_database("DELETE FROM archive_journalentry WHERE seq = %s", [1])
    _refused_by_database("UPDATE archive_journalentry SET event = %s WHERE seq = 1", ["x"])


def test_retention_may_only_grow(commune_a):
    obj = deposit(commune_a, code="marches-offres-non-retenues", act_date=date(2024, 1, 1))
    with pytest.raises(ValidationError, match="prolongée"):
        services.change_retention(ACTOR, obj, rule("contrats-conventions").__class__(
            code="x", label="x", years=1, final_fate="destroy"))  # fmt: skip
    services.change_retention(ACTOR, obj, rule("contrats-conventions"))  # 5 → 10 years
    obj.refresh_from_db()
    assert obj.retention_end == date(2034, 1, 1)
    services.change_retention(ACTOR, obj, rule("deliberations"))  # for ever
    obj.refresh_from_db()
    assert obj.retention_end is None and obj.final_fate == "keep"
    with pytest.raises(ValidationError, match="prolongée"):
        services.change_retention(ACTOR, obj, rule("contrats-conventions"))
    events = list(JournalEntry.objects.filter(archived_object=obj).values_list("event", flat=True))
    assert events.count("changement_conservation") == 2


def test_pages_offer_no_change_and_refuse_early_elimination(commune_a, admin_a):
    obj = deposit(commune_a, code="contrats-conventions", act_date=timezone.localdate())
    client = logged_in(admin_a)
    for name in ("detail", "download"):
        url = reverse(f"archive:{name}", kwargs={"insee": commune_a.insee, "object_id": obj.pk})
        assert client.post(url, {"title": "réécrit"}).status_code == 405
        assert client.delete(url).status_code == 405
    url = reverse("archive:propose", kwargs={"insee": commune_a.insee, "object_id": obj.pk})
    response = client.post(url, {"reason": "plus utile"}, follow=True)
    assert "pas écoulée" in response.content.decode()
    assert not obj.proposals.exists()
    obj.refresh_from_db()
    assert obj.title == "Délibération budget 2025" and obj.state == "sealed"


def test_cli_has_no_way_to_change_or_delete(commune_a):
    deposit(commune_a)
    group = main.get_command(click.Context(main), "archive")
    commands = set(group.commands)
    assert commands == {
        "deposit",
        "list",
        "audit",
        "verify",
        "evidence",
        "transfer",
        "seal",
        "scheduler",
        "rules",
    }
    result = CliRunner().invoke(main, ["archive", "delete", "1"])
    assert result.exit_code != 0


def test_same_document_twice_keeps_one_copy_and_two_notices(commune_a, archive_dir):
    first = deposit(commune_a, data=pdf("même"))
    second = deposit(commune_a, title="Copie", data=pdf("même"))
    assert first.blob_key == second.blob_key
    assert len(list((archive_dir / "blobs").rglob("*"))) == 3  # commune dir, prefix, blob
    assert services.read_document(ACTOR, second) == pdf("même")
    assert first.timestamp_token != second.timestamp_token  # each deposit its own token
