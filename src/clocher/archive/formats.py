"""Format identification at deposit with FIDO (PRONOM signatures, the tool of the
Open Preservation Foundation), and whether the format is fit for long-term keeping."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# PDF/A (every part and level), the format asked for acts; then open formats the
# Archives départementales accept for long-term keeping (RGI, FranceArchives).
PDFA = {
    "fmt/95", "fmt/354", "fmt/476", "fmt/477", "fmt/478", "fmt/479", "fmt/480", "fmt/481",
    "fmt/1910", "fmt/1911", "fmt/1912",
}  # fmt: skip
OTHER_FIT = {
    "fmt/101": "XML",
    "x-fmt/111": "texte brut",
    "fmt/353": "TIFF",
    "fmt/11": "PNG",
    "fmt/12": "PNG",
    "fmt/13": "PNG",
    "x-fmt/392": "JPEG 2000",
    "fmt/290": "OpenDocument texte",
    "fmt/291": "OpenDocument texte",
    "fmt/1756": "OpenDocument texte",
    "fmt/294": "OpenDocument tableur",
    "fmt/295": "OpenDocument tableur",
    "fmt/1755": "OpenDocument tableur",
}


@dataclass(frozen=True)
class FormatInfo:
    puid: str
    name: str
    long_term_fit: bool
    warning: str


_fido: Any = None
_lock = threading.Lock()


def _identifier() -> Any:
    global _fido
    if _fido is None:
        from fido.fido import CONFIG_DIR, Fido
        from fido.versions import get_local_versions

        versions = get_local_versions(CONFIG_DIR)
        _fido = Fido(
            quiet=True,
            handle_matches=lambda *args: None,
            format_files=[versions.pronom_signature, versions.fido_extension_signature],
        )
        _fido.containersignature_file = versions.pronom_container_signature
    return _fido


def identify(data: bytes, filename: str) -> FormatInfo:
    """The PRONOM identifier and name of `data` (FIDO reads a temporary copy, since it
    opens containers such as OpenDocument by path)."""
    matches: list[Any] = []
    suffix = Path(filename).suffix[:16]
    with _lock, tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        fido = _identifier()
        fido.handle_matches = lambda name, found, delta, kind="": matches.extend(found)
        fido.identify_file(tmp.name, extension=False)
    if not matches:
        return FormatInfo("", "inconnu", False, _warning("", "format non reconnu"))
    fmt = matches[0][0]
    puid = str(fido.get_puid(fmt))
    name = fmt.findtext("name") or puid
    fit = puid in PDFA or puid in OTHER_FIT
    return FormatInfo(puid, name, fit, "" if puid in PDFA else _warning(puid, name))


def _warning(puid: str, name: str) -> str:
    if puid in OTHER_FIT:
        return (
            f"Format ouvert accepté ({name}), mais le PDF/A est préféré pour les actes : "
            "pensez à l'exporter en PDF/A."
        )
    if puid:
        return (
            f"Format peu sûr à long terme ({name}, {puid}) : déposez de préférence une "
            "version PDF/A (export « PDF/A » du traitement de texte)."
        )
    return (
        "Format non reconnu : le document est archivé tel quel, mais sa lisibilité dans "
        "trente ans n'est pas garantie ; déposez de préférence une version PDF/A."
    )
