"""Thumbnails of images and of a PDF's first page, made on request.

Images go through Pillow (its decompression-bomb guard on); PDFs through poppler's
`pdftoppm` with a time limit, fed on stdin so no clear copy lands on disk. Only formats
that are safe to render are previewed (no SVG: it is a document, with scripts).
"""

from __future__ import annotations

import io
import shutil
import subprocess

from django.core.exceptions import ValidationError

from clocher.vault import services
from clocher.vault.models import Node

IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
SIZE = 480
MAX_SOURCE_BYTES = 64 * 1024 * 1024


class PreviewError(ValidationError):
    pass


def _extension(node: Node) -> str:
    name = node.name.lower()
    return name[name.rfind(".") :] if "." in name else ""


def can_preview(node: Node) -> bool:
    if node.is_folder or node.current is None or node.size > MAX_SOURCE_BYTES:
        return False
    extension = _extension(node)
    return extension in IMAGE_TYPES or (
        extension == ".pdf" and shutil.which("pdftoppm") is not None
    )


def thumbnail(node: Node) -> bytes:
    """A PNG no larger than SIZE×SIZE."""
    data = b"".join(services.iter_content(node))
    if _extension(node) == ".pdf":
        return _pdf_first_page(data)
    return _image(data)


def _image(data: bytes) -> bytes:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((SIZE, SIZE))
            out = io.BytesIO()
            image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(out, "PNG")
            return out.getvalue()
    except Exception as exc:  # noqa: BLE001 - a broken or hostile image has no preview
        raise PreviewError("Aperçu impossible pour cette image.") from exc


def _pdf_first_page(data: bytes) -> bytes:
    try:
        result = subprocess.run(  # noqa: S603
            ["pdftoppm", "-png", "-f", "1", "-l", "1", "-scale-to", str(SIZE), "-"],  # noqa: S607
            input=data,
            capture_output=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PreviewError("Aperçu trop long à produire.") from exc
    if result.returncode != 0 or not result.stdout.startswith(b"\x89PNG"):
        raise PreviewError("Aperçu impossible pour ce PDF.")
    return result.stdout
