from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clocher.core import health
from clocher.shield import services as shield
from clocher_box import protocol
from tests.conftest import SYSTEM


@pytest.fixture
def quiet_probes(monkeypatch):
    """The registered probes replaced by two fixed ones (the real ones reach servers this
    test does not start); `down` turns the second one off."""
    state = {"down": False}

    def database() -> health.Health:
        return health.Health("base de données", "test", True, "ok")

    def smtp() -> health.Health:
        ok = not state["down"]
        return health.Health("smtp (postfix)", "127.0.0.1:25", ok, "ok" if ok else "refusé")

    monkeypatch.setattr(health, "_probes", [database, smtp])
    return state


@pytest.fixture
def make_box():
    def make(commune, hostname: str, seen_minutes_ago: float | None):
        token = shield.issue_token(SYSTEM, commune).token
        box = shield.enroll(
            token, protocol.public_key_b64(protocol.new_private_key()), hostname, "0.1.0"
        )
        if seen_minutes_ago is not None:
            box.last_seen = timezone.now() - dt.timedelta(minutes=seen_minutes_ago)
            box.health = {"blocked": 7}
            box.save(update_fields=["last_seen", "health"])
        return box

    return make
