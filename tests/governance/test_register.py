"""The register of processing activities: prefilled for every service, edited by the
commune's admins only (journalled), exported as PDF and ODS, on the page and the CLI."""

from __future__ import annotations

import io
import subprocess
import zipfile
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from django.urls import reverse

from clocher.cli import main
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry
from clocher.governance import catalogue, register
from clocher.governance.models import ProcessingActivity
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def test_registers_are_prefilled_once_for_every_service_without_transfer(commune_a, operator):
    entries = register.activities(commune_a)
    keys = {a.key for a in entries}
    assert {"messagerie", "coffre", "archives", "bouclier", "sensibilisation", "energie",
            "agendas", "eservices"} <= keys  # fmt: skip
    assert all("aucun transfert hors de l'Union européenne" in a.transfers for a in entries)
    assert all(getattr(a, f) for a in entries for f in register.FIELDS)
    assert "365 jours" in next(a.retention for a in entries if a.key == "bouclier")
    operator_keys = {a.key for a in register.activities(None)}
    assert {"journaux", "journal_audit", "defense_collective"} <= operator_keys
    register.activities(commune_a)  # a second read adds nothing
    assert ProcessingActivity.objects.filter(commune=commune_a).count() == len(
        catalogue.commune_entries()
    )


def test_admin_edits_their_commune_entry_journalled_others_refused(
    commune_a, commune_b, admin_a, agent_a, admin_b
):
    mail = next(a for a in register.activities(commune_a) if a.key == "messagerie")
    url = reverse("governance:commune", kwargs={"insee": commune_a.insee})
    client = logged_in(admin_a)
    page = client.get(url)
    assert page.status_code == 200
    assert "Messagerie professionnelle" in page.content.decode()

    response = client.post(url, {"activity": mail.pk, "purpose": "Courriel de la mairie."})
    assert response.status_code == 302
    mail.refresh_from_db()
    assert mail.purpose == "Courriel de la mairie."
    assert mail.updated_by == admin_a.email
    entry = AuditEntry.objects.get(action="governance.activity_updated")
    assert (entry.commune, entry.target, entry.data) == (
        commune_a,
        "messagerie",
        {"fields": ["purpose"]},
    )

    empty = client.post(url, {"activity": mail.pk, "legal_basis": "  "})
    assert empty.status_code == 400
    assert "« base légale » ne peut pas être vide" in empty.content.decode()
    assert logged_in(agent_a).post(url, {"activity": mail.pk, "purpose": "x"}).status_code == 404
    # B's admin, on B's own page, naming an entry of A: not found, nothing changes.
    url_b = reverse("governance:commune", kwargs={"insee": commune_b.insee})
    assert logged_in(admin_b).post(url_b, {"activity": mail.pk, "purpose": "x"}).status_code == 404
    mail.refresh_from_db()
    assert mail.purpose == "Courriel de la mairie."
    assert AuditEntry.objects.filter(action="governance.activity_updated").count() == 1


def test_register_exports_as_pdf_and_ods(commune_a, admin_a):
    energy = next(a for a in register.activities(commune_a) if a.key == "energie")
    register.update_activity(Actor(user=admin_a), energy, {"people": "Gardien logé"})
    client = logged_in(admin_a)

    pdf = client.get(reverse("governance:commune_pdf", kwargs={"insee": commune_a.insee}))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    assert "Registre des activités de traitement" in text
    assert "Gardien logé" in text and "Flavigny" in text

    ods = client.get(reverse("governance:commune_ods", kwargs={"insee": commune_a.insee}))
    assert ods.status_code == 200
    with zipfile.ZipFile(io.BytesIO(ods.content)) as archive:
        first = archive.infolist()[0]
        assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
        assert archive.read("mimetype") == register.ODS_TYPE.encode()
        root = ElementTree.fromstring(archive.read("content.xml"))
    rows = [
        ["".join(cell.itertext()) for cell in row.iter(f"{TABLE}table-cell")]
        for row in root.iter(f"{TABLE}table-row")
    ]
    assert rows[0][1] == "finalité"
    assert len(rows) == 1 + len(catalogue.commune_entries())
    assert [r[4] for r in rows if r[0] == "Suivi énergétique des bâtiments"] == ["Gardien logé"]


def test_operator_register_page_and_cli(client_operator, commune_a, tmp_path):
    page = client_operator.get(reverse("governance:operator"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Journaux de connexion et détection de force brute" in body
    assert client_operator.get(reverse("governance:operator_ods")).status_code == 200

    target = tmp_path / "registre.pdf"
    result = CliRunner().invoke(
        main, ["governance", "register", commune_a.insee, "--pdf", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"%PDF")
    listed = CliRunner().invoke(main, ["governance", "register", "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"key": "journal_audit"' in listed.output
    unknown = CliRunner().invoke(main, ["governance", "register", "99999"])
    assert unknown.exit_code == 1 and "Commune 99999 inconnue" in unknown.output


def test_a_departing_commune_takes_its_register(commune_a):
    from clocher.core import staging
    from clocher.onboarding import services as onboarding

    entry = register.activities(commune_a)[0]
    register.update_activity(Actor(label="t"), entry, {"name": "Traitement renommé"})
    made = onboarding.export_commune(Actor(label="t"), commune_a)
    data = b"".join(staging.read(made.path, commune_a))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        ods = archive.read("gouvernance/registre-traitements.ods")
    with zipfile.ZipFile(io.BytesIO(ods)) as inner:
        assert "Traitement renommé" in inner.read("content.xml").decode()
