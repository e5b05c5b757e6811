"""The policy version every box fetches against, and the central's signing key (its
fingerprint checked at start)."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clocher.shield.models import (
    PolicyVersion,
)
from clocher_box import protocol


def bump_policy() -> int:
    """A change every box must fetch: the next heartbeat tells them."""
    with transaction.atomic():
        counter, _ = PolicyVersion.objects.get_or_create(singleton=1)
        PolicyVersion.objects.filter(pk=counter.pk).update(
            version=F("version") + 1, changed_at=timezone.now()
        )
    return policy_version()


def policy_version() -> int:
    counter = PolicyVersion.objects.filter(singleton=1).only("version").first()
    return counter.version if counter else 1


def signing_key_path() -> Path:
    """CLOCHER_SHIELD_CENTRAL_KEY_FILE (a path every node mounts), else the data dir."""
    if settings.SHIELD_CENTRAL_KEY_FILE:
        return Path(settings.SHIELD_CENTRAL_KEY_FILE)
    return Path(settings.DATA_DIR) / "shield" / "central-ed25519.key"


class CentralKeyMismatch(Exception):
    pass


def central_key_fingerprint() -> str:
    return hashlib.sha256(protocol.unb64(central_public_key())).hexdigest()


def check_central_key() -> str:
    """The key this node signs with is the one recorded (recorded at its first use).

    Boxes trust one central key: a web node that made its own (its data dir lacks the
    copied key) would sign policies every box rejects, so it must not start.
    """
    from clocher.shield.models import CentralKey

    fingerprint = central_key_fingerprint()
    recorded, _ = CentralKey.objects.get_or_create(
        singleton=1, defaults={"fingerprint": fingerprint}
    )
    if recorded.fingerprint != fingerprint:
        raise CentralKeyMismatch(
            f"la clé de signature du bouclier de ce nœud ({signing_key_path()}, empreinte "
            f"{fingerprint[:16]}…) n'est pas celle de la plateforme (empreinte "
            f"{recorded.fingerprint[:16]}…) : copiez la clé du premier nœud à cet endroit, "
            "ou pointez CLOCHER_SHIELD_CENTRAL_KEY_FILE vers la clé partagée."
        )
    return fingerprint


def signing_key() -> Any:
    """The central's Ed25519 key, made once in the data dir (0600), never in the database."""
    path = signing_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        raw = protocol.private_key_bytes(protocol.new_private_key())
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, path)  # fails if another process made it first: keep theirs
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return protocol.private_key_from_bytes(path.read_bytes())


def central_public_key() -> str:
    return protocol.public_key_b64(signing_key())
