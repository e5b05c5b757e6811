"""SEDA 2.3 ArchiveTransfer export, validated with lxml against the official XSD
vendored in tests/archive/seda/ (see its README for the sources and licences)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from clocher.archive import seda
from clocher.archive.models import JournalEntry
from clocher.cli import main
from tests.archive.conftest import ACTOR, deposit, pdf

pytestmark = pytest.mark.django_db
SCHEMAS = Path(__file__).parent / "seda"


class _LocalW3C(etree.Resolver):
    """The XSD imports xml.xsd and xlink.xsd by URL: serve the vendored copies."""

    def resolve(self, url, pubid, context):  # type: ignore[no-untyped-def]
        name = url.rsplit("/", 1)[-1]
        if name in ("xml.xsd", "xlink.xsd"):
            return self.resolve_filename(str(SCHEMAS / name), context)
        return None


def seda_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalW3C())
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "seda-2.3-main.xsd"), parser))


def test_transfer_manifest_is_valid_seda(commune_a, commune_b):
    objects = [
        deposit(commune_a, title="Délibération budget 2025", data=pdf("budget")),
        deposit(commune_a, title="Contrat de maintenance", code="contrats-conventions",
                data=pdf("contrat")),
    ]  # fmt: skip
    other = deposit(commune_b, title="Arrêté de B", data=pdf("B"))
    identifier, package = seda.transfer_package(ACTOR, commune_a, [*objects, other])
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        manifest = archive.read("manifest.xml")
        names = set(archive.namelist())
        assert archive.read(seda.content_name(objects[0])) == pdf("budget")
    assert names == {"manifest.xml", *(seda.content_name(o) for o in objects)}
    schema = seda_schema()
    document = etree.fromstring(manifest)
    assert schema.validate(document), schema.error_log
    ns = {"s": seda.SEDA_NS}
    assert document.findtext("s:MessageIdentifier", namespaces=ns) == identifier
    digests = document.xpath("//s:BinaryDataObject/s:MessageDigest/text()", namespaces=ns)
    assert digests == [o.sha512 for o in objects]
    actions = document.xpath("//s:AppraisalRule/s:FinalAction/text()", namespaces=ns)
    assert actions == ["Keep", "Destroy"]
    assert "Arrêté de B" not in manifest.decode()
    transfers = JournalEntry.objects.filter(event="transfert")
    assert sorted(t.archived_object_id for t in transfers) == sorted(o.pk for o in objects)


def test_an_invalid_manifest_is_caught_by_the_schema(commune_a):
    obj = deposit(commune_a)
    document = etree.fromstring(seda.manifest(commune_a, [obj], "X"))
    document.remove(document.find(f"{{{seda.SEDA_NS}}}TransferringAgency"))
    assert not seda_schema().validate(document)


def test_transfer_command(commune_a, tmp_path):
    obj = deposit(commune_a)
    target = tmp_path / "versement.zip"
    result = CliRunner().invoke(
        main, ["archive", "transfer", commune_a.insee, str(obj.pk), "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        assert seda_schema().validate(etree.fromstring(archive.read("manifest.xml")))


def test_transfer_from_the_page_admins_only(commune_a, admin_a, agent_a):
    from django.urls import reverse

    from tests.conftest import logged_in

    obj = deposit(commune_a)
    url = reverse("archive:transfer", kwargs={"insee": commune_a.insee})
    assert logged_in(agent_a).post(url, {"objects": [obj.pk]}).status_code == 404
    response = logged_in(admin_a).post(url, {"objects": [obj.pk]})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert seda_schema().validate(etree.fromstring(archive.read("manifest.xml")))
    page = logged_in(admin_a).post(url, {"objects": []}, follow=True).content.decode()
    assert "Aucun objet" in page
