"""Format identification at deposit agrees with FIDO run as FIDO runs (a fresh instance,
on a file), on every kind of document the archive receives: plain PDF, PDF/A (parts 1 to
3), OpenDocument and OOXML (containers), PNG, text, and bytes of no known format."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from clocher.archive import formats
from tests.archive.conftest import pdf


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            kind = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, content, compress_type=kind)
    return buffer.getvalue()


def odt() -> bytes:
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        b'"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        b'<manifest:file-entry manifest:full-path="/" manifest:version="1.2" '
        b'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        b"</manifest:manifest>"
    )
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office='
        b'"urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:version="1.2">'
        b"<office:body><office:text/></office:body></office:document-content>"
    )
    return _zip(
        {
            "mimetype": b"application/vnd.oasis.opendocument.text",
            "content.xml": content,
            "META-INF/manifest.xml": manifest,
        }
    )


def docx() -> bytes:
    types = (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
        b'.org/package/2006/content-types"><Default Extension="xml" ContentType='
        b'"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        b"</Types>"
    )
    rels = (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type='
        b'"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"'
        b' Target="word/document.xml"/></Relationships>'
    )
    document = (
        b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
        b'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Arr\xc3\xaat'
        b"\xc3\xa9</w:t></w:r></w:p></w:body></w:document>"
    )
    return _zip({"[Content_Types].xml": types, "_rels/.rels": rels, "word/document.xml": document})


def png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" * 2 + b"\x00" + b"\x00\x00\xff" * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def pdfa(variant: str, *, uncompressed: bool = True) -> bytes:
    from weasyprint import HTML

    html = (
        "<html><head><title>Délibération</title></head><body><p>Délibération n°1</p></body></html>"
    )
    return bytes(HTML(string=html).write_pdf(pdf_variant=variant, uncompressed_pdf=uncompressed))


SAMPLES = {
    "deliberation.pdf": lambda: pdf(),
    "arrete.pdf": lambda: pdf("Arrêté du maire").replace(b"%PDF-1.4", b"%PDF-1.7", 1),
    "pdfa-1b.pdf": lambda: pdfa("pdf/a-1b"),
    "pdfa-2b.pdf": lambda: pdfa("pdf/a-2b"),
    "pdfa-3b.pdf": lambda: pdfa("pdf/a-3b"),
    "pdfa-2b-compressed.pdf": lambda: pdfa("pdf/a-2b", uncompressed=False),
    "plain-weasyprint.pdf": lambda: bytes(
        __import__("weasyprint").HTML(string="<p>Convocation</p>").write_pdf()
    ),
    "compte-rendu.odt": odt,
    "compte-rendu.docx": docx,
    "plan.png": png,
    "notes.txt": lambda: "Procès-verbal de la séance du 14 mars 2025.\n".encode() * 20,
    "inconnu.bin": lambda: os.urandom(4096),
}


def fido_alone(data: bytes, filename: str, tmp_path: Path) -> str:
    """FIDO's first PUID for `data` written to a file, as its command line would give it."""
    from fido.fido import CONFIG_DIR, Fido
    from fido.versions import get_local_versions

    versions = get_local_versions(CONFIG_DIR)
    matches: list = []
    fido = Fido(
        quiet=True,
        handle_matches=lambda name, found, delta, kind="": matches.extend(found),
        format_files=[versions.pronom_signature, versions.fido_extension_signature],
    )
    fido.containersignature_file = versions.pronom_container_signature
    path = tmp_path / filename
    path.write_bytes(data)
    fido.identify_file(str(path), extension=False)
    return str(fido.get_puid(matches[0][0])) if matches else ""


@pytest.mark.parametrize("filename", sorted(SAMPLES))
def test_identification_agrees_with_fido(filename, tmp_path):
    data = SAMPLES[filename]()
    found = formats.identify(data, filename)
    assert found.puid == fido_alone(data, filename, tmp_path)


def test_the_samples_are_what_they_claim():
    """The comparison above means something only if the samples cover these formats."""
    puids = {name: formats.identify(make(), name).puid for name, make in SAMPLES.items()}
    assert puids["deliberation.pdf"] == "fmt/18"
    assert puids["pdfa-1b.pdf"] == "fmt/354" and puids["pdfa-2b.pdf"] == "fmt/477"
    assert puids["pdfa-3b.pdf"] == "fmt/480"
    assert puids["compte-rendu.odt"] == "fmt/290"
    assert puids["compte-rendu.docx"] == "fmt/412"
    assert puids["plan.png"] == "fmt/11"
    assert puids["notes.txt"] == ""  # plain text has no PRONOM signature, only its extension
    assert puids["inconnu.bin"] == ""
