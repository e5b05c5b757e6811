"""CSV import of a commune's agents: parse and validate every line before anything is
created, report line by line, then create all valid lines in one transaction.

Pure parsing/validation here; creation goes through `services.add_member`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from clocher.core.models import COMMUNE_ROLES, Commune, Membership

MAX_BYTES = 1024 * 1024
MAX_LINES = 5000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ROLE_ALIASES = {
    "agent": "agent",
    "elected": "elected",
    "elu": "elected",
    "élu": "elected",
    "élue": "elected",
    "commune_admin": "commune_admin",
    "admin": "commune_admin",
    "administrateur": "commune_admin",
    "administratrice": "commune_admin",
}
COLUMN_ALIASES = {
    "email": "email",
    "e-mail": "email",
    "courriel": "email",
    "adresse": "email",
    "nom": "full_name",
    "full_name": "full_name",
    "nom complet": "full_name",
    "role": "role",
    "rôle": "role",
    "fonction": "title",
    "title": "title",
}


class ImportRefused(Exception):
    """The whole file is refused (size, encoding, structure): nothing is read further."""


@dataclass
class Line:
    number: int
    email: str
    full_name: str = ""
    role: str = "agent"
    title: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Report:
    encoding: str
    delimiter: str
    lines: list[Line]

    @property
    def valid(self) -> list[Line]:
        return [line for line in self.lines if line.ok]

    @property
    def invalid(self) -> list[Line]:
        return [line for line in self.lines if not line.ok]


def decode(raw: bytes) -> tuple[str, str]:
    """Text and the name of the encoding used: UTF-8 (with or without BOM), else
    Windows-1252, the encoding of a spreadsheet saved as CSV on a town-hall PC."""
    if b"\x00" in raw:
        raise ImportRefused("Ce fichier n'est pas un fichier texte CSV (contenu binaire).")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), "UTF-8 (avec BOM)"
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError as exc:
        raise ImportRefused("Encodage du fichier non reconnu (ni UTF-8, ni Windows-1252).") from exc


def parse(raw: bytes, commune: Commune) -> Report:
    if not raw.strip():
        raise ImportRefused("Le fichier est vide.")
    if len(raw) > MAX_BYTES:
        raise ImportRefused(f"Fichier trop volumineux : {len(raw) // 1024} Kio (1 Mio au plus).")
    if raw.count(b"\n") > MAX_LINES + 1:
        raise ImportRefused(f"Trop de lignes : {MAX_LINES} au plus par import.")
    text, encoding = decode(raw)
    if not text.strip():  # a byte-order mark, or spaces in another encoding
        raise ImportRefused("Le fichier est vide.")
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise ImportRefused("En-tête illisible.") from exc
    columns = [COLUMN_ALIASES.get(h) for h in header]
    if "email" not in columns:
        found = ", ".join(h if len(h) <= 40 else h[:39] + "…" for h in header[:12])
        raise ImportRefused(
            f"Colonne « email » absente de l'en-tête (colonnes trouvées : {found}"
            f"{', …' if len(header) > 12 else ''})."
        )
    existing = {
        e.lower()
        for e in Membership.objects.filter(commune=commune).values_list("user__email", flat=True)
    }
    seen: dict[str, int] = {}
    lines: list[Line] = []
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            values = {
                col: row[i].strip() if i < len(row) else "" for i, col in enumerate(columns) if col
            }
            line = Line(
                number,
                values.get("email", "").lower(),
                values.get("full_name", ""),
                values.get("role", "") or "agent",
                values.get("title", ""),
            )
            _validate(line, row, seen, existing)
            lines.append(line)
    except csv.Error as exc:
        raise ImportRefused(f"CSV mal formé à la ligne {reader.line_num} : {exc}.") from exc
    return Report(encoding, delimiter, lines)


def _validate(line: Line, row: list[str], seen: dict[str, int], existing: set[str]) -> None:
    if any(cell.startswith(FORMULA_PREFIXES) for cell in row if cell):
        line.errors.append("formule interdite (cellule commençant par =, +, -, @)")
    try:
        validate_email(line.email)
    except ValidationError:
        line.errors.append(f"adresse électronique invalide « {line.email} »")
    role = ROLE_ALIASES.get(line.role.strip().lower())
    if role is None:
        labels = ", ".join(str(r.value) for r in COMMUNE_ROLES)
        line.errors.append(f"rôle inconnu « {line.role} » (attendu : {labels})")
    else:
        line.role = role
    if line.email in seen:
        line.errors.append(f"en double dans le fichier (ligne {seen[line.email]})")
    else:
        seen[line.email] = line.number
    if line.email in existing:
        line.errors.append("déjà membre de la commune")
    if len(line.full_name) > 200 or len(line.title) > 120:
        line.errors.append("nom ou fonction trop long")


def check_quota(report: Report, commune: Commune, active_members: int) -> None:
    free = commune.quota_members - active_members
    if len(report.valid) > free:
        raise ImportRefused(
            f"Quota de membres dépassé : {len(report.valid)} nouveaux membres pour "
            f"{max(free, 0)} place(s) libre(s) (quota {commune.quota_members})."
        )
