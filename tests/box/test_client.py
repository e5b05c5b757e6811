"""The agent's client against the real central (pytest-django's live server): enrolment,
signed heartbeat, events exactly once across retries, verified policy, forged policy."""

from __future__ import annotations

import json

import pytest

from clocher.shield import services
from clocher.shield.models import Box, ShieldEvent
from clocher_box import nft, protocol
from clocher_box.agent import Agent
from clocher_box.client import Central, CentralError, enroll
from clocher_box.runner import Daemon, RunConfig
from tests.conftest import SYSTEM


@pytest.fixture
def enrolled(live_server, commune_a, tmp_path, transactional_db):
    token = services.issue_token(SYSTEM, commune_a).token
    identity = enroll(tmp_path, live_server.url, token)
    return tmp_path, identity


def test_enrolment_stores_identity_and_key_and_the_token_is_spent(enrolled, live_server):
    state, identity = enrolled
    assert Box.objects.get(pk=identity.box_id).commune.insee == identity.commune_insee
    assert oct((state / "box.key").stat().st_mode & 0o777) == "0o600"
    assert json.loads((state / "box.json").read_text())["server"] == live_server.url
    with pytest.raises(CentralError, match="403"):
        enroll(state / "again", live_server.url, "clb_unknown")
    assert not (state / "again" / "box.key").exists()


def test_events_reach_the_central_once_whatever_the_retries(enrolled):
    state, identity = enrolled
    agent = Agent(state, nft.Layout(), enforce=False)
    daemon = Daemon(agent, Central(state), RunConfig(conntrack=False))
    for flows in (3, 4, 5):  # three sources: repeats of one would share a row
        agent.event("drops", f"203.0.113.{flows}", "port-scan", flows=flows)
    batch = agent.spool.pending()
    # A batch whose answer was lost is sent again by the next flush: stored once.
    assert daemon.central.send_events(batch)["accepted"] == 3
    assert daemon.flush() == 0 and agent.spool.backlog() == 0
    stored = ShieldEvent.objects.filter(box_id=identity.box_id).order_by("seq")
    assert [(e.seq, e.flows) for e in stored] == [(1, 3), (2, 4), (3, 5)]
    agent.close()


def test_policy_is_verified_and_a_forged_one_refused(enrolled):
    state, identity = enrolled
    services.add_sinkhole(SYSTEM, "phish.example", "hameçonnage")
    agent = Agent(state, nft.Layout(), enforce=False)
    daemon = Daemon(agent, Central(state), RunConfig(conntrack=False))
    daemon.refresh_policy(force=True)
    version = agent.state.get("policy_version")
    assert version >= 1 and agent.state.get("sinkhole_domains") == ["phish.example"]
    box = Box.objects.get(pk=identity.box_id)  # the heartbeat carried the box's health
    assert box.last_seen is not None and box.health["nft"] == "désactivé"

    # The box now holds another key than the one that signs: what comes is a forgery.
    services.add_sinkhole(SYSTEM, "other.example")
    daemon.central.identity.central_public_key = protocol.public_key_b64(protocol.new_private_key())
    daemon.refresh_policy()
    assert daemon.policy_refused == 1
    assert agent.state.get("policy_version") == version
    assert agent.state.get("sinkhole_domains") == ["phish.example"]
    agent.close()
