"""The wire contract between a box and the central, shared by both sides.

Requests from an enrolled box are signed with its Ed25519 key; policies and blocklists
from the central are signed with the central's Ed25519 key. Both sign the same thing:
canonical JSON (sorted keys, no spaces, UTF-8), so that any re-serialisation verifies.
See docs/shield.md for the endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HEADER_BOX = "X-Clocher-Box"
HEADER_TIMESTAMP = "X-Clocher-Timestamp"
HEADER_SIGNATURE = "X-Clocher-Signature"
# A signed request older or newer than this is refused (replay window, clock skew).
MAX_SKEW_SECONDS = 300


class SignatureError(ValueError):
    """A signature is missing, malformed, stale or does not verify."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise SignatureError("base64 invalide") from exc


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def private_key_from_bytes(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64(raw)


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    raw = unb64(text)
    if len(raw) != 32:
        raise SignatureError("clé publique Ed25519 invalide (32 octets attendus)")
    return Ed25519PublicKey.from_public_bytes(raw)


def request_message(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    """What a box signs for one HTTP request: method, path, time and the body's hash."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{digest}".encode()


def sign_request(
    key: Ed25519PrivateKey, box_id: str, method: str, path: str, body: bytes
) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = key.sign(request_message(method, path, timestamp, body))
    return {HEADER_BOX: box_id, HEADER_TIMESTAMP: timestamp, HEADER_SIGNATURE: b64(signature)}


def verify_request(
    public_key_text: str,
    method: str,
    path: str,
    timestamp: str,
    signature_text: str,
    body: bytes,
    now: float | None = None,
) -> None:
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError) as exc:
        raise SignatureError("horodatage de requête invalide") from exc
    if abs((now if now is not None else time.time()) - sent_at) > MAX_SKEW_SECONDS:
        raise SignatureError("requête trop ancienne ou horloge décalée")
    try:
        public_key_from_b64(public_key_text).verify(
            unb64(signature_text), request_message(method, path, timestamp, body)
        )
    except InvalidSignature as exc:
        raise SignatureError("signature de requête invalide") from exc


def sign_envelope(key: Ed25519PrivateKey, payload: dict[str, Any]) -> dict[str, str]:
    """A signed document from the central: the payload as canonical JSON, and its signature."""
    body = canonical_json(payload)
    return {"payload": b64(body), "signature": b64(key.sign(body))}


def open_envelope(public_key_text: str, envelope: dict[str, Any]) -> dict[str, Any]:
    """The payload of a signed document, or SignatureError if it was forged or altered."""
    if not isinstance(envelope, dict) or not {"payload", "signature"} <= envelope.keys():
        raise SignatureError("document signé mal formé")
    body = unb64(str(envelope["payload"]))
    try:
        public_key_from_b64(public_key_text).verify(unb64(str(envelope["signature"])), body)
    except InvalidSignature as exc:
        raise SignatureError("signature du document invalide") from exc
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise SignatureError("document signé mal formé")
    return payload
