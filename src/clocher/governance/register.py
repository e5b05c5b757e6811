"""The register of processing activities: prefilled from the catalogue, edited by the
commune admin (their commune's entries) or the operator, exported as PDF and ODS."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.pdf import render_pdf
from clocher.core.scoping import get_operator, is_commune_admin, is_operator
from clocher.governance import catalogue
from clocher.governance.models import ProcessingActivity

# The register's columns, in the order of the GDPR's article 30-1.
FIELDS = (
    "name",
    "purpose",
    "legal_basis",
    "data_categories",
    "people",
    "recipients",
    "transfers",
    "retention",
    "security",
)


def label(field: str) -> str:
    return str(getattr(ProcessingActivity._meta.get_field(field), "verbose_name", field))


def activities(commune: Commune | None) -> list[ProcessingActivity]:
    """The register of `commune` (None: the operator's), its missing entries prefilled
    first: an entry the catalogue gains later joins every register, edited ones stay."""
    entries = catalogue.commune_entries() if commune else catalogue.operator_entries()
    rows = ProcessingActivity.objects.filter(commune=commune)
    known = set(rows.values_list("key", flat=True))
    missing = [
        ProcessingActivity(
            commune=commune, position=10 * (i + 1), transfers=catalogue.NO_TRANSFER, **entry
        )
        for i, entry in enumerate(entries)
        if entry["key"] not in known
    ]
    if missing:
        ProcessingActivity.objects.bulk_create(missing, ignore_conflicts=True)
    return list(rows.all())


def may_edit(user: object, commune: Commune | None) -> bool:
    """A commune's register is its admins' (and the operator's, who supports them); the
    operator's own register is the operator's staff's alone."""
    if commune is None:
        return is_operator(user)
    return is_commune_admin(user, commune)


def update_activity(
    actor: Actor, activity: ProcessingActivity, changes: dict[str, str]
) -> ProcessingActivity:
    """Change the entry's texts; every column stays filled, the change is journalled."""
    if actor.user is not None and not may_edit(actor.user, activity.commune):
        raise PermissionDenied("Seul un administrateur peut modifier ce registre.")
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValidationError(f"Rubrique inconnue : {', '.join(sorted(unknown))}.")
    changed = []
    for field, value in changes.items():
        value = value.strip()
        if not value:
            raise ValidationError(f"La rubrique « {label(field)} » ne peut pas être vide.")
        if field == "name" and len(value) > 200:
            raise ValidationError("Le nom du traitement dépasse 200 caractères.")
        if getattr(activity, field) != value:
            setattr(activity, field, value)
            changed.append(field)
    if not changed:
        return activity
    with transaction.atomic():
        activity.updated_by = actor.display[:254]
        activity.save()
        audit.record(
            actor,
            "governance.activity_updated",
            commune=activity.commune,
            target=activity.key,
            data={"fields": changed},
        )
    return activity


def controller(commune: Commune | None) -> str:
    if commune is not None:
        return f"Commune de {commune.name} (INSEE {commune.insee}), représentée par son maire"
    operator = get_operator()
    return operator.name if operator else "L'opérateur de Clocher"


def to_pdf(commune: Commune | None) -> bytes:
    from django.conf import settings

    context = {
        "controller": controller(commune),
        "activities": activities(commune),
        "labels": {f: label(f) for f in FIELDS[1:]},
        "dpo": ", ".join(x for x in (settings.DPO_NAME, settings.DPO_EMAIL) if x),
        "generated": timezone.localtime(),
    }
    return render_pdf("governance/register_print.html", context)


_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" \
manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:version="1.2" \
manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"""
_CONTENT_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" \
xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" \
xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet><table:table table:name="{name}">
"""
_CONTENT_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>\n"
ODS_TYPE = "application/vnd.oasis.opendocument.spreadsheet"


def _cell(text: str) -> str:
    paragraphs = "".join(f"<text:p>{escape(line)}</text:p>" for line in text.split("\n"))
    return f'<table:table-cell office:value-type="string">{paragraphs}</table:table-cell>'


def to_ods(commune: Commune | None) -> bytes:
    """An OpenDocument spreadsheet (one row per processing), written by hand: the format
    is a zip of small XML files, the `mimetype` entry first and stored uncompressed."""
    rows = [[label(f) for f in FIELDS]]
    rows += [[getattr(a, f) for f in FIELDS] for a in activities(commune)]
    body = "".join(
        "<table:table-row>" + "".join(_cell(v) for v in row) + "</table:table-row>\n"
        for row in rows
    )
    name = escape("Registre des traitements", {'"': "&quot;"})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as ods:
        ods.writestr(zipfile.ZipInfo("mimetype"), ODS_TYPE, compress_type=zipfile.ZIP_STORED)
        ods.writestr("META-INF/manifest.xml", _MANIFEST)
        ods.writestr("content.xml", _CONTENT_HEAD.format(name=name) + body + _CONTENT_TAIL)
    return out.getvalue()


def filename(commune: Commune | None, extension: str) -> str:
    scope = commune.insee if commune else "operateur"
    return f"registre-traitements-{scope}.{extension}"
