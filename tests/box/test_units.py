# ruff: noqa: E501
"""Unit tests of the agent's parts that need no kernel: parsers, formats, spool, client."""

from __future__ import annotations

import ipaddress
import json
import random
import sqlite3
import subprocess
import threading
import time
from array import array
from pathlib import Path

import pytest
from dnslib import DNSRecord
from dnslib.server import BaseResolver, DNSServer

from clocher_box import geo, nft, prefixes, protocol
from clocher_box.agent import Agent, PolicyRefused
from clocher_box.detectors import Verdict
from clocher_box.detectors.blocklist import diff_packed, pack_v4, parse_blocklist, unpack
from clocher_box.detectors.portscan import PortScan, parse_conntrack
from clocher_box.detectors.sshd import SshBruteforce, parse_failure
from clocher_box.detectors.window import DistinctWindow
from clocher_box.dns import SinkholeResolver, is_sinkholed, serve
from clocher_box.spool import AGGREGATE_WINDOW, OVERFLOW_DETAIL, OVERFLOW_SOURCE, Spool

SSHD = [
    "Nov 25 13:14:15 box sshd[812]: Failed password for root from 203.0.113.7 port 4242 ssh2",
    "Nov 25 13:14:16 box sshd[812]: Failed password for invalid user admin from 203.0.113.7 port 4243 ssh2",
    "2026-11-25T13:14:17.123456+01:00 box sshd[813]: Invalid user oracle from 203.0.113.7 port 4244",
    "Nov 25 13:14:18 box sshd[814]: Connection closed by authenticating user root 203.0.113.7 port 4245 [preauth]",
    "Nov 25 13:14:19 box sshd[815]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=2001:db8::7  user=root",
]


def test_sshd_parser_reads_failures_and_ignores_successes():
    failures = [parse_failure(line) for line in SSHD]
    assert [f.source for f in failures if f] == ["203.0.113.7"] * 4 + ["2001:db8::7"]
    assert failures[1] is not None and failures[1].user == "admin"
    ok = "Nov 25 13:14:15 box sshd[812]: Accepted publickey for alice from 198.51.100.4 port 1 ssh2"
    assert parse_failure(ok) is None
    assert (
        parse_failure("Nov 25 13:14:15 box cron[1]: Failed password for x from 1.2.3.4 port 1")
        is None
    )


# A client names itself what sshd logs as the user: each format, with an address chosen
# by the attacker (198.51.100.7) written before or after the real source (203.0.113.66).
INJECTED = [
    "Nov 25 13:14:15 box sshd[9]: Failed password for invalid user x from 198.51.100.7 port 22"
    " from 203.0.113.66 port 4242 ssh2",
    "Nov 25 13:14:15 box sshd[9]: Failed password for invalid user x from 198.51.100.7 port 22"
    " ssh2 from 203.0.113.66 port 4242 ssh2",
    "Nov 25 13:14:15 box sshd[9]: Invalid user x from 198.51.100.7 port 22 from 203.0.113.66"
    " port 4242",
    "Nov 25 13:14:15 box sshd[9]: Connection closed by invalid user x 198.51.100.7 port 22"
    " [preauth] 203.0.113.66 port 4242 [preauth]",
    "Nov 25 13:14:15 box sshd[9]: Disconnected from invalid user x 198.51.100.7 port 22"
    " 203.0.113.66 port 4242 [preauth]",
    "Nov 25 13:14:15 box sshd[9]: error: maximum authentication attempts exceeded for invalid"
    " user x from 198.51.100.7 port 22 from 203.0.113.66 port 4242 ssh2 [preauth]",
    "Nov 25 13:14:15 box sshd[9]: pam_unix(sshd:auth): authentication failure; logname= uid=0"
    " euid=0 tty=ssh ruser= rhost=203.0.113.66  user=x rhost=198.51.100.7",
    "Failed password for invalid user x from 198.51.100.7 port 22 from 203.0.113.66 port 1 ssh2",
]


def test_a_user_name_carrying_an_address_blocks_nobody():
    """fail2ban's CVE-2012-5642: the user name is the client's to choose and sshd logs it
    as it came; an address in it must not be taken for the source."""
    assert [parse_failure(line) for line in INJECTED] == [None] * len(INJECTED)
    detector = SshBruteforce(failures=3, window=60)
    verdicts = [detector.feed(line) for line in INJECTED * 5]
    assert verdicts == [None] * len(verdicts)
    # The real formats, user names with spaces included, are still read.
    spaced = "Nov 25 13:14:15 box sshd[9]: Invalid user jean dupont from 203.0.113.66 port 4242"
    failure = parse_failure(spaced)
    assert failure is not None and failure.source == "203.0.113.66"
    assert failure.user == "jean dupont"


def test_sshd_own_log_file_lines_have_no_prefix():
    """`sshd -E FILE` writes bare messages: read too, timed when read."""
    bare = parse_failure("Failed password for root from 203.0.113.40 port 45546 ssh2")
    assert bare is not None and (bare.source, bare.user) == ("203.0.113.40", "root")
    assert parse_failure("Server listening on 0.0.0.0 port 22.") is None
    assert parse_failure("Accepted password for alice from 198.51.100.4 port 1 ssh2") is None


def test_ssh_bruteforce_blocks_at_the_threshold_within_the_window():
    detector = SshBruteforce(failures=3, window=60, duration=600)
    line = "Nov 25 13:14:{:02d} box sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2"
    assert detector.feed(line.format(0)) is None
    assert detector.feed(line.format(50)) is None
    verdict = detector.feed(line.format(55))
    assert verdict == Verdict("203.0.113.9", "ssh-bruteforce", 600, verdict.detail)
    # Slow guessing (one per two minutes) never reaches 3 in 60 s.
    slow = SshBruteforce(failures=3, window=60)
    times = ["13:10:00", "13:12:00", "13:14:00", "13:16:00"]
    lines = [f"Nov 25 {t} box sshd[1]: Invalid user x from 203.0.113.8 port 2" for t in times]
    assert [slow.feed(x) for x in lines] == [None] * 4


def test_port_scan_counts_distinct_ports_and_ignores_internal_sources():
    event = "    [NEW] tcp      6 120 SYN_SENT src=203.0.113.10 dst=192.0.2.10 sport=40000 dport={} [UNREPLIED] src=192.0.2.10 dst=203.0.113.10 sport={} dport=40000"
    assert parse_conntrack(event.format(22, 22)) == ("tcp", "203.0.113.10", "192.0.2.10", 22)
    assert (
        parse_conntrack(" [UPDATE] tcp 6 60 SYN_RECV src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2")
        is None
    )
    detector = PortScan(ports=5, window=10, internal=["192.0.2.0/24"])
    # The same port again and again is not a scan.
    assert all(detector.feed(event.format(80, 80), now=1.0) is None for _ in range(20))
    verdicts = [detector.feed(event.format(p, p), now=2.0) for p in range(1, 5)]
    assert verdicts[-1] is not None and verdicts[-1].scenario == "port-scan"
    internal = event.replace("src=203.0.113.10", "src=192.0.2.50", 1)
    assert all(detector.feed(internal.format(p, p), now=3.0) is None for p in range(100))
    # Ports spread beyond the window do not add up.
    slow = PortScan(ports=3, window=10)
    assert [slow.feed(event.format(p, p), now=p * 20.0) for p in range(1, 5)] == [None] * 4


def test_blocklist_formats_and_malformed_lines():
    text = """# FireHOL netset
1.2.3.0/24
1.2.3.128/25 ; SBL123
; Spamhaus DROP comment
5.6.7.8
10.0.0.0/8 # trailing comment
{"cidr": "9.9.0.0/16", "sblid": "SBL9", "rir": "ripencc"}
{"type": "metadata", "timestamp": 1}
2001:db8::/32
999.1.1.1/24
1.2.3.4/33
not an address
1.2.3.4 5.6.7.8
"""
    parsed = parse_blocklist(text.splitlines())
    assert parsed.entries == 6  # five IPv4 (one in Spamhaus JSON) and one IPv6
    assert parsed.malformed == 4
    assert parsed.examples[0].startswith("ligne 10")
    packed = pack_v4(parsed.v4_first, parsed.v4_last)
    assert [str(unpack(p)) for p in packed] == [
        "1.2.3.0/24",  # the /25 inside it is merged away
        "5.6.7.8/32",
        "9.9.0.0/16",
        *(f"10.{i << 4}.0.0/12" for i in range(16)),  # one piece per shard
    ]
    assert [str(n) for n in parsed.v6] == ["2001:db8::/32"]


def test_prefix_merge_splits_short_prefixes_by_shard_and_diffs():
    parsed = parse_blocklist(["4.0.0.0/6", "8.0.0.0/8", "9.0.0.0/8"])
    packed = pack_v4(parsed.v4_first, parsed.v4_last)
    assert [str(unpack(p)) for p in packed] == [
        f"{n}.{m << 4}.0.0/12" for n in range(4, 10) for m in range(16)
    ]
    added, removed = diff_packed(packed, array("Q", list(packed[1:]) + [(11 << 32) | 8]))
    assert [str(unpack(p)) for p in added] == ["11.0.0.0/8"]
    assert [str(unpack(p)) for p in removed] == ["4.0.0.0/12"]


def test_ipv4_parse_is_strict_as_ipaddress_is():
    """`prefixes.parse_v4` (inet_pton, issue 14) accepts what `ipaddress` accepts as an
    IPv4 address or prefix and nothing else: no leading zeros, no short forms, ASCII."""
    good = ["192.0.2.7/24", "192.0.2.7", "0.0.0.0/0", "255.255.255.255/32", "10.1.2.3/08"]
    for text in good:
        network = ipaddress.ip_network(text, strict=False)
        first, last = int(network.network_address), int(network.broadcast_address)
        assert prefixes.parse_v4(text) == (first, last), text
    bad = ["010.0.0.1", "1.2.3", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/033", "0x1.2.3.4",
           " 1.2.3.4", "1.2.3.4\x00", "١.2.3.4", "1.2.3.4/²", "1.2.3.256", "2001:db8::/32"]  # fmt: skip
    assert [text for text in bad if prefixes.parse_v4(text) is not None] == []


def test_packing_takes_whole_blocks_as_the_general_split_does():
    """`pack_v4` packs an interval that is one block directly; the rest goes through
    `interval_to_cidrs`: both give what the general split gives, on random intervals."""
    rng = random.Random(14)
    firsts, lasts = array("I"), array("I")
    for _ in range(3000):
        plen = rng.choice([8, 11, 12, 16, 23, 24, 24, 24, 30, 32])
        first = rng.getrandbits(32) & ~((1 << (32 - plen)) - 1)
        last = first + (1 << (32 - plen)) - 1 + rng.choice([0, 0, 0, 1, 300])
        firsts.append(first)
        lasts.append(min(last, 0xFFFFFFFF))
    merged = prefixes.merge(firsts, lasts)
    general = []
    for address, plen in prefixes.intervals_to_cidrs(*merged):
        step = 1 << (32 - 12)
        blocks = (
            [(address + i * step, 12) for i in range(1 << (12 - plen))]
            if plen < 12
            else [(address, plen)]
        )
        general += [(a << 8) | p for a, p in blocks]
    assert list(pack_v4(firsts, lasts)) == general


def test_feed_sets_are_by_prefix_length_and_a_shorter_prefix_is_split_in_slash_12s():
    """The feed's IPv4 prefixes go as bare addresses to the hash set of their length
    (`feed4_12` … `feed4_32`); a /10 from an older state (loaded when the shortest
    element was /8) becomes the four /12s it covers."""
    (batch,) = nft._feed_batches(
        "add",
        [(10 << 32) | 10, (192 << 32) | (2 << 16) | (7 << 8) | 32, (203 << 32) | (113 << 16) | 24],
    )
    assert batch.decode().splitlines() == [
        "add element inet clocher feed4_12 { 10.0.0.0, 10.16.0.0, 10.32.0.0, 10.48.0.0 }",
        "add element inet clocher feed4_24 { 203.0.113.0 }",
        "add element inet clocher feed4_32 { 192.0.2.7 }",
    ]
    assert nft.shard_name("country", 0xCB) == "country4_cb"
    assert len(nft.shard_map_elements("country")) == 256
    assert list(prefixes.interval_to_cidrs(10, 20)) == [(10, 31), (12, 30), (16, 30), (20, 32)]


def test_allowlist_refused_before_any_change(tmp_path):
    agent = Agent(
        tmp_path, nft.Layout(management=[nft.parse_network("198.51.100.0/30")]), enforce=False
    )
    agent.apply_policy({"version": 1, "allowlist": ["192.0.2.53/32"]})
    assert not agent.decide(Verdict("198.51.100.1", "port-scan", 60))
    assert not agent.decide(Verdict("192.0.2.0/24", "manual", 60))
    assert agent.decide(Verdict("203.0.113.7", "port-scan", 60, "12 ports"))
    report = agent.load_feed(parse_blocklist(["192.0.2.0/25", "203.0.113.0/24", "junk"]))
    assert report.refused == ["192.0.2.0/25"] and report.malformed == 1 and report.prefixes == 1
    refused = agent.apply_policy({"version": 2, "allowlist": [], "c2": ["198.51.100.2"]})
    assert refused.prefixes == 0 and agent.state.get("c2") == []
    assert [d.source for d in agent.state.decisions()] == ["203.0.113.7"]
    agent.close()


def test_decisions_and_spool_survive_a_restart_and_seq_never_goes_back(tmp_path):
    agent = Agent(tmp_path, nft.Layout(), enforce=False)
    agent.decide(Verdict("203.0.113.7", "ssh-bruteforce", 3600, "5 échecs"))
    agent.event("drops", "203.0.113.7", "ssh-bruteforce", flows=3)
    agent.spool.acknowledge([1])
    agent.close()
    again = Agent(tmp_path, nft.Layout(), enforce=False)
    assert [d.source for d in again.state.decisions()] == ["203.0.113.7"]
    assert [e["seq"] for e in again.spool.pending()] == [2]
    assert again.spool.append({"kind": "drops"}) == 3
    again.close()


def test_truncated_spool_is_moved_aside_and_numbering_continues(tmp_path):
    agent = Agent(tmp_path, nft.Layout(), enforce=False)
    for flows in range(5):  # five sources: repeats of one would share a row
        agent.event("drops", f"203.0.113.{flows}", "port-scan", flows=flows)
    agent.close()
    spool = tmp_path / "spool.db"
    data = spool.read_bytes()
    spool.write_bytes(data[: len(data) // 3] + b"\x00garbage")
    (tmp_path / "spool.db-wal").unlink(missing_ok=True)
    again = Agent(tmp_path, nft.Layout(), enforce=False)
    assert again.recoveries and Path(again.recoveries[0]).exists()
    assert again.health()["recovered"] == again.recoveries
    assert again.event("drops", "203.0.113.8", "port-scan") == 6  # never reuses a seq
    again.close()
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(again.recoveries[0]).execute("SELECT * FROM events").fetchall()


def test_forged_or_altered_policy_is_refused():
    central = protocol.new_private_key()
    public = protocol.public_key_b64(central)
    envelope = protocol.sign_envelope(central, {"version": 3, "allowlist": []})
    assert protocol.open_envelope(public, envelope)["version"] == 3
    forger = protocol.new_private_key()
    with pytest.raises(protocol.SignatureError):
        protocol.open_envelope(public, protocol.sign_envelope(forger, {"version": 4}))
    altered = dict(envelope, payload=protocol.b64(protocol.canonical_json({"version": 99})))
    with pytest.raises(protocol.SignatureError):
        protocol.open_envelope(public, altered)


def test_country_of_real_addresses_on_the_lookup_alone(monkeypatch, tmp_path):
    assert geo.country("8.8.8.8") == "US"
    assert geo.country("2a01:e0a::1") == "FR"  # Free, Paris
    assert geo.country("192.0.2.1") == ""  # documentation range: unknown
    overrides = tmp_path / "geo.txt"
    overrides.write_text("192.0.2.0/24 KP\n")
    monkeypatch.setenv(geo.OVERRIDES_ENV, str(overrides))
    assert geo.country("192.0.2.1") == "KP"
    assert nft.parse_network("192.0.2.0/24") in set(geo.country_networks("KP"))


class Upstream(BaseResolver):  # type: ignore[misc]
    def resolve(self, request, handler):
        reply = request.reply()
        reply.add_answer(*__import__("dnslib").RR.fromZone(f"{request.q.qname} 60 A 198.51.100.80"))
        return reply


def test_dns_sinkholes_domains_and_forwards_the_rest():
    assert is_sinkholed("a.b.phish.example.", {"phish.example"}) == "phish.example"
    assert is_sinkholed("notphish.example", {"phish.example"}) is None
    upstream = DNSServer(Upstream(), address="127.0.0.1", port=0)
    upstream.start_thread()
    port = upstream.server.server_address[1]
    seen: list[tuple[str, str]] = []
    resolver = SinkholeResolver(
        f"127.0.0.1:{port}", "192.0.2.254", on_sinkhole=lambda c, n: seen.append((c, n))
    )
    resolver.set_domains(["Phish.Example."])
    servers = serve(resolver, "127.0.0.1", 0)
    local = servers[0].server.server_address[1]
    try:
        ask = lambda name, kind="A": DNSRecord.parse(  # noqa: E731
            DNSRecord.question(name, kind).send("127.0.0.1", local, timeout=3)
        )
        assert [str(r.rdata) for r in ask("www.phish.example").rr] == ["192.0.2.254"]
        assert [str(r.rdata) for r in ask("www.phish.example", "AAAA").rr] == ["::"]
        assert [str(r.rdata) for r in ask("mairie.example").rr] == ["198.51.100.80"]
        assert seen == [("127.0.0.1", "www.phish.example")] * 2
    finally:
        for server in [*servers, upstream]:
            server.stop()
    assert threading.active_count() >= 1


def test_enrolment_error_is_french_and_state_untouched(tmp_path):
    from clocher_box.client import CentralError, enroll

    with pytest.raises(CentralError, match="injoignable"):
        enroll(tmp_path, "http://127.0.0.1:9", "clb_x")
    assert not (tmp_path / "box.json").exists() and not (tmp_path / "box.key").exists()
    assert json.loads(json.dumps({})) == {}


def test_daemon_follows_the_auth_log_across_rotation_and_restart(tmp_path):
    from clocher_box.runner import Daemon, RunConfig

    log = tmp_path / "auth.log"
    log.write_text(
        "Nov 25 10:00:00 box sshd[1]: Failed password for root from 203.0.113.1 port 1 ssh2\n" * 9
    )
    failure = "Nov 25 13:14:{:02d} box sshd[2]: Failed password for root from {} port 22 ssh2\n"

    def start() -> tuple[Daemon, threading.Thread]:
        agent = Agent(tmp_path / "state", nft.Layout(), enforce=False)
        agent.apply_policy(
            {
                "version": 1,
                "scenarios": {"ssh-bruteforce": {"failures": 3, "window": 60, "duration": 60}},
            }
        )
        daemon = Daemon(agent, None, RunConfig(auth_log=str(log), conntrack=False, interval=0.1))
        thread = threading.Thread(target=daemon.run)
        thread.start()
        return daemon, thread

    def blocked(daemon: Daemon) -> set[str]:
        with daemon.agent.lock:
            return {d.source for d in daemon.agent.state.decisions()}

    def wait(predicate) -> None:
        deadline = time.monotonic() + 10
        while not predicate():
            assert time.monotonic() < deadline
            time.sleep(0.05)

    daemon, thread = start()
    try:
        time.sleep(0.6)  # first start: the old lines (203.0.113.1) are history, not read
        with log.open("a") as out:
            out.writelines(failure.format(s, "203.0.113.2") for s in range(3))
        wait(lambda: blocked(daemon) == {"203.0.113.2"})
        # Rotation: the new file is read from its beginning.
        log.rename(tmp_path / "auth.log.1")
        log.write_text("".join(failure.format(s, "203.0.113.3") for s in range(3)))
        wait(lambda: "203.0.113.3" in blocked(daemon))
    finally:
        daemon.stop.set()
        thread.join(10)
        daemon.agent.close()
    # Lines written while the agent is down are read at restart, from where it stopped.
    with log.open("a") as out:
        out.writelines(failure.format(s, "203.0.113.4") for s in range(3))
    daemon, thread = start()
    try:
        wait(lambda: "203.0.113.4" in blocked(daemon))
        assert "203.0.113.1" not in blocked(daemon)
    finally:
        daemon.stop.set()
        thread.join(10)
        daemon.agent.close()


def test_policy_entries_become_decisions_with_their_expiry_and_no_event(tmp_path):
    agent = Agent(tmp_path, nft.Layout(), enforce=False)
    policy = {
        "version": 3,
        "blocklist": [
            {"source": "198.51.100.0/24", "scenario": "blocklist", "expires": None},
            {"source": "203.0.113.9", "scenario": "collective", "expires": "2099-01-01T00:00:00Z"},
            {"source": "203.0.113.8", "scenario": "collective", "expires": "2001-01-01T00:00:00Z"},
        ],
    }
    report = agent.apply_policy(policy)
    assert report.prefixes == 1  # the permanent list entry is the feed
    decisions = agent.state.decisions()
    assert [(d.source, d.scenario, d.origin) for d in decisions] == [
        ("203.0.113.9", "collective", "central")
    ]
    assert decisions[0].expires_at and decisions[0].expires_at > 4e9
    assert agent.spool.backlog() == 0  # the central knows what it pushed
    assert agent.scenario_of("198.51.100.77") == "blocklist"
    # Dropped from the next policy: lifted.
    agent.apply_policy({"version": 4, "blocklist": []})
    assert agent.state.decisions() == [] and agent.state.load_feed()[0].tolist() == []
    agent.close()


def test_dns_upstream_defaults_to_the_system_resolver_never_the_box_itself(tmp_path):
    from clocher_box.dns import system_upstream

    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# local\nnameserver 192.0.2.53\nnameserver 198.51.100.53\n")
    assert system_upstream("0.0.0.0:53", str(resolv)) == "192.0.2.53:53"
    # The box listening on the first one must not forward to itself.
    assert system_upstream("192.0.2.53:53", str(resolv)) == "198.51.100.53:53"
    resolv.write_text("nameserver 2001:db8::53\n")
    assert system_upstream("[::1]:53", str(resolv)) == "[2001:db8::53]:53"
    resolv.write_text("search mairie.local\n")
    with pytest.raises(ValueError, match="--dns-upstream"):
        system_upstream("0.0.0.0:53", str(resolv))


# --- stealth and slow scans (issue 12, defect 8) ----------------------------------------

SYN_EVENT = "    [NEW] tcp      6 120 SYN_SENT src={} dst=192.0.2.10 sport=40000 dport={} [UNREPLIED] src=192.0.2.10 dst={} sport={} dport=40000 mark=1073741824"


def syn(source: str, port: int) -> str:
    return SYN_EVENT.format(source, port, source, port)


def test_slow_scan_is_caught_by_the_long_window_and_never_by_the_short_one():
    """One SYN every 15 s stays under 10 ports in 10 s; 20 distinct ports in the hour
    block it. A clock passed in, no waiting."""
    detector = PortScan(ports=10, window=10, slow_ports=20, slow_window=3600)
    verdicts = [detector.feed(syn("203.0.113.70", 1000 + i), now=i * 15.0) for i in range(20)]
    assert verdicts[:19] == [None] * 19
    last = verdicts[19]
    assert last is not None and last.scenario == "port-scan" and last.source == "203.0.113.70"
    assert last.detail.startswith("20 ports en 3600 s")
    # Slower than the long window too: one port every 200 s never holds 20 in an hour.
    slower = PortScan(ports=10, window=10, slow_ports=20, slow_window=3600)
    assert all(slower.feed(syn("203.0.113.71", p), now=p * 200.0) is None for p in range(60))
    # The same port again and again, however long, is not a scan.
    again = PortScan(ports=10, window=10, slow_ports=3, slow_window=3600)
    assert all(again.feed(syn("203.0.113.72", 443), now=t * 60.0) is None for t in range(100))


def test_scan_windows_keep_bounded_memory_per_source_and_in_sources():
    """A source keeps at most `threshold` ports; beyond `max_sources` the source seen
    least recently is dropped, never one still probing."""
    detector = PortScan(ports=10, window=10, slow_ports=20, slow_window=3600, slow_sources=100)
    for i in range(1000):
        detector.feed(syn(f"203.0.113.{i % 250}", 1), now=float(i))
        detector.feed(syn(f"198.51.100.{i % 250}", 2), now=float(i))
    assert detector.slow.tracked() <= 100 and detector.window.tracked() <= 100_000
    window = DistinctWindow(5, 3600, max_sources=3)
    window.add("a", 1, 0.0)
    window.add("b", 1, 1.0)
    window.add("a", 2, 2.0)  # a seen again: b is now the oldest
    window.add("c", 1, 3.0)
    window.add("d", 1, 4.0)
    assert window.tracked() == 3 and window.add("a", 3, 5.0) is None
    assert window.add("b", 2, 6.0) is None  # b was dropped: counts from scratch
    assert window._seen["a"] == {1: 0.0, 2: 2.0, 3: 5.0}
    long = DistinctWindow(4, 100)
    counts = [long.add("x", port, port * 40.0) for port in range(50)]
    assert counts == [None] * 50 and len(long._seen["x"]) < 4  # old ports pruned


def test_stealth_probes_listed_by_the_kernel_count_once_each():
    """The daemon lists the stealth set every few seconds: a (source, port) pair still
    listed is not counted again, a source reaching the threshold is blocked once."""
    detector = PortScan(ports=5, window=10, slow_ports=20, slow_window=3600)
    first = [("203.0.113.80", port, 0.0) for port in (21, 22, 23)]
    assert detector.stealth(first, now=100.0) == []
    # Five seconds later the same three are still listed (older), two more arrived.
    later = [(s, p, 5.0) for s, p, _ in first] + [("203.0.113.80", 24, 1.0)]
    assert detector.stealth(later, now=105.0) == []
    verdicts = detector.stealth(later + [("203.0.113.80", 25, 0.0)], now=106.0)
    assert [(v.source, v.scenario) for v in verdicts] == [("203.0.113.80", "port-scan")]
    assert "sondes furtives" in verdicts[0].detail
    # Internal sources are never counted, stealth or not.
    internal = PortScan(ports=2, window=10, internal=["192.0.2.0/24"])
    assert internal.stealth([("192.0.2.5", p, 0.0) for p in range(10)], now=1.0) == []


_FLAG_BITS = {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32}


def _flag_value(expr: object) -> int:
    """A TCP flags expression of nft's JSON (`"fin"`, `{"|": [a, b]}`) as bits."""
    if isinstance(expr, str):
        return _FLAG_BITS[expr]
    if isinstance(expr, int):
        return expr
    assert isinstance(expr, dict) and "|" in expr, expr
    left, right = expr["|"]
    return _flag_value(left) | _flag_value(right)


def _crafted(rule: dict, flags: int) -> bool:
    """Whether the kernel's listed stealth rule matches a packet with `flags`."""
    for expr in rule["expr"]:
        match = expr.get("match", {})
        left = match.get("left", {})
        if isinstance(left, dict) and "&" in left:
            mask = _flag_value(left["&"][1])
            allowed = {_flag_value(v) for v in match["right"]["set"]}
            assert match["op"] == "!="
            return (flags & mask) not in allowed
    raise AssertionError(f"pas de test des drapeaux TCP dans {rule}")


@pytest.mark.parametrize("mode", ["gateway", "host"])
def test_stealth_and_invalid_rules_are_in_the_kernel_on_the_wan_side_only(mode):
    """The table loaded in a network namespace, read back with `nft -j list ruleset`:
    every crafted flag combination is dropped and recorded, none a stack sends; WAN side
    only (gateway), after the allowlist; new WAN flows marked for the detector."""
    import os

    from tests.box.netns import Lab

    lab = Lab(f"h6u{os.getpid() % 10000}")
    try:
        ns = lab.ns("t")
        layout = nft.Layout(mode=mode, wan="wan0" if mode == "gateway" else "", lan="lan0")
        commands = nft.table_commands(layout) + nft.output_chain_commands(layout)
        body = json.dumps({"nftables": commands})
        done = subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "-j", "-f", "-"],
            input=body,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        listed = json.loads(lab.exec(ns, "nft", "-j", "list", "ruleset"))["nftables"]
    finally:
        lab.close()
    sets = {i["set"]["name"]: i["set"] for i in listed if "set" in i}
    assert sets["stealth4"]["type"] == ["ipv4_addr", "inet_service"]
    assert sets["stealth6"]["size"] == nft.STEALTH_SIZE
    chains = ["input", "forward"] if mode == "gateway" else ["input"]
    for chain in chains:
        rules = [i["rule"] for i in listed if "rule" in i and i["rule"]["chain"] == chain]
        order = [r.get("comment", "") for r in rules]
        for comment in ("stealth4", "stealth6", "invalid", "ports4", "ports6", "new flows"):
            position = order.index(comment)
            assert position > order.index("allow4 src") and position > order.index("allow6 dst")
            wan = [
                e["match"]["right"]
                for e in rules[position]["expr"]
                if e.get("match", {}).get("left") == {"meta": {"key": "iifname"}}
            ]
            assert wan == (["wan0"] if mode == "gateway" else []), (chain, comment)
        assert order.index("stealth4") < order.index("invalid") < order.index("new flows")
        # Closed ports (issue 21): after the probes, so they still feed the scan detector.
        assert order.index("invalid") < order.index("ports4") < order.index("new flows")
        stealth = rules[order.index("stealth4")]
        crafted = {
            "NULL": 0,
            "FIN": 1,
            "Xmas FIN|PSH|URG": 1 | 8 | 32,
            "SYN|FIN": 2 | 1,
            "SYN|RST": 2 | 4,
            "FIN|RST": 1 | 4,
            "FIN|RST|ACK": 1 | 4 | 16,
            "URG": 32,
            "PSH": 8,
            "every flag": 63,
        }
        assert {name for name, bits in crafted.items() if not _crafted(stealth, bits)} == set()
        sent = {"SYN": 2, "SYN|ACK": 18, "ACK": 16, "PSH|ACK": 24, "FIN|ACK": 17}
        sent |= {"FIN|PSH|ACK": 25, "RST": 4, "RST|ACK": 20, "SYN|ECN": 2 | 64 | 128}
        assert {name for name, bits in sent.items() if _crafted(stealth, bits)} == set()
        assert {"set": {"op": "update", "elem": {"concat": [
            {"payload": {"protocol": "ip", "field": "saddr"}},
            {"payload": {"protocol": "tcp", "field": "dport"}},
        ]}, "set": "@stealth4"}} in stealth["expr"]  # fmt: skip
        assert {"drop": None} in stealth["expr"]
        marking = rules[order.index("new flows")]["expr"]
        assert {
            "mangle": {
                "key": {"ct": {"key": "mark"}},
                "value": {"|": [{"ct": {"key": "mark"}}, nft.WAN_MARK]},
            }
        } in marking


SINKHOLED = {
    "kind": "drops",
    "at": "2026-12-01T10:00:00Z",
    "source": "192.0.2.10",
    "country": "",
    "scenario": "dns-sinkhole",
    "duration": 0,
    "flows": 1,
    "detail": "evil.example",
}


def test_spool_aggregates_repeats_in_their_window_never_into_a_row_already_offered(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    assert spool.append(SINKHOLED, now=1000) == 1
    assert spool.append(SINKHOLED | {"at": "2026-12-01T10:00:09Z"}, now=1009) == 1
    assert spool.append(SINKHOLED | {"detail": "other.example"}, now=1010) == 2
    assert spool.append(SINKHOLED | {"source": "192.0.2.11"}, now=1010) == 3
    decision = SINKHOLED | {"kind": "decision", "scenario": "port-scan", "flows": 0}
    assert [spool.append(decision, now=1011) for _ in range(2)] == [4, 5]  # never merged
    assert spool.append(SINKHOLED, now=1000 + AGGREGATE_WINDOW) == 6  # its window is over
    first = spool.pending()[0]
    assert (first["count"], first["flows"], first["at"], first["last_at"]) == (
        2,
        2,
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:00:09Z",
    )
    assert "count" not in spool.pending()[1]  # alone: the event as before
    # Offered rows may be stored at the central already: a repeat starts a new row,
    # also after a restart between the send and its acknowledgement.
    spool.close()
    spool = Spool(tmp_path / "spool.db")
    assert spool.append(SINKHOLED, now=1000 + AGGREGATE_WINDOW + 1) == 7
    assert spool.append(SINKHOLED, now=1000 + AGGREGATE_WINDOW + 2) == 7
    spool.acknowledge([1, 2, 3, 4, 5, 6])
    assert [(e["seq"], e["count"]) for e in spool.pending()] == [(7, 2)]
    spool.close()


def test_a_full_spool_counts_what_it_cannot_keep_so_totals_stay_exact(tmp_path):
    spool = Spool(tmp_path / "spool.db", max_rows=3)
    seqs = [
        spool.append(SINKHOLED | {"detail": f"x{n}.evil.example", "flows": 2}, now=1000)
        for n in range(10)
    ]
    assert seqs == [1, 2, 3] + [4] * 7  # the 7 that found no room share one row
    assert spool.append(SINKHOLED | {"detail": "x1.evil.example"}, now=1001) == 2  # kept key
    decision = SINKHOLED | {"kind": "decision", "scenario": "port-scan", "flows": 0}
    assert spool.append(decision, now=1001) == spool.append(decision, now=1002) == 5
    rows = {e["seq"]: e for e in spool.pending()}
    assert rows[4]["source"] == OVERFLOW_SOURCE and rows[4]["detail"] == OVERFLOW_DETAIL
    assert (rows[4]["count"], rows[4]["flows"]) == (7, 14)
    assert (rows[5]["kind"], rows[5]["count"]) == ("decision", 2)
    assert sum(e.get("count", 1) for e in rows.values() if e["kind"] == "drops") == 11
    spool.close()


def test_a_spool_written_before_aggregation_is_read_and_extended(tmp_path):
    path = tmp_path / "spool.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    old.execute("INSERT INTO events VALUES (1, ?)", (json.dumps(SINKHOLED | {"seq": 1}),))
    old.commit()
    old.close()
    spool = Spool(path)
    assert spool.append(SINKHOLED) == 2  # the old row takes no repeat: it has no key
    assert spool.append(SINKHOLED) == 2
    assert [e.get("count", 1) for e in spool.pending()] == [1, 2]
    spool.close()


def test_the_agent_refuses_a_policy_for_another_box_or_not_newer(tmp_path):
    agent = Agent(tmp_path, nft.Layout(), enforce=False)
    agent.state.put("policy_version", 57)  # applied before policies named their box
    policy = {"box": "b-1", "version": 3, "sinkhole_domains": ["un.example"]}
    agent.apply_policy(policy, box_id="b-1")  # no floor yet: the first bound one is taken
    refused = [
        policy | {"box": "b-2", "version": 9},
        policy | {"version": 3},
        policy | {"version": 2},
        {k: v for k, v in policy.items() if k != "box"} | {"version": 9},
        policy | {"version": "9"},
    ]
    for other in refused:
        with pytest.raises(PolicyRefused):
            agent.apply_policy(other | {"sinkhole_domains": ["autre.example"]}, box_id="b-1")
    assert agent.state.get("sinkhole_domains") == ["un.example"]
    assert agent.applied_version("b-1") == 3 and agent.applied_version("b-2") == 0
    agent.close()
