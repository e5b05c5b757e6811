"""Chunked uploads, as Nextcloud's clients do them (chunking "1.0"/v2).

The client makes a session folder, PUTs numbered parts into it (resuming after a cut by
listing what is already there), then MOVEs the virtual `.file` onto the destination. The
parts wait on disk encrypted, in frames of 1 MiB so that memory stays bounded; assembling
reads them in order into an ordinary `ChunkWriter`, so the file gets its version,
quota charge and audit entry like any other write, atomically.

Parts count in a space's quota as they arrive (the destination the client names when it
makes the session, as Nextcloud's chunking v2 does, else the person's personal space),
and are released when the file is assembled (in the same transaction as the file is
counted) or the session abandoned or expired; an account has a bounded number of
sessions open. Without this, parts would fill the disk outside every quota.
"""

from __future__ import annotations

import contextlib
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
from clocher.storage import crypto
from clocher.storage.chunks import ChunkWriter
from clocher.vault import services
from clocher.vault.models import Node, Space, SpaceKind, UploadPart, UploadSession

FRAME_BYTES = 1 << 20
_LENGTH = struct.Struct(">I")
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")


class UploadError(ValidationError):
    pass


class TooManyUploads(UploadError):
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


def default_space(user: User) -> Space:
    """Where the parts of a session that named no destination are counted: the person's
    personal space in their first commune (released anyway when assembled)."""
    personal = [s for s in services.spaces_for(user) if s.kind == SpaceKind.PERSONAL]
    if not personal:
        raise ValidationError("Aucun espace du coffre n'est ouvert à ce compte.")
    return personal[0]


def open_session(user: User, name: str, space: Space | None = None) -> UploadSession:
    """MKCOL of the session folder; its parts will count in `space` (see the module).
    Raises UploadError when it exists already, TooManyUploads past the account's cap."""
    check_name(name)
    space = space or default_space(user)
    limit = settings.VAULT_MAX_UPLOAD_SESSIONS
    try:
        with transaction.atomic():
            # One MKCOL at a time per account, so that the cap holds under concurrency.
            User.objects.select_for_update().filter(pk=user.pk).first()
            if UploadSession.objects.filter(user=user).count() >= limit:
                raise TooManyUploads(
                    f"Trop d'envois découpés en cours pour ce compte ({limit} au plus) : "
                    "attendez qu'ils se terminent, ou qu'ils expirent."
                )
            session = UploadSession.objects.create(user=user, name=name, space=space)
    except IntegrityError as exc:
        raise UploadError("Ce transfert existe déjà.") from exc
    _session_dir(session).mkdir(parents=True, exist_ok=True)
    return session


def write_part(session: UploadSession, name: str, body: Readable, length: int) -> UploadPart:
    """Store one part from `body` (exactly `length` bytes). A part sent again replaces
    the previous one; a body cut short stores nothing. Its bytes are counted in the
    session's space before the body is read (refused: nothing read, nothing stored),
    and released again if it is not stored."""
    check_name(name)
    with transaction.atomic():
        locked = _locked(session)
        held = session.parts.exclude(name=name).aggregate(total=Sum("size"))["total"] or 0
        if held + length > settings.VAULT_UPLOAD_MAX_BYTES:
            raise UploadError("Ce transfert dépasse la taille maximale d'un envoi.")
        if locked.space is not None:
            services.hold(locked.space, length)
    try:
        part = _store_part(session, name, body, length)
    except BaseException:
        _release(locked.space, length)
        if not UploadSession.objects.filter(pk=session.pk).exists():  # abandoned meanwhile
            shutil.rmtree(_session_dir(session), ignore_errors=True)
        raise
    return part


def _locked(session: UploadSession) -> UploadSession:
    """The session's row, locked (parts are counted and released one at a time)."""
    locked = UploadSession.objects.select_for_update().filter(pk=session.pk).first()
    if locked is None:
        raise UploadError("Ce transfert n'existe plus.")
    return locked


def _release(space: Space | None, size: int) -> None:
    if space is not None and size:
        with transaction.atomic():
            services.hold(space, -size)


def _store_part(session: UploadSession, name: str, body: Readable, length: int) -> UploadPart:
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
    with transaction.atomic():
        locked = _locked(session)
        previous = UploadPart.objects.filter(session=session, name=name).first()
        part, _ = UploadPart.objects.update_or_create(
            session=session, name=name, defaults={"size": length}
        )
        if previous is not None and locked.space is not None:
            services.hold(locked.space, -previous.size)  # the part it replaces
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
    upload = ChunkWriter(parent.space.commune)
    try:
        for data in read_parts(session):
            upload.write(data)
        upload.finish()
    except BaseException:
        upload.discard()
        delete_session(session)
        raise
    try:
        with transaction.atomic():
            # The parts' hold ends as the file is counted, in one transaction: the room
            # they held is the file's, and nothing is counted twice or lost between. In
            # the destination's space, the file is counted net of the parts (one update
            # of the counters, after the file's folders: the vault's lock order).
            locked, held = _forget_parts(session)
            here = locked.space_id == parent.space.pk
            if not here and locked.space is not None:
                services.hold(locked.space, -held)  # counted elsewhere (no destination named)
            node = services.save_file(
                actor,
                parent,
                name,
                upload,
                if_match=if_match,
                modified_at=modified_at,
                held=held if here else 0,
            )
    finally:
        delete_session(session)
    return node, not existed


def _forget_parts(session: UploadSession) -> tuple[UploadSession, int]:
    """Forget the session's parts (in the caller's transaction): its locked row and the
    bytes they held, still counted in its space."""
    locked = _locked(session)
    held = session.parts.aggregate(total=Sum("size"))["total"] or 0
    session.parts.all().delete()
    return locked, held


def _release_parts(session: UploadSession) -> int:
    """Forget the session's parts and release the bytes they held (in the caller's
    transaction); returns how many."""
    locked, held = _forget_parts(session)
    if locked.space is not None and held:
        services.hold(locked.space, -held)
    return held


def delete_session(session: UploadSession) -> None:
    """Abandoned, expired or assembled: its parts are released and removed."""
    with transaction.atomic():
        with contextlib.suppress(UploadError):  # deleted meanwhile: released already
            _release_parts(session)
        UploadSession.objects.filter(pk=session.pk).delete()
    shutil.rmtree(_session_dir(session), ignore_errors=True)


def purge_stale() -> int:
    """Sessions left unfinished (a client that gave up): their parts go."""
    limit = timezone.now() - timedelta(hours=settings.VAULT_UPLOAD_EXPIRY_HOURS)
    stale = list(UploadSession.objects.filter(created_at__lt=limit))
    for session in stale:
        delete_session(session)
    return len(stale)
