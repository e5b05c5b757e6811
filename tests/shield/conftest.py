"""A box as the tests see it: an Ed25519 key, enrolled through the real endpoint, and a
client that signs its requests exactly as the agent does (clocher_box.protocol)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from clocher.core.models import Commune
from clocher.shield import services
from clocher_box import protocol
from tests.conftest import SYSTEM


@dataclass
class FakeBox:
    """Not a stub of the central: a real key pair driving the real endpoints."""

    commune: Commune
    hostname: str
    key: Any = field(default_factory=protocol.new_private_key)
    box_id: str = ""
    central_key: str = ""
    next_seq: int = 1
    client: Client = field(default_factory=Client)

    def enroll(self, token: str) -> Any:
        response = self.client.post(
            "/api/shield/enroll",
            json.dumps(
                {
                    "token": token,
                    "public_key": protocol.public_key_b64(self.key),
                    "hostname": self.hostname,
                    "version": "0.1.0",
                }
            ),
            content_type="application/json",
        )
        if response.status_code == 201:
            self.box_id = response.json()["box_id"]
            self.central_key = response.json()["central_public_key"]
        return response

    def signed(self, method: str, path: str, payload: Any = None, **overrides: str) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = protocol.sign_request(self.key, self.box_id, method, path, body)
        headers.update(overrides)
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        if method == "GET":
            return self.client.get(path, **extra)
        return self.client.post(path, body, content_type="application/json", **extra)

    def event(self, **fields: Any) -> dict[str, Any]:
        event = {
            "seq": self.next_seq,
            "kind": "drops",
            "at": "2026-11-10T10:00:00Z",
            "source": "203.0.113.7",
            "country": "CN",
            "scenario": "port-scan",
            "duration": 0,
            "flows": 1,
            "detail": "",
        }
        event.update(fields)
        self.next_seq = max(self.next_seq, int(event["seq"])) + 1
        return event

    def send(self, events: list[dict[str, Any]]) -> Any:
        return self.signed("POST", "/api/shield/events", {"events": events})

    def policy(self) -> dict[str, Any]:
        response = self.signed("GET", "/api/shield/policy")
        assert response.status_code == 200, response.content
        return protocol.open_envelope(self.central_key, response.json())


@pytest.fixture
def make_box(db):
    def make(commune: Commune, hostname: str = "boitier-mairie") -> FakeBox:
        box = FakeBox(commune, hostname)
        response = box.enroll(services.issue_token(SYSTEM, commune).token)
        assert response.status_code == 201, response.content
        return box

    return make
