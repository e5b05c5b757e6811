"""The agent's client against the real central (pytest-django's live server): enrolment,
signed heartbeat, events exactly once across retries, verified policy, forged policy."""

from __future__ import annotations

import json
import socket
from collections import Counter

import pytest
from django.db.models import Sum
from django.utils import timezone

from clocher.shield import report, services
from clocher.shield.models import Box, ShieldEvent
from clocher_box import nft, protocol
from clocher_box.agent import Agent, PolicyRefused
from clocher_box.client import Central, CentralError, enroll
from clocher_box.runner import Daemon, RunConfig
from clocher_box.spool import MAX_ROWS, OVERFLOW_SOURCE
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


@pytest.fixture
def central_down():
    """An address where nothing listens: a socket bound and never listening refuses every
    connection for as long as it is held (no port that something else could open)."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{hole.getsockname()[1]}"


def test_a_sinkhole_flood_while_the_central_is_down_stays_small_and_counts_once(
    enrolled, central_down
):
    """100,000 sinkholed queries from 20 LAN hosts, half of them repeating 5 names, half a
    new random subdomain each time (a DGA): the spool stays under MAX_ROWS rows and
    16 MiB, and once the central is back every query counts exactly once."""
    state, identity = enrolled
    agent = Agent(state, nft.Layout(), enforce=False)
    daemon = Daemon(agent, Central(state), RunConfig(conntrack=False))
    server = daemon.central.identity.server
    daemon.central.identity.server = central_down
    asked: Counter[tuple[str, str]] = Counter()
    for n in range(100_000):
        host = f"192.0.2.{10 + n % 20}"
        name = f"n{n % 5}.phish.example" if n % 2 else f"x{n}.dga.example"
        daemon._sinkholed(host, name)
        asked[host, name] += 1
        if n % 10_000 == 9_999:  # the loop keeps trying: rows offered are frozen
            with pytest.raises(CentralError):
                daemon.flush()
        if n == 30_000:  # a batch the central stored but whose answer was lost
            daemon.central.identity.server = server
            daemon.central.send_events(agent.spool.pending())
            daemon.central.identity.server = central_down
    rows = agent.spool.backlog()
    size = sum(path.stat().st_size for path in state.glob("spool.db*"))
    assert rows <= MAX_ROWS + 4, rows
    assert size < 16 * 2**20, size

    daemon.central.identity.server = server
    assert daemon.flush() <= rows and agent.spool.backlog() == 0
    events = ShieldEvent.objects.filter(box_id=identity.box_id, scenario="dns-sinkhole")
    totals = events.aggregate(count=Sum("count"), flows=Sum("flows"))
    assert totals == {"count": 100_000, "flows": 100_000}
    kept = events.exclude(source=OVERFLOW_SOURCE).values_list("source", "detail", "count")
    per_key: Counter[tuple[str, str]] = Counter()
    for source, detail, count in kept:
        per_key[source, detail] += count
    for key, count in per_key.items():  # each kept host and name: exactly its queries
        assert asked[key] == count, key
    repeated = [key for key in asked if key[1].endswith(".phish.example")]
    assert len(repeated) == 10  # their rows came first: none went to the overflow row
    assert all(per_key[key] == asked[key] for key in repeated)
    months = {timezone.localdate(at).replace(day=1) for at in events.values_list("at", flat=True)}
    commune = Box.objects.get(pk=identity.box_id).commune
    assert sum(report.build(month, commune).flows for month in months) == 100_000
    agent.close()


def test_a_policy_for_another_box_or_replayed_is_refused_even_after_a_restart(
    enrolled, live_server, commune_b, tmp_path, caplog
):
    """Both policies are correctly signed by the central's key: the signature alone
    would let them in."""
    state, identity = enrolled
    agent = Agent(state, nft.Layout(), enforce=False)
    daemon = Daemon(agent, Central(state), RunConfig(conntrack=False))
    daemon.refresh_policy(force=True)
    first = daemon.central.call("GET", "/api/shield/policy")  # v1 again, kept to replay
    services.add_sinkhole(SYSTEM, "phish.example")
    daemon.refresh_policy()
    assert agent.applied_version(identity.box_id) == 2
    assert agent.state.get("sinkhole_domains") == ["phish.example"]

    # Another town hall's box, its counter far ahead, with countries blocked.
    other_state = tmp_path / "autre"
    token = services.issue_token(SYSTEM, commune_b).token
    other = enroll(other_state, live_server.url, token)
    Box.objects.filter(pk=other.box_id).update(policy_version=50)
    services.set_countries(SYSTEM, commune_b, ["KP"])
    foreign = Central(other_state).call("GET", "/api/shield/policy")
    key = identity.central_public_key
    assert protocol.open_envelope(key, foreign)["version"] == 51

    for envelope, why in ((first, "rejeu"), (foreign, "pas à celui-ci")):
        caplog.clear()
        daemon.central.policy = lambda feed_since=0, envelope=envelope: (  # type: ignore[method-assign]
            protocol.open_envelope(key, envelope)
        )
        daemon.refresh_policy(force=True)
        assert why in caplog.text and "la précédente reste en vigueur" in caplog.text
    assert daemon.policy_refused == 2
    assert agent.applied_version(identity.box_id) == 2
    assert agent.state.get("countries_blocked") == []
    assert agent.state.get("sinkhole_domains") == ["phish.example"]

    del daemon.central.policy  # the real one again: a newer policy is applied
    services.add_sinkhole(SYSTEM, "other.example")
    daemon.refresh_policy()
    assert agent.applied_version(identity.box_id) == 3
    second = daemon.central.call("GET", "/api/shield/policy")  # v3, kept to replay
    assert agent.state.get("sinkhole_domains") == ["other.example", "phish.example"]
    agent.close()

    # Restarted: the floor is the state's, so v1 and v2 stay refused.
    again = Agent(state, nft.Layout(), enforce=False)
    assert again.applied_version(identity.box_id) == 3
    daemon = Daemon(again, Central(state), RunConfig(conntrack=False))
    daemon.refresh_policy()  # nothing new: the heartbeat says v3, not fetched
    assert daemon.policy_refused == 0
    with pytest.raises(PolicyRefused, match="rejeu"):
        again.apply_policy(protocol.open_envelope(key, second), box_id=identity.box_id)
    services.add_sinkhole(SYSTEM, "third.example")
    daemon.refresh_policy()
    assert again.applied_version(identity.box_id) == 4
    again.close()


def test_a_page_instead_of_the_centrals_json_is_the_central_not_reached(tmp_path):
    """A proxy or a captive portal on the town hall's line answering 200 with a page:
    a CentralError (the daemon's loop keeps the events and tries again), not a decoding
    error that would stop the daemon."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Portal(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's interface
            page = b"<html><body>Connexion au Wi-Fi de la mairie</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    portal = HTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    key = protocol.new_private_key()
    (tmp_path / "box.key").write_bytes(protocol.private_key_bytes(key))
    identity = {
        "box_id": "b-1",
        "server": f"http://127.0.0.1:{portal.server_port}",
        "central_public_key": protocol.public_key_b64(key),
        "commune_insee": "21231",
        "commune_name": "Flavigny",
    }
    (tmp_path / "box.json").write_text(json.dumps(identity))
    try:
        with pytest.raises(CentralError, match="réponse illisible.*text/html"):
            Central(tmp_path).policy()
    finally:
        portal.shutdown()
