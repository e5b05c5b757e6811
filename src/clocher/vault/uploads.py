"""Chunked uploads, as Nextcloud's clients do them (chunking "1.0"/v2).

The client makes a session folder, PUTs numbered parts into it (resuming after a cut by
listing what is already there), then MOVEs the virtual `.file` onto the destination. The
parts wait on disk encrypted, in frames of 1 MiB so that memory stays bounded; assembling
reads them in order into an ordinary `services.Upload`, so the file gets its version,
quota charge and audit entry like any other write, atomically.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from clocher.accounts.models import User
from clocher.core.audit import Actor
from clocher.vault import crypto, services
from clocher.vault.models import Node, UploadPart, UploadSession

FRAME_BYTES = 1 << 20
_LENGTH = struct.Struct(">I")
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")


class UploadError(ValidationError):
    pass


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def check_name(name: str) -> str:
    if not SAFE_NAME.match(name):
        raise UploadError(f"Nom de transfert refusé : « {name[:80]} ».")
    return name


def _session_dir(session: UploadSession) -> Path:
    return Path(settings.VAULT_DIR) / "uploads" / str(session.pk)


def find_session(user: User, name: str) -> UploadSession | None:
    return UploadSession.objects.filter(user=user, name=name).first()


def open_session(user: User, name: str) -> UploadSession:
    """MKCOL of the session folder. Raises UploadError when it exists already."""
    try:
        with transaction.atomic():
            session = UploadSession.objects.create(user=user, name=check_name(name))
    except IntegrityError as exc:
        raise UploadError("Ce transfert existe déjà.") from exc
    _session_dir(session).mkdir(parents=True, exist_ok=True)
    return session


def write_part(session: UploadSession, name: str, body: Readable, length: int) -> UploadPart:
    """Store one part from `body` (exactly `length` bytes). A part sent again replaces
    the previous one; a body cut short stores nothing."""
    check_name(name)
    held = session.parts.exclude(name=name).aggregate(total=Sum("size"))["total"] or 0
    if held + length > settings.VAULT_UPLOAD_MAX_BYTES:
        raise UploadError("Ce transfert dépasse la taille maximale d'un envoi.")
    key = crypto.upload_key(session.pk)
    folder = _session_dir(session)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        with temporary.open("wb") as out:
            remaining, index = length, 0
            while remaining:
                data = body.read(min(FRAME_BYTES, remaining))
                if not data:
                    raise UploadError("Le contenu est arrivé incomplet.")
                remaining -= len(data)
                sealed = crypto.seal_bytes(key, _frame_context(session, name, index), data)
                out.write(_LENGTH.pack(len(sealed)) + sealed)
                index += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, folder / name)
    finally:
        temporary.unlink(missing_ok=True)
    part, _ = UploadPart.objects.update_or_create(
        session=session, name=name, defaults={"size": length}
    )
    return part


def _frame_context(session: UploadSession, name: str, index: int) -> bytes:
    return f"upload:{session.pk}:{name}:{index}".encode()


def _order(part: UploadPart) -> tuple[int, str]:
    return (int(part.name), "") if part.name.isdigit() else (1 << 62, part.name)


def parts(session: UploadSession) -> list[UploadPart]:
    return sorted(session.parts.all(), key=_order)


def read_parts(session: UploadSession) -> Iterator[bytes]:
    """The parts' content in order, one decrypted frame at a time."""
    key = crypto.upload_key(session.pk)
    for part in parts(session):
        with (_session_dir(session) / part.name).open("rb") as sealed_file:
            index = 0
            while header := sealed_file.read(_LENGTH.size):
                (size,) = _LENGTH.unpack(header)
                sealed = sealed_file.read(size)
                yield crypto.open_bytes(key, _frame_context(session, part.name, index), sealed)
                index += 1


def assemble(
    actor: Actor,
    session: UploadSession,
    parent: Node,
    name: str,
    *,
    total_length: int | None = None,
    if_match: str | None = None,
    modified_at: datetime | None = None,
) -> tuple[Node, bool]:
    """MOVE of `.file`: the parts become the file's new version. Returns the node and
    whether it is new. The session is gone afterwards, whatever happened."""
    held = sum(p.size for p in session.parts.all())
    if total_length is not None and held != total_length:
        raise UploadError(f"Il manque des morceaux : {held} octets reçus sur {total_length}.")
    existed = services.child(parent, name) is not None
    upload = services.Upload(parent.space.commune)
    for data in read_parts(session):
        upload.write(data)
    try:
        node = services.save_file(
            actor, parent, name, upload, if_match=if_match, modified_at=modified_at
        )
    finally:
        delete_session(session)
    return node, not existed


def delete_session(session: UploadSession) -> None:
    shutil.rmtree(_session_dir(session), ignore_errors=True)
    session.delete()


def purge_stale() -> int:
    """Sessions left unfinished (a client that gave up): their parts go."""
    limit = timezone.now() - timedelta(hours=settings.VAULT_UPLOAD_EXPIRY_HOURS)
    stale = list(UploadSession.objects.filter(created_at__lt=limit))
    for session in stale:
        delete_session(session)
    return len(stale)
