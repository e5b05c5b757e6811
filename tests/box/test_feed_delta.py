"""The bulk list sent as versioned, signed deltas: a delta applied gives the kernel the
same sets as the whole list loaded afresh, a gap asks for the whole list, and a forged,
replayed or foreign delta changes nothing."""

from __future__ import annotations

import json
import os
import random
from array import array

import pytest

from clocher_box import nft, prefixes, protocol
from clocher_box.agent import Agent, FeedGap, PolicyRefused
from clocher_box.detectors.blocklist import MIN_PLEN, pack_v4, parse_blocklist

# The agent in a child process inside the namespace: applies the policies of a JSON
# file in order (recreating the agent first when asked: a restart), then prints the
# feed's elements as `nft -j list table` shows them.
CHILD = """
import json, subprocess, sys
from pathlib import Path
from clocher_box import nft
from clocher_box.agent import Agent
state, steps = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
agent = Agent(state, nft.Layout())
agent.start()
for step in steps:
    if step == "restart":
        agent.close()
        agent = Agent(state, nft.Layout())
        agent.start()
    else:
        agent.apply_policy(step, box_id="b-1")
agent.close()
listed = json.loads(subprocess.run(["nft", "-j", "list", "table", "inet", "clocher"],
                                   capture_output=True, text=True, check=True).stdout)
sets = {}
for item in listed["nftables"]:
    found = item.get("set")
    if found and found["name"].startswith("feed"):
        elems = found.get("elem", [])
        sets[found["name"]] = sorted(json.dumps(e, sort_keys=True) for e in elems)
print(json.dumps(sets))
"""


def _lists(seed: int) -> tuple[list[str], list[str]]:
    """A list of /24s and /32s with adjacent and nested prefixes, and a second one that
    adds, removes, splits and joins merged intervals."""
    rng = random.Random(seed)
    first = {f"198.{rng.randrange(18, 20)}.{rng.randrange(256)}.0/24" for _ in range(600)}
    first |= {f"203.0.113.{i}/32" for i in range(0, 40)}  # adjacent: one merged /27 …
    first |= {"198.18.0.0/16", "2001:db8:1::/48", "2001:db8:2::/48"}  # nested, v6
    second = set(first)
    second -= set(rng.sample(sorted(first), 60))
    second -= {"203.0.113.5/32", "198.18.0.0/16", "2001:db8:1::/48"}  # splits a run
    second |= {f"198.19.{rng.randrange(256)}.0/24" for _ in range(60)}
    second |= {"203.0.113.40/32", "203.0.113.41/32", "2001:db8:3::/48"}  # extends a run
    return sorted(first), sorted(second)


def _policy(version: int, feed: dict[str, object], allow: list[str] | None = None) -> dict:
    return {"box": "b-1", "version": version, "allowlist": allow or [], "feed": feed}


def _delta(first: list[str], second: list[str], since: int, version: int) -> dict[str, object]:
    return {
        "version": version,
        "since": since,
        "add": sorted(set(second) - set(first)),
        "remove": sorted(set(first) - set(second)),
    }


def test_patch_equals_a_full_merge_whatever_the_changes():
    """The region-by-region patch against the whole list merged again, on random lists
    whose prefixes nest, adjoin and overlap an allowlisted range."""
    protected = (prefixes.parse_v4("198.18.7.0/24"),)

    def refused(first: int, last: int) -> bool:
        return any(first <= high and last >= low for low, high in protected)  # type: ignore[index]

    for seed in range(40):
        first, second = _lists(seed)
        old = parse_blocklist(first)
        raw = array_of(old)
        loaded = pack_v4(*_kept(raw, refused))
        add = [prefixes.packed_prefix(*prefixes.parse_v4(p)) for p in second if ":" not in p]  # type: ignore[misc]
        gone = [prefixes.packed_prefix(*prefixes.parse_v4(p)) for p in first if ":" not in p]  # type: ignore[misc]
        new_raw, new_loaded, plus, minus, *_ = prefixes.patch(
            raw, loaded, set(add) - set(gone), set(gone) - set(add), refused, pack_v4
        )
        assert list(new_raw) == sorted(set(add))
        assert list(new_loaded) == list(pack_v4(*_kept(new_raw, refused))), seed
        assert sorted((set(loaded) - set(minus)) | set(plus)) == list(new_loaded)
        again = prefixes.patch(new_raw, new_loaded, add, [], refused, pack_v4)
        assert again[2:4] == (prefixes.array("Q"), prefixes.array("Q"))  # idempotent
        # What the box logs: the raw changes patch really made, replayed on the old arrays.
        changes = prefixes.patch(
            raw, loaded, set(add) - set(gone), set(gone) - set(add), refused, pack_v4, MIN_PLEN
        )
        assert changes[:4] == (new_raw, new_loaded, plus, minus)
        assert prefixes.apply_sorted(raw, changes[4], changes[5]) == new_raw
        assert prefixes.apply_sorted(loaded, plus, minus) == new_loaded
    # A prefix alone in its region, shorter than the feed's shortest set: still split.
    wide = prefixes.packed_prefix(*prefixes.parse_v4("10.64.0.0/10"))  # type: ignore[misc]
    empty = prefixes.array("Q")
    changes = prefixes.patch(empty, empty, [wide], [], refused, pack_v4, MIN_PLEN)
    assert [prefixes.cidr_text(p >> 8, p & 0xFF) for p in changes[1]] == [
        f"10.{second}.0.0/12" for second in (64, 80, 96, 112)
    ]


def test_a_delta_is_logged_in_the_state_database_not_written_whole(tmp_path, monkeypatch):
    """A delta appends its changes to `feed_log` (feed.bin, 16 MB at a million prefixes,
    is not written again); after a restart feed.bin plus the log give the list a whole
    load gives; past LOG_COMPACT the file is written whole and the log emptied, and a
    row of an older generation (a crash between the two) is ignored."""
    from clocher_box import state as state_module

    first, second = _lists(11)
    third = sorted(set(second) | {"198.18.200.0/24"})
    agent = Agent(tmp_path / "box", nft.Layout(), enforce=False)
    agent.apply_policy(_policy(1, {"version": 10, "full": first}), box_id="b-1")
    feed_bin = tmp_path / "box" / "feed.bin"
    written = (feed_bin.stat().st_ino, feed_bin.read_bytes())
    agent.apply_policy(_policy(2, _delta(first, second, 10, 12)), box_id="b-1")
    agent.apply_policy(_policy(3, _delta(second, third, 12, 13)), box_id="b-1")
    assert (feed_bin.stat().st_ino, feed_bin.read_bytes()) == written
    assert agent.state.db.execute("SELECT count(*) FROM feed_log").fetchone()[0] == 2
    agent.close()

    def whole(name: str, lines: list[str], version: int) -> tuple[object, ...]:
        fresh = Agent(tmp_path / name, nft.Layout(), enforce=False)
        fresh.apply_policy(_policy(1, {"version": version, "full": lines}), box_id="b-1")
        held = (fresh.state.load_feed(), fresh.state.load_raw_feed())
        fresh.close()
        return held

    restarted = Agent(tmp_path / "box", nft.Layout(), enforce=False)
    assert (restarted.state.load_feed(), restarted.state.load_raw_feed()) == whole(
        "third", third, 13
    )
    old_rows = restarted.state.db.execute("SELECT generation, body FROM feed_log").fetchall()
    monkeypatch.setattr(state_module, "LOG_COMPACT", 0)  # then an eighth of the feed
    restarted.apply_policy(_policy(4, _delta(third, first, 13, 14)), box_id="b-1")
    assert feed_bin.read_bytes() != written[1]
    assert restarted.state.db.execute("SELECT count(*) FROM feed_log").fetchone()[0] == 0
    restarted.state.db.executemany(
        "INSERT INTO feed_log (generation, body) VALUES (?, ?)", old_rows
    )
    restarted.close()
    again = Agent(tmp_path / "box", nft.Layout(), enforce=False)
    assert (again.state.load_feed(), again.state.load_raw_feed()) == whole("first", first, 14)
    assert again.feed_version() == 14
    again.close()


def array_of(parsed):  # type: ignore[no-untyped-def]
    return prefixes.array(
        "Q",
        sorted(
            {
                prefixes.packed_prefix(low, high)
                for low, high in zip(parsed.v4_first, parsed.v4_last, strict=True)
            }
        ),
    )


def _kept(raw, refused):  # type: ignore[no-untyped-def]
    firsts, lasts = prefixes.array("I"), prefixes.array("I")
    for item in raw:
        first = item >> 8
        last = first + (1 << (32 - (item & 0xFF))) - 1
        if not refused(first, last):
            firsts.append(first)
            lasts.append(last)
    return firsts, lasts


def test_a_delta_loads_the_same_sets_as_the_whole_list_and_survives_a_restart(tmp_path):
    from tests.box.netns import Lab

    first, second = _lists(7)
    third = sorted(set(second) | {"198.18.200.0/24"})
    # A wider prefix over one removed in the policy before, then a narrower one inside a
    # prefix removed in the same policy (each prefix length has its own set).
    fourth = sorted(set(third) - {"198.18.200.0/24"})
    fifth = sorted(set(fourth) | {"198.18.200.0/22"})
    sixth = sorted(set(fifth) - {"198.18.200.0/22"} | {"198.18.201.0/24"})
    allow = ["198.19.7.0/24"]
    delta_steps = [
        _policy(1, {"version": 10, "full": first}, allow),
        _policy(2, _delta(first, second, 10, 12), allow),
        "restart",
        _policy(3, _delta(second, third, 12, 13), allow),
        _policy(4, _delta(second, third, 12, 13) | {"since": 13}, allow),  # no change twice
        _policy(5, _delta(third, fourth, 13, 14), allow),
        _policy(6, _delta(fourth, fifth, 14, 15), allow),
        _policy(7, _delta(fifth, sixth, 15, 16), allow),
    ]
    full_steps = [_policy(1, {"version": 16, "full": sixth}, allow)]
    lab = Lab(f"h23d{os.getpid() % 10000}")
    try:
        ns = lab.ns("d")
        listed = []
        for name, steps in (("delta", delta_steps), ("full", full_steps)):
            path = tmp_path / f"{name}.json"
            path.write_text(json.dumps(steps))
            out = lab.python(ns, CHILD, str(tmp_path / name), str(path), timeout=120)
            listed.append(json.loads(out.strip().splitlines()[-1]))
            lab.exec(ns, "nft", "delete", "table", "inet", "clocher")
    finally:
        lab.close()
    by_delta, by_full = listed
    assert by_delta == by_full
    assert '"198.18.201.0"' in by_delta["feed4_24"]
    v4 = [e for name, elems in by_delta.items() if name.startswith("feed4_") for e in elems]
    assert '"198.18.200.0"' not in v4
    assert '"198.19.7.0"' not in v4  # allowlisted
    assert Agent(tmp_path / "delta", nft.Layout(), enforce=False).feed_version() == 16


class _Recorder:
    """Stands for libnftables: keeps the native commands it is given."""

    def __init__(self) -> None:
        self.batches: list[str] = []

    def run_text(self, commands: bytes) -> None:
        self.batches.append(commands.decode())


def test_a_delta_deletes_and_adds_in_one_batch_one_set_per_prefix_length():
    """The feed's IPv4 prefixes are bare addresses in one hash set per length, where a
    deletion costs what an addition costs (a pipapo shard's deletion walked the shard, an
    rbtree's insertion the tree): removals are deleted, before the additions, in one
    batch, with no wait between two deltas."""
    recorder = _Recorder()
    table = nft.Table(recorder, nft.Layout())  # type: ignore[arg-type]

    def packed(*cidrs: str) -> list[int]:
        parsed = parse_blocklist(cidrs)
        return sorted(pack_v4(parsed.v4_first, parsed.v4_last))

    table.feed_delta(
        packed("198.18.0.0/24", "192.0.2.7"),
        packed("198.18.0.0/23", "203.0.113.0/24"),
    )
    table.feed_delta(packed("203.0.113.0/24"), [])
    assert [batch.splitlines() for batch in recorder.batches] == [
        [
            "delete element inet clocher feed4_23 { 198.18.0.0 }",
            "delete element inet clocher feed4_24 { 203.0.113.0 }",
            "add element inet clocher feed4_24 { 198.18.0.0 }",
            "add element inet clocher feed4_32 { 192.0.2.7 }",
        ],
        ["add element inet clocher feed4_24 { 203.0.113.0 }"],
    ]


def test_a_gap_asks_for_the_whole_list_and_bad_deltas_change_nothing(tmp_path):
    agent = Agent(tmp_path, nft.Layout(), enforce=False)
    first, second = _lists(3)
    agent.apply_policy(_policy(1, {"version": 10, "full": first}), box_id="b-1")
    held = agent.state.load_feed()
    refused = [
        (_policy(2, _delta(first, second, 9, 12)), FeedGap),  # from a version not held
        (_policy(2, _delta(first, second, 0, 12)), FeedGap),
        (_policy(1, _delta(first, second, 10, 12)), PolicyRefused),  # replayed version
        (_policy(2, _delta(first, second, 10, 12)) | {"box": "b-2"}, PolicyRefused),  # foreign
        (_policy(2, _delta(first, second, 10, 12) | {"add": ["pas-une-adresse"]}), PolicyRefused),
    ]
    for policy, error in refused:
        with pytest.raises(error):
            agent.apply_policy(policy, box_id="b-1")
    assert agent.state.load_feed() == held and agent.feed_version() == 10
    key = protocol.new_private_key()
    envelope = protocol.sign_envelope(key, _policy(2, _delta(first, second, 10, 12)))
    payload = json.loads(protocol.unb64(envelope["payload"]))
    payload["feed"]["remove"] = []
    forged = {
        "payload": protocol.b64(protocol.canonical_json(payload)),
        "signature": envelope["signature"],
    }
    with pytest.raises(protocol.SignatureError):
        protocol.open_envelope(protocol.public_key_b64(key), forged)
    agent.apply_policy(_policy(2, _delta(first, second, 10, 12)), box_id="b-1")
    fresh = Agent(tmp_path / "fresh", nft.Layout(), enforce=False)
    fresh.apply_policy(_policy(1, {"version": 12, "full": second}), box_id="b-1")
    assert agent.state.load_feed() == fresh.state.load_feed()
    assert agent.feed_version() == 12
    agent.close()
    fresh.close()


def test_the_whole_list_as_one_text_loads_what_the_array_loads(tmp_path):
    """The central sends the whole list as one text (`format=text`) to boxes that ask:
    the same sets, raw list and version as the array (read a block of lines at a time;
    blank lines, comments, CRLF and malformed lines as in a file); a `text` that is not
    a text refuses the policy and changes nothing."""
    from clocher_box.agent import _lines_of

    first, second = _lists(5)
    as_array = Agent(tmp_path / "array", nft.Layout(), enforce=False)
    report = as_array.apply_policy(_policy(1, {"version": 10, "full": first}), box_id="b-1")
    as_text = Agent(tmp_path / "text", nft.Layout(), enforce=False)
    text = "\r\n".join(["# liste", "", *first, "pas-une-adresse"])
    read = as_text.apply_policy(_policy(1, {"version": 10, "text": text}), box_id="b-1")
    assert as_text.state.load_feed() == as_array.state.load_feed()
    assert as_text.state.load_raw_feed() == as_array.state.load_raw_feed()
    assert (read.prefixes, read.malformed) == (report.prefixes, 1)
    assert as_text.feed_version() == 10
    # Then a delta from the version the text gave, as from the array's.
    for agent in (as_array, as_text):
        agent.apply_policy(_policy(2, _delta(first, second, 10, 12)), box_id="b-1")
    assert as_text.state.load_feed() == as_array.state.load_feed()
    with pytest.raises(PolicyRefused):
        as_text.apply_policy(_policy(3, {"version": 13, "text": first}), box_id="b-1")
    assert as_text.feed_version() == 12
    as_array.close()
    as_text.close()
    # The blocks cut at line ends only, whatever the block's size.
    lines = [f"10.0.{i // 256}.{i % 256}" for i in range(3000)]
    for block in (1, 7, 100, 1 << 16):
        assert list(_lines_of("\n".join(lines), block)) == lines
    assert list(_lines_of("")) == [] and list(_lines_of("a\n\nb\n", 1)) == ["a", "", "b"]


def test_country_sets_are_reloaded_only_when_the_countries_or_the_allowlist_change(tmp_path):
    from unittest import mock

    agent = Agent(tmp_path, nft.Layout(), enforce=False)
    agent.table = mock.MagicMock()

    def reloads() -> list[object]:
        calls = agent.table.load_sharded.call_args_list  # type: ignore[union-attr]
        return [c for c in calls if c.args[0] == "country"]

    first, _ = _lists(5)
    steps = [
        (_policy(1, {"version": 1, "full": first}) | {"countries_blocked": ["KP"]}, 1),
        (
            _policy(2, {"version": 2, "since": 1, "add": [], "remove": []})
            | {"countries_blocked": ["kp"]},
            1,
        ),
        (
            _policy(3, {"version": 3, "since": 2, "add": [], "remove": []}, ["198.19.7.0/24"])
            | {"countries_blocked": ["KP"]},
            2,
        ),
        (
            _policy(4, {"version": 4, "since": 3, "add": [], "remove": []}, ["198.19.7.0/24"])
            | {"countries_blocked": ["KP", "IR"]},
            3,
        ),
    ]
    for policy, expected in steps:
        agent.apply_policy(policy, box_id="b-1")
        assert len(reloads()) == expected
    assert agent.state.get("countries_blocked") == ["IR", "KP"]
    assert "feed" not in agent.state.get("policy")  # feed.bin holds the list


def test_the_feed_kept_in_memory_follows_a_file_replaced_by_another_process(tmp_path):
    """The agent reads feed.bin once, not three times per policy; `clocher-box
    blocklist` (another process) replacing it is seen at the next read."""
    from clocher_box.state import RawFeed, State

    daemon, other = State(tmp_path), State(tmp_path)
    daemon.save_feed(array("Q", [1 << 8 | 24]), [], RawFeed(array("Q", [1 << 8 | 24]), [], 3))
    assert daemon.load_raw_feed().version == 3  # type: ignore[union-attr]
    other.save_feed(array("Q", [2 << 8 | 24, 3 << 8 | 24]), ["2001:db8::/48"])
    assert daemon.load_feed() == (array("Q", [2 << 8 | 24, 3 << 8 | 24]), ["2001:db8::/48"])
    assert daemon.load_raw_feed() is None
    held = daemon.load_feed()[0]
    held.append(4 << 8 | 24)  # a caller's copy: what is kept does not change
    assert len(daemon.load_feed()[0]) == 2
    daemon.close()
    other.close()


SHARDS = """
import json, subprocess
from clocher_box import nft
table = nft.Table(nft.Nft(), nft.Layout())
table.create()
rule = nft.shard_rule("country4_ab", "country")
rule["add"]["rule"]["chain"] = "probe"
table.nft.run([{"add": {"chain": {"family": "inet", "table": "clocher", "name": "probe"}}}, rule])
listed = subprocess.run(["nft", "-j", "list", "table", "inet", "clocher"],
                        capture_output=True, text=True, check=True).stdout
rules = [i["rule"] for i in json.loads(listed)["nftables"] if "rule" in i]
print(json.dumps({r["chain"]: [r["expr"], r.get("comment")] for r in rules
                  if r["chain"] in ("probe", "country4_ab", "country4_cb")}))
"""


def test_the_shards_written_in_native_syntax_are_the_rules_json_describes():
    """The agent's start writes the 256 country shard sets, chains and rules in nft's
    native syntax (parsed about three times faster than JSON): they are the rule that
    `nft.shard_rule` describes in JSON, each on its own set."""
    from tests.box.netns import Lab

    lab = Lab(f"h23s{os.getpid() % 10000}")
    try:
        ns = lab.ns("s")
        listed = json.loads(lab.python(ns, SHARDS, timeout=300).strip().splitlines()[-1])
    finally:
        lab.close()
    assert listed["country4_ab"] == listed["probe"]
    assert listed["country4_cb"][1] == "country4"
    assert json.dumps(listed["country4_cb"][0]) == json.dumps(listed["probe"][0]).replace(
        "country4_ab", "country4_cb"
    )
