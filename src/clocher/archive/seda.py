"""Transfer to the Archives départementales: a SEDA 2.3 ArchiveTransfer package (the
French standard for archive exchanges, Service interministériel des Archives de France):
`manifest.xml` and the documents under `content/`.

Each object becomes an ArchiveUnit (title, dates, author, its retention as an
AppraisalRule whose final action is Keep or Destroy) pointing to a DataObjectGroup whose
BinaryDataObject carries the SHA-512, the size, the PRONOM format and the file name.
The tests validate the manifest against the official XSD (tests/archive/seda/).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from lxml import etree

from clocher.archive import journal, services
from clocher.archive.journal import Event
from clocher.archive.models import ArchivedObject, FinalFate, ObjectState
from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune

SEDA_NS = "fr:gouv:culture:archivesdefrance:seda:v2.3"
XLINK_NS = "http://www.w3.org/1999/xlink"
FINAL_ACTION = {FinalFate.KEEP: "Keep", FinalFate.DESTROY: "Destroy", FinalFate.SORT: "Keep"}


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{SEDA_NS}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _mime(obj: ArchivedObject) -> str:
    return (
        "application/pdf" if obj.filename.lower().endswith(".pdf") else "application/octet-stream"
    )


def content_name(obj: ArchivedObject) -> str:
    return f"content/{obj.reference}-{obj.filename}"


def manifest(commune: Commune, objects: Sequence[ArchivedObject], identifier: str) -> bytes:
    """The ArchiveTransfer message (UTF-8 XML) for `objects` of `commune`."""
    operator = scoping.get_operator()
    root = etree.Element(f"{{{SEDA_NS}}}ArchiveTransfer", nsmap={None: SEDA_NS, "xlink": XLINK_NS})
    _el(root, "Comment", f"Versement des archives électroniques de {commune.name}")
    _el(root, "Date", timezone.now().isoformat(timespec="seconds"))
    _el(root, "MessageIdentifier", identifier)
    codes = _el(root, "CodeListVersions")
    for code in ("ReplyCodeListVersion", "MessageDigestAlgorithmCodeListVersion",
                 "MimeTypeCodeListVersion", "FileFormatCodeListVersion"):  # fmt: skip
        _el(codes, code, "1.0" if code != "FileFormatCodeListVersion" else "PRONOM")
    package = _el(root, "DataObjectPackage")
    for obj in objects:
        group = _el(package, "DataObjectGroup", id=f"GRP-{obj.pk}")
        binary = _el(group, "BinaryDataObject", id=f"BDO-{obj.pk}")
        _el(binary, "DataObjectVersion", "BinaryMaster_1")
        _el(binary, "Uri", content_name(obj))
        _el(binary, "MessageDigest", obj.sha512, algorithm="SHA-512")
        _el(binary, "Size", str(obj.size))
        fmt = _el(binary, "FormatIdentification")
        _el(fmt, "FormatLitteral", obj.format_name or "inconnu")
        _el(fmt, "MimeType", _mime(obj))
        if obj.puid:
            _el(fmt, "FormatId", obj.puid)
        info = _el(binary, "FileInfo")
        _el(info, "Filename", obj.filename)
        _el(info, "LastModified", obj.deposited_at.isoformat(timespec="seconds"))
    descriptive = _el(package, "DescriptiveMetadata")
    for obj in objects:
        unit = _el(descriptive, "ArchiveUnit", id=f"AU-{obj.pk}")
        management = _el(unit, "Management")
        appraisal = _el(management, "AppraisalRule")
        _el(appraisal, "Rule", obj.retention_rule.code)
        _el(appraisal, "StartDate", obj.act_date.isoformat())
        _el(appraisal, "FinalAction", FINAL_ACTION[FinalFate(obj.final_fate)])
        content = _el(unit, "Content")
        _el(content, "DescriptionLevel", "Item")
        _el(content, "Title", obj.title)
        _el(content, "OriginatingAgencyArchiveUnitIdentifier", obj.reference)
        _el(content, "Description", f"{obj.kind} — sceau {obj.reference}, SHA-256 {obj.sha256}")
        _el(content, "DocumentType", obj.kind)
        _el(content, "Language", "fr")
        originating = _el(content, "OriginatingAgency")
        _el(originating, "Identifier", commune.insee)
        writer = _el(content, "Writer")
        _el(writer, "FullName", obj.author)
        _el(content, "CreatedDate", obj.act_date.isoformat())
        _el(content, "TransactedDate", obj.act_date.isoformat())
        reference = _el(unit, "DataObjectReference")
        _el(reference, "DataObjectGroupReferenceId", f"GRP-{obj.pk}")
    management = _el(package, "ManagementMetadata")
    _el(management, "OriginatingAgencyIdentifier", commune.insee)
    _el(management, "SubmissionAgencyIdentifier", commune.insee)
    archival = _el(root, "ArchivalAgency")
    _el(archival, "Identifier", f"AD{operator.department_code}" if operator else "AD")
    transferring = _el(root, "TransferringAgency")
    _el(transferring, "Identifier", commune.insee)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def transfer_package(
    actor: Actor, commune: Commune, objects: Sequence[ArchivedObject]
) -> tuple[str, bytes]:
    """(message identifier, zip) of the transfer; each object's transfer is journalled.
    The originals stay in the archive: destroying them after the Archives
    départementales acknowledge the transfer is an elimination, with its visa."""
    objects = [o for o in objects if o.commune_id == commune.pk]
    if not objects:
        raise ValidationError("Aucun objet de cette commune à transférer.")
    if any(o.state != ObjectState.SEALED for o in objects):
        raise ValidationError("Un objet éliminé ne peut plus être transféré.")
    identifier = f"CLOCHER-{commune.insee}-{datetime.now():%Y%m%d%H%M%S}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.xml", manifest(commune, objects, identifier))
        for obj in objects:
            archive.writestr(content_name(obj), services.checked_bytes(obj))
    with transaction.atomic():
        for obj in objects:
            journal.append(
                actor,
                Event.TRANSFER,
                commune=commune,
                archived_object=obj,
                data={"message": identifier, "norme": "SEDA 2.3"},
            )
        audit.record(
            actor,
            "archive.transferred",
            commune=commune,
            target=identifier,
            data={"objects": [o.reference for o in objects]},
        )
    return identifier, buffer.getvalue()
