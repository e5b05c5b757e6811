"""Format identification at deposit with FIDO (PRONOM signatures, the tool of the
Open Preservation Foundation), and whether the format is fit for long-term keeping."""

from __future__ import annotations

import re
import re._constants as re_constants  # type: ignore[import-not-found]
import re._parser as re_parser  # type: ignore[import-not-found]
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

# A pattern's cost order: an anchored BOF match fails at once, a VAR/IFB search scans the
# head of the file and an EOF search its tail. All patterns of a signature must match, so
# trying the cheap ones first changes the cost, never the result.
_POSITION_COST = {"BOF": 0, "EOF": 1, "VAR": 2, "IFB": 2}


@dataclass(frozen=True)
class _Pattern:
    position: str
    regex: re.Pattern[bytes]

    def matches(self, bof: bytes, eof: bytes) -> bool:
        if self.position == "BOF":
            return self.regex.match(bof) is not None
        return self.regex.search(eof if self.position == "EOF" else bof) is not None


def _test(pattern: _Pattern) -> tuple[Any, bool]:
    """`pattern.matches` as a bound regex method and the buffer it reads (the tail?)."""
    if pattern.position == "BOF":
        return pattern.regex.match, False
    return pattern.regex.search, pattern.position == "EOF"


def _first_byte(patterns: list[_Pattern] | None) -> int | None:
    """The byte a file must start with for these patterns to match, when a BOF pattern
    begins with a literal (`\\A\\x25…`); None when any first byte may match."""
    for pattern in patterns or ():
        if pattern.position != "BOF" or pattern.regex.flags & re.IGNORECASE:
            continue
        for op, value in re_parser.parse(pattern.regex.pattern):
            if op is re_constants.AT and value is re_constants.AT_BEGINNING_STRING:
                continue
            if op is re_constants.LITERAL:
                return int(value)
            break
    return None


class _CompiledFido:
    """FIDO's own signature matching (`Fido.match_formats`), with every signature read
    from the XML and its regular expressions compiled once.

    FIDO walks the XML elements and recompiles through `re`'s 512-entry cache on every
    file, for ~2,000 signatures: that was most of a small deposit's cost. The loop, the
    priority rule (`as_good_as_any`) and the final pruning are FIDO's, so the matches are
    the same; `identify` still hands containers (ZIP, OLE2) to FIDO itself."""

    def __init__(self, fido: Any) -> None:
        self.fido = fido
        self.priority = fido.puid_has_priority_over_map
        self.formats: list[tuple[Any, str, list[tuple[str, list[_Pattern] | None]]]] = []
        # The same patterns as (bound match or search, whether on the tail): `match` calls
        # them ~450 times per small PDF, where a method call and a generator per pattern
        # cost more than the (failing at once) regex itself.
        self.tests: list[list[tuple[str, list[tuple[Any, bool]] | None]]] = []
        # Formats a file can match, by its first byte: those with a signature anchored on
        # a literal first byte go under that byte only, the others under every byte.
        self.by_first_byte: list[list[int]] = [[] for _ in range(257)]
        for element in fido.formats:
            signatures: list[tuple[str, list[_Pattern] | None]] = []
            for sig in fido.get_signatures(element):
                try:
                    patterns = [
                        _Pattern(fido.get_pos(pat), re.compile(fido.get_regex(pat)))
                        for pat in fido.get_patterns(sig)
                    ]
                    patterns.sort(key=lambda p: _POSITION_COST.get(p.position, 3))
                except (re.error, AttributeError):
                    # FIDO would fail on this signature and skip the rest of the format.
                    signatures.append((sig.findtext("name"), None))
                    break
                signatures.append((sig.findtext("name"), patterns))
            self.formats.append((element, fido.get_puid(element), signatures))
            self.tests.append(
                [
                    (name, None if patterns is None else [_test(p) for p in patterns])
                    for name, patterns in signatures
                ]
            )
            firsts = {_first_byte(patterns) for _, patterns in signatures}
            index = len(self.formats) - 1
            known = sorted(byte for byte in firsts if byte is not None)
            for byte in range(257) if None in firsts else known:
                self.by_first_byte[byte].append(index)

    def _as_good_as_any(self, puid: str, element: Any, found: list[tuple[Any, str, str]]) -> bool:
        return not any(
            other is not element and puid in self.priority[other_puid]
            for other, other_puid, _ in found
        )

    def match(self, data: bytes) -> list[tuple[Any, str]]:
        """FIDO's (format element, signature name) matches over the head and the tail of
        `data`, read as FIDO reads a file (`bufsize` bytes each)."""
        bof = data[: self.fido.bufsize]
        eof = data[-self.fido.bufsize :] if len(data) > self.fido.bufsize else bof
        found: list[tuple[Any, str, str]] = []
        # puid -> the found formats that have priority over it: `_as_good_as_any` as a
        # lookup, since it is asked for each of the ~300 candidates after a first match.
        outranked_by: dict[str, list[Any]] = {}
        for index in self.by_first_byte[bof[0] if bof else 256]:
            element, puid, _ = self.formats[index]
            if any(other is not element for other in outranked_by.get(puid, ())):
                continue
            for name, tests in self.tests[index]:
                if tests is None:
                    break
                for test, on_tail in tests:
                    if test(eof if on_tail else bof) is None:
                        break
                else:
                    found.append((element, puid, name))
                    for lower in self.priority[puid]:
                        outranked_by.setdefault(lower, []).append(element)
        return [
            (element, name)
            for element, puid, name in found
            if self._as_good_as_any(puid, element, found)
        ]


def _identifier() -> _CompiledFido:
    """One FIDO, its signatures compiled once per process (kept warm for every deposit)."""
    global _fido
    if _fido is None:
        from fido.fido import CONFIG_DIR, Fido
        from fido.versions import get_local_versions

        versions = get_local_versions(CONFIG_DIR)
        fido = Fido(
            quiet=True,
            handle_matches=lambda *args: None,
            format_files=[versions.pronom_signature, versions.fido_extension_signature],
        )
        fido.containersignature_file = versions.pronom_container_signature
        _fido = _CompiledFido(fido)
    return _fido


def _fido_on_file(fido: Any, data: bytes, filename: str) -> list[Any]:
    """FIDO itself on a temporary copy: containers (OpenDocument, OOXML, OLE2) are
    opened by path."""
    matches: list[Any] = []
    with tempfile.NamedTemporaryFile(suffix=Path(filename).suffix[:16]) as tmp:
        tmp.write(data)
        tmp.flush()
        fido.handle_matches = lambda name, found, delta, kind="": matches.extend(found)
        fido.identify_file(tmp.name, extension=False)
    return matches


def identify(data: bytes, filename: str) -> FormatInfo:
    """The PRONOM identifier and name of `data`: FIDO's signatures matched in memory,
    and FIDO on a file only for containers, whose members it must open."""
    with _lock:
        compiled = _identifier()
        matches: list[Any] = compiled.match(data)
        if compiled.fido.container_type(matches) in ("zip", "ole"):
            matches = _fido_on_file(compiled.fido, data, filename)
        fido = compiled.fido
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
