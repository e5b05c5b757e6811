"""Envelope encryption: a master key (file in the data dir, 0600, or
CLOCHER_VAULT_MASTER_KEY) wraps one AES-256 data key per commune; chunks are sealed with
AES-256-GCM under their commune's key. Rotating the master key re-wraps the data keys
only."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from django.conf import settings
from django.db import IntegrityError, transaction

from clocher.core.models import Commune
from clocher.storage.models import DataKey

NONCE_BYTES = 12
TAG_BYTES = 16


def master_key_path() -> Path:
    return Path(settings.VAULT_DIR) / "master.key"


def load_master_key() -> bytes:
    """The master key, created on first use (atomically, readable by its owner only)."""
    configured = getattr(settings, "VAULT_MASTER_KEY", "")
    if configured:
        key = base64.b64decode(configured)
        if len(key) != 32:
            raise ValueError("CLOCHER_VAULT_MASTER_KEY doit faire 32 octets (base64).")
        return key
    path = master_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(os.urandom(32)))
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(tmp, path)
        tmp.unlink()
    return base64.b64decode(path.read_bytes().strip())


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"clocher-master:" + key).hexdigest()[:16]


def _wrap(master: bytes, commune_id: int, data_key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, f"commune:{commune_id}".encode())


def _unwrap(master: bytes, commune_id: int, wrapped: bytes) -> bytes:
    nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
    return AESGCM(master).decrypt(nonce, sealed, f"commune:{commune_id}".encode())


# Unwrapped data keys of this process, by (commune, its creation time, master key id):
# every download and upload needed a query and an unwrap for a value that never changes.
# A data key is made once per commune and only re-wrapped by a rotation, which changes
# the master key id (so the next call reads the row again, and the old entry is never
# used); the creation time tells a commune apart from a later one given the same id.
_data_keys: dict[tuple[int, object, str], bytes] = {}


# The master key as last read, by where it came from: the setting's value, or the file's
# identity and change time (a rotation or a restore writes a new file, atomically). A small
# download read, decoded and hashed it on every request; now it costs one stat.
_master_read: tuple[object, bytes, str] | None = None


# Where the key was last looked for and when: the same place within a second is not
# looked at again (a rotation or a restore is seen within that second; a data key itself
# never changes with the master key that wraps it).
_master_checked: tuple[object, float] = (None, 0.0)
MASTER_RECHECK_SECONDS = 1.0


def _master_and_id(*, recheck: bool = False) -> tuple[bytes, str]:
    global _master_read, _master_checked
    cached = _master_read
    where = (settings.VAULT_DIR, getattr(settings, "VAULT_MASTER_KEY", ""))
    now = time.monotonic()
    fresh = _master_checked[0] == where and now - _master_checked[1] < MASTER_RECHECK_SECONDS
    if cached is not None and fresh and not recheck:
        return cached[1], cached[2]
    source = _master_source()
    if source is not None and cached is not None and cached[0] == source:
        _master_checked = (where, now)
        return cached[1], cached[2]
    # Stat first, then read: a file replaced in between leaves the old signature beside
    # the new key, which the next call finds changed and reads again.
    master = load_master_key()
    _master_read = (source or _master_source(), master, key_id(master))
    _master_checked = (where, now)
    return master, key_id(master)


def _master_source() -> object:
    configured = getattr(settings, "VAULT_MASTER_KEY", "")
    if configured:
        return configured
    try:
        found = os.stat(master_key_path())
    except FileNotFoundError:
        return None  # load_master_key makes it
    return (found.st_dev, found.st_ino, found.st_mtime_ns, found.st_size)


def data_key(commune: Commune) -> bytes:
    """The commune's data key, created on first use."""
    master, master_id = _master_and_id()
    cache_key = (commune.pk, commune.created_at, master_id)
    cached = _data_keys.get(cache_key)
    if cached is None:
        cached = _data_keys[cache_key] = _read_data_key(commune, master)
    return cached


def _read_data_key(commune: Commune, master: bytes) -> bytes:
    row = DataKey.objects.filter(commune=commune).first()
    if row is None:
        try:
            with transaction.atomic():
                row = DataKey.objects.create(
                    commune=commune,
                    wrapped=_wrap(master, commune.pk, os.urandom(32)),
                    master_key_id=key_id(master),
                )
        except IntegrityError:  # made by a concurrent request
            row = DataKey.objects.get(commune=commune)
    if row.master_key_id != key_id(master):  # rotated within the second: read it again
        master = _master_and_id(recheck=True)[0]
    return _unwrap(master, commune.pk, bytes(row.wrapped))


def rotate_master_key(new_master: bytes) -> int:
    """Re-wrap every data key under `new_master`; returns how many. The caller installs
    the new key (file or environment) once this has committed."""
    old = load_master_key()
    count = 0
    with transaction.atomic():
        for row in DataKey.objects.select_for_update():
            key = _unwrap(old, row.commune_id, bytes(row.wrapped))
            row.wrapped = _wrap(new_master, row.commune_id, key)
            row.master_key_id = key_id(new_master)
            row.save(update_fields=["wrapped", "master_key_id"])
            count += 1
    return count


def chunk_digest(key: bytes, plaintext: bytes) -> str:
    """The chunk's name: keyed, so a name reveals nothing of the content outside the
    commune, and equal content dedups within it."""
    return hmac.new(key, plaintext, hashlib.sha256).hexdigest()


def seal(key: bytes, commune_id: int, digest: str, plaintext: bytes) -> bytearray:
    """A chunk sealed as `seal_bytes` does, encrypted straight after its nonce: no
    second copy of a 4 MiB chunk per upload thread."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = bytearray(NONCE_BYTES + len(plaintext) + TAG_BYTES)
    sealed[:NONCE_BYTES] = nonce
    with memoryview(sealed) as view:
        AESGCM(key).encrypt_into(
            nonce, plaintext, f"{commune_id}:{digest}".encode(), view[NONCE_BYTES:]
        )
    return sealed


def open_sealed(key: bytes, commune_id: int, digest: str, sealed: bytes) -> bytes:
    return open_bytes(key, f"{commune_id}:{digest}".encode(), sealed)


def seal_bytes(key: bytes | AESGCM, context: bytes, plaintext: bytes) -> bytes:
    """AES-256-GCM, the nonce first; `context` is authenticated, so a sealed piece
    cannot be passed off as another. `key` may be a cipher made once (see `open_bytes`)."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, context)


def open_bytes(key: bytes | AESGCM, context: bytes, sealed: bytes) -> bytes:
    """The plaintext of `seal_bytes`; `key` may be a cipher made once with `cipher`, for
    a caller that opens many small pieces under one key (making it costs as much as
    opening 3 KB)."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    view = memoryview(sealed)
    return aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], context)


def cipher(key: bytes) -> AESGCM:
    return AESGCM(key)


def upload_key(session_id: int) -> bytes:
    """The key the parts of a chunked upload wait under: derived from the master key,
    since the commune they belong to is known only when the client assembles them."""
    return hmac.new(load_master_key(), f"upload:{session_id}".encode(), hashlib.sha256).digest()


# Login flow v2 hands a new app password to the client that polls with a secret token.
# The server keeps only the token's hash; the password waits sealed to a key pair whose
# private half is itself sealed under the token, so a copy of the database alone does
# not reveal it (the way Nextcloud does it).


def new_flow_keys(poll_token: str) -> tuple[bytes, bytes]:
    """(public key, private key sealed under the poll token)."""
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return public, seal_bytes(_token_key(poll_token), b"login-flow", raw)


def seal_to(public: bytes, plaintext: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
    sender = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return sender + seal_bytes(_shared_key(shared), b"login-flow", plaintext)


def open_with_token(poll_token: str, sealed_private: bytes, sealed: bytes) -> bytes:
    raw = open_bytes(_token_key(poll_token), b"login-flow", sealed_private)
    private = X25519PrivateKey.from_private_bytes(raw)
    shared = private.exchange(X25519PublicKey.from_public_bytes(sealed[:32]))
    return open_bytes(_shared_key(shared), b"login-flow", sealed[32:])


def _token_key(token: str) -> bytes:
    return hashlib.sha256(b"clocher-login-flow-token:" + token.encode()).digest()


def _shared_key(shared: bytes) -> bytes:
    return hashlib.sha256(b"clocher-login-flow-shared:" + shared).digest()
