"""Key custody: the backup repository's password and the vault's master key.

Neither is ever written into the repository: a thief of the backups gets ciphertext
only (restic encrypts with the password; vault and archive blobs are sealed under
data keys that the master key wraps). Both live on the running machine (0600 files) and
on the recovery kit, a paper page kept elsewhere; a restore refuses to start without it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from clocher.operations.restic import Repository
from clocher.storage import crypto


class KitError(Exception):
    """The recovery kit is missing, unreadable or does not fit the backup."""


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, path)


def backup_password(create: bool = True) -> str:
    """The repository password, made on first use (so a nightly backup needs nobody)."""
    path = Path(settings.BACKUP_PASSWORD_FILE)
    if not path.exists():
        if not create:
            raise KitError(f"clé de sauvegarde absente ({path}).")
        _write_secret(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def repository_location(to: str | None = None) -> str:
    location = to or settings.BACKUP_REPOSITORY
    if not location:
        raise KitError(
            "aucun dépôt de sauvegarde : donnez --to CHEMIN|s3:URL/SEAU ou réglez "
            "CLOCHER_BACKUP_REPOSITORY."
        )
    if not location.startswith(("s3:", "sftp:", "rest:")):
        location = str(Path(location).expanduser().resolve())
        data_dir = Path(settings.DATA_DIR).resolve()
        if Path(location) == data_dir or data_dir in Path(location).parents:
            raise KitError(
                f"le dépôt {location} est dans le répertoire de données {data_dir} : "
                "une sauvegarde doit vivre ailleurs (autre disque, autre site)."
            )
    return location


def repository(to: str | None = None) -> Repository:
    return Repository(repository_location(to), backup_password())


def fingerprint(secret: str | bytes) -> str:
    """A short, readable digest to check a key typed back from paper."""
    raw = secret.encode() if isinstance(secret, str) else secret
    digest = hashlib.sha256(b"clocher-kit:" + raw).hexdigest()[:16].upper()
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class Kit:
    repository: str
    backup_password: str
    master_key: str  # base64, 32 bytes

    @property
    def master_key_id(self) -> str:
        return crypto.key_id(base64.b64decode(self.master_key))


def current_kit(to: str | None = None) -> Kit:
    location = to or settings.BACKUP_REPOSITORY or "(à définir : CLOCHER_BACKUP_REPOSITORY)"
    if to or settings.BACKUP_REPOSITORY:
        location = repository_location(to)
    master = base64.b64encode(crypto.load_master_key()).decode()
    return Kit(location, backup_password(), master)


KIT_FIELDS = {
    "DEPOT": "repository",
    "CLE-SAUVEGARDE": "backup_password",
    "CLE-MAITRESSE": "master_key",
}


def kit_text(kit: Kit) -> str:
    """The paper page: keys, fingerprints, and how to restore with them."""
    now = timezone.localtime().strftime("%d/%m/%Y %H:%M")
    return f"""\
KIT DE RÉCUPÉRATION CLOCHER — imprimé le {now}
À conserver sur papier, sous clé, HORS du site et HORS du dépôt de sauvegarde.
Qui détient cette page et le dépôt peut lire toutes les données.

DEPOT: {kit.repository}
CLE-SAUVEGARDE: {kit.backup_password}
  empreinte : {fingerprint(kit.backup_password)}
CLE-MAITRESSE: {kit.master_key}
  empreinte : {fingerprint(kit.master_key)} (identifiant coffre {kit.master_key_id})

Restaurer sur une machine neuve :
  1. make install (ou paquets Debian + pip install clocher)
  2. recopier cette page dans un fichier kit.txt (les trois lignes DEPOT, CLE-…)
  3. clocher restore latest --kit kit.txt      (ou l'identifiant d'un instantané)
  4. clocher check, puis clocher serve
Une seule commune : clocher restore --commune INSEE latest --kit kit.txt
"""


def write_kit(kit: Kit, output: Path) -> None:
    """Text, or PDF when the name ends in .pdf (WeasyPrint), written 0600."""
    text = kit_text(kit)
    if output.suffix.lower() != ".pdf":
        _write_secret(output, text.rstrip("\n"))
        return
    from html import escape

    from weasyprint import HTML

    html = (
        "<html><body style='font-family: DejaVu Sans Mono, monospace; font-size: 10pt'>"
        f"<pre style='white-space: pre-wrap'>{escape(text)}</pre></body></html>"
    )
    data = HTML(string=html).write_pdf()
    assert data is not None
    tmp = output.with_name(f".{output.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, output)


def read_kit(path: Path | None) -> Kit:
    """The kit typed back (or printed by `clocher backup kit`): text, or the PDF."""
    if path is None:
        raise KitError(
            "la restauration exige le kit de récupération (--kit FICHIER) : la clé de "
            "sauvegarde et la clé maîtresse ne sont jamais dans le dépôt."
        )
    if not path.is_file():
        raise KitError(f"kit de récupération introuvable : {path}.")
    if path.suffix.lower() == ".pdf":
        proc = subprocess.run(  # noqa: S603
            ["pdftotext", "-layout", str(path), "-"],  # noqa: S607 - poppler-utils (Debian)
            capture_output=True,
            text=True,
            check=False,
        )
        text = proc.stdout
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
    values: dict[str, str] = {}
    field = ""
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key.strip() in KIT_FIELDS:
            field = KIT_FIELDS[key.strip()]
            values[field] = value.strip()
        elif field and line.strip() and not line[0].isspace():
            # The page wraps a long value (an S3 address, a deep path) onto the next line.
            values[field] += line.strip()
        else:
            field = ""
    missing = [k for k, v in KIT_FIELDS.items() if not values.get(v)]
    if missing:
        raise KitError(f"kit de récupération incomplet ({path}) : il manque {', '.join(missing)}.")
    try:
        if len(base64.b64decode(values["master_key"], validate=True)) != 32:
            raise ValueError
    except ValueError:
        raise KitError(f"kit {path} : CLE-MAITRESSE n'est pas une clé de 32 octets.") from None
    return Kit(**values)
