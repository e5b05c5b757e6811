"""The box's side of the wire contract (docs/shield.md): enrolment, signed calls.

The box's identity lives in its state directory: `box.json` (its id, the central's URL
and public key, its commune) and `box.key` (its Ed25519 private key, mode 0600). TLS
certificates of the central are verified (system store, or the CA file given at
enrolment); every call after enrolment is signed (`protocol.sign_request`), and every
policy is verified (`protocol.open_envelope`) before it is used.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from clocher_box import __version__, protocol
from clocher_box.state import write_atomic

log = logging.getLogger("clocher_box.client")

TIMEOUT = 15


class CentralError(RuntimeError):
    """The central refused or could not be reached (message in French); `status` is the
    HTTP status of a refusal, 0 when the central was not reached."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Identity:
    box_id: str
    server: str
    central_public_key: str
    commune_insee: str
    commune_name: str
    ca_file: str = ""

    @classmethod
    def load(cls, state_dir: Path) -> Identity:
        path = state_dir / "box.json"
        if not path.exists():
            raise CentralError(f"boîtier non enrôlé ({path} absent) : lancez clocher-box enroll")
        return cls(**json.loads(path.read_text()))

    def private_key(self, state_dir: Path) -> Any:
        return protocol.private_key_from_bytes((state_dir / "box.key").read_bytes())


def _verify(ca_file: str) -> str | bool:
    return ca_file or True


def enroll(state_dir: Path, server: str, token: str, ca_file: str = "") -> Identity:
    """Creates the key pair, registers with the central, stores the identity."""
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)
    key = protocol.new_private_key()
    body = {
        "token": token,
        "public_key": protocol.public_key_b64(key),
        "hostname": socket.gethostname(),
        "version": __version__,
    }
    url = server.rstrip("/") + "/api/shield/enroll"
    try:
        answer = requests.post(url, json=body, timeout=TIMEOUT, verify=_verify(ca_file))
    except requests.RequestException as exc:
        raise CentralError(f"central injoignable ({url}) : {exc}") from exc
    if answer.status_code != 201:
        raise CentralError(
            f"enrôlement refusé par le central ({answer.status_code}) : {answer.text[:200]}"
        )
    data = answer.json()
    identity = Identity(
        box_id=str(data["box_id"]),
        server=server.rstrip("/"),
        central_public_key=str(data["central_public_key"]),
        commune_insee=str(data.get("commune", {}).get("insee", "")),
        commune_name=str(data.get("commune", {}).get("name", "")),
        ca_file=ca_file,
    )
    protocol.public_key_from_b64(identity.central_public_key)  # refuse a malformed key now
    write_atomic(state_dir / "box.key", protocol.private_key_bytes(key), mode=0o600)
    write_atomic(state_dir / "box.json", json.dumps(asdict(identity), indent=2).encode())
    return identity


class Central:
    """Signed calls to the central on behalf of an enrolled box."""

    def __init__(self, state_dir: Path) -> None:
        self.identity = Identity.load(state_dir)
        self.key = self.identity.private_key(state_dir)
        self.verify = _verify(self.identity.ca_file)

    def addresses(self) -> list[str]:
        """The central's IP addresses: never to be blocked."""
        host = urlsplit(self.identity.server).hostname or ""
        try:
            return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
        except OSError:
            return []

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.identity.server + path
        data = protocol.canonical_json(body) if body is not None else b""
        headers = protocol.sign_request(
            self.key, self.identity.box_id, method, urlsplit(url).path, data
        )
        if body is not None:
            headers["Content-Type"] = "application/json"
        # A new connection per call (no pool): calls are seconds apart, a kept-alive one
        # would outlive a restart of the central, and reusing one the server is closing
        # fails the call.
        headers["Connection"] = "close"
        try:
            answer = requests.request(
                method, url, data=data, headers=headers, timeout=TIMEOUT, verify=self.verify
            )
        except requests.RequestException as exc:
            raise CentralError(f"central injoignable : {exc}") from exc
        if answer.status_code != 200:
            raise CentralError(
                f"{method} {path} : {answer.status_code} {answer.text[:300]}", answer.status_code
            )
        # From the bytes: `answer.json()` decoded them to a text first, one more copy of
        # a whole bulk list. A page instead (a proxy, a captive portal answering 200) is
        # the central not reached: the daemon keeps its events and tries again.
        try:
            return json.loads(answer.content)
        except ValueError as exc:
            raise CentralError(
                f"{method} {path} : réponse illisible ({answer.headers.get('Content-Type')})"
            ) from exc

    def heartbeat(self, health: dict[str, Any]) -> int:
        answer = self.call(
            "POST", "/api/shield/heartbeat", {"version": __version__, "health": health}
        )
        return int(answer.get("policy_version", 0))

    def send_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self.call("POST", "/api/shield/events", {"events": events}))

    def policy(self, feed_since: int = 0) -> dict[str, Any]:
        """The current policy, verified; SignatureError if forged or altered. The bulk
        list comes apart (`feed`): the changes since `feed_since`, or whole if 0 (as one
        text, a prefix a line: `Agent._apply_feed`)."""
        return protocol.open_envelope(
            self.identity.central_public_key,
            self.call("GET", f"/api/shield/policy?feed={int(feed_since)}&format=text"),
        )
