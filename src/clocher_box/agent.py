"""The agent's decisions: what to block, checked against what must never be blocked.

Detectors, the policy and the operator (`clocher-box unblock`) all go through `Agent`:
it refuses anything touching the allowlist, the management link or the central, writes
the decision to the state database, puts it in the kernel's sets and spools the event
for the central. One lock serialises the database and libnftables (threads: conntrack
reader, log follower, DNS server, main loop).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clocher_box import geo, nft, prefixes
from clocher_box.detectors import Verdict
from clocher_box.detectors.blocklist import (
    MIN_PLEN,
    ParsedList,
    diff_packed,
    pack_v4,
    parse_blocklist,
)
from clocher_box.spool import Spool
from clocher_box.state import Decision, RawFeed, State

log = logging.getLogger("clocher_box.agent")

DEFAULT_SCENARIOS: dict[str, dict[str, int]] = {
    # slow_*: distinct ports over an hour, for scanners pacing under the 10 s window.
    "port-scan": {
        "ports": 10,
        "window": 10,
        "duration": 14400,
        "slow_ports": 20,
        "slow_window": 3600,
    },
    "ssh-bruteforce": {"failures": 5, "window": 60, "duration": 14400},
}


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FeedReport:
    """What a blocklist load did: entries applied, malformed lines, refused entries."""

    entries: int = 0
    malformed: int = 0
    examples: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    prefixes: int = 0
    added: int = 0
    removed: int = 0


class Refused(ValueError):
    """A change that would block a protected address (allowlist, management, central)."""


class FeedGap(ValueError):
    """A delta of the bulk list that does not start from the version this box holds: the
    whole list must be asked for (nothing was changed)."""


class PolicyRefused(ValueError):
    """A correctly signed policy that is not for this box, or not newer than the one in
    force (a replay): the previous one stays."""


class Agent:
    def __init__(
        self,
        state_dir: Path,
        layout: nft.Layout,
        nft_backend: str = "auto",
        enforce: bool = True,
    ) -> None:
        self.lock = threading.RLock()
        self.state = State(state_dir)
        self.spool = Spool(
            state_dir / "spool.db",
            seq_floor=int(self.state.get("last_seq", 0)),
            save_seq=lambda seq: self.state.put("last_seq", seq),
        )
        self.layout = layout
        self.table = nft.Table(nft.Nft(nft_backend), layout) if enforce else None
        self.started = time.time()
        self._feed4_cache: array | None = None  # type: ignore[type-arg]
        self.recoveries = [p for p in (self.spool.recovered_from, self.state.recovered_from) if p]

    def _feed4(self) -> array:  # type: ignore[type-arg]
        """The loaded IPv4 feed (packed CIDRs), read from disk once."""
        if self._feed4_cache is None:
            self._feed4_cache = self.state.load_feed()[0]
        return self._feed4_cache

    # --- what must never be blocked ------------------------------------------------------

    def protected(self) -> list[nft.Network]:
        """Allowlist of the policy, management link, the central's addresses."""
        texts = list(self.state.get("allowlist", [])) + list(self.state.get("protected", []))
        networks = [nft.parse_network(t) for t in texts]
        return networks + list(self.layout.management)

    def protect(self, sources: Iterable[str]) -> None:
        """Adds addresses the agent itself needs (the central, its management link)."""
        with self.lock:
            current = set(self.state.get("protected", []))
            current.update(str(nft.parse_network(s)) for s in sources)
            self.state.put("protected", sorted(current))
            if self.table is not None:
                self._load_allow()

    def check(self, network: nft.Network) -> None:
        hit = nft.overlaps_any(network, self.protected())
        if hit is not None:
            raise Refused(f"{network} touche {hit}, protégé (liste d'autorisation) : refusé")

    # --- kernel --------------------------------------------------------------------------

    def start(self) -> None:
        """Recreates the table and reapplies everything the state holds."""
        with self.lock:
            if self.table is None:
                return
            self.table.create()
            self._load_allow()
            now = time.time()
            self.table.add(
                "blocked",
                [
                    (nft.parse_network(d.source), d.remaining(now))
                    for d in self.state.decisions(now)
                ],
            )
            packed4, v6 = self.state.load_feed()
            self.table.load_feed(packed4, [nft.parse_network(n) for n in v6])
            self.table.replace(
                "c2_", [(nft.parse_network(n), None) for n in self.state.get("c2", [])]
            )
            self._load_countries(self.state.get("countries_blocked", []))
            self.table.load_ports(_port_rules(self.state.get("ports_blocked", [])))

    def _load_allow(self) -> None:
        assert self.table is not None
        v4, v6 = nft.collapse(self.protected())  # an interval set refuses overlaps
        self.table.replace("allow", [(n, None) for n in v4 + v6])

    def _load_countries(self, codes: Sequence[str]) -> None:
        assert self.table is not None
        protected = self.protected()
        firsts, lasts = array("I"), array("I")
        v6: list[nft.Network] = []
        for code in codes:
            for network in geo.country_networks(code):
                if nft.overlaps_any(network, protected) is not None:
                    continue
                if network.version == 4:
                    firsts.append(int(network.network_address))
                    lasts.append(int(network.broadcast_address))
                else:
                    v6.append(network)
        self.table.load_sharded("country", pack_v4(firsts, lasts), nft.collapse(v6)[1])

    # --- decisions -----------------------------------------------------------------------

    def decide(
        self, verdict: Verdict, origin: str = "local", expires_at: float | None = None
    ) -> bool:
        """Blocks a source; False if refused (protected) or already blocked."""
        with self.lock:
            try:
                network = nft.parse_network(verdict.source)
                self.check(network)
            except (ValueError, Refused) as exc:
                log.warning(
                    "décision %s pour %s refusée : %s", verdict.scenario, verdict.source, exc
                )
                return False
            now = time.time()
            if expires_at is None and verdict.duration:
                expires_at = now + verdict.duration
            source = nft.source_text(network)
            if self.state.decision(source) is not None or self._covered(network, now):
                return False
            decision = Decision(source, verdict.scenario, verdict.detail, now, expires_at, origin)
            self.state.save_decision(decision)
            if self.table is not None:
                self.table.add("blocked", [(network, decision.remaining(now))])
            if origin == "local":  # the central knows what it pushed; drops are reported
                self.event(
                    "decision",
                    source,
                    verdict.scenario,
                    duration=int(expires_at - now) if expires_at else 0,
                    detail=verdict.detail,
                )
            log.info("bloqué %s (%s) : %s", source, verdict.scenario, verdict.detail)
            return True

    def _covered(self, network: nft.Network, now: float) -> bool:
        """Whether a running decision already overlaps `network` (interval sets refuse
        overlapping elements; the wider decision stands)."""
        for decision in self.state.decisions(now):
            other = nft.parse_network(decision.source)
            if other.version == network.version and other.overlaps(network):  # type: ignore[arg-type]
                return True
        return False

    def _add_pushed(self, pushed: list[tuple[nft.Network, Decision]], now: float) -> None:
        """The central's entries not yet in force, checked and added in bulk (a
        département's collective list holds thousands: one nft call and one transaction,
        overlaps found by binary search rather than by comparing every pair)."""
        taken = _Intervals(nft.parse_network(d.source) for d in self.state.decisions(now))
        protected = self.protected()
        added: list[tuple[nft.Network, int | None]] = []
        self.state.db.execute("BEGIN")
        try:
            for network, decision in pushed:
                hit = nft.overlaps_any(network, protected)
                if hit is not None:
                    log.warning("politique : %s touche %s, protégé : ignoré", network, hit)
                    continue
                if not taken.add(network):
                    continue  # already blocked, by this entry or a wider one
                self.state.save_decision(decision)
                added.append((network, decision.remaining(now)))
            self.state.db.execute("COMMIT")
        except BaseException:
            self.state.db.execute("ROLLBACK")
            raise
        if self.table is not None and added:
            self.table.add("blocked", added)

    def _lift(self, sources: Iterable[str]) -> None:
        """Removes decisions in bulk (one transaction, one nft batch)."""
        gone = list(sources)
        if not gone:
            return
        self.state.db.execute("BEGIN")
        for source in gone:
            self.state.delete_decision(source)
        self.state.db.execute("COMMIT")
        if self.table is not None:
            networks = [nft.parse_network(s) for s in gone]
            try:
                self.table.delete("blocked", networks)
            except nft.NftError:  # one had expired in the kernel already: one by one
                for network in networks:
                    with contextlib.suppress(nft.NftError):
                        self.table.delete("blocked", [network])
        log.info("%d décision(s) levée(s) par la politique", len(gone))

    def unblock(self, source: str) -> bool:
        with self.lock:
            network = nft.parse_network(source)
            decision = self.state.decision(nft.source_text(network))
            if decision is None:
                return False
            self.state.delete_decision(decision.source)
            if self.table is not None:
                try:
                    self.table.delete("blocked", [network])
                except nft.NftError as exc:  # expired in the kernel already
                    log.info("%s absent du noyau : %s", network, exc)
            log.info("débloqué %s (%s)", network, decision.scenario)
            return True

    # --- events --------------------------------------------------------------------------

    def event(
        self,
        kind: str,
        source: str,
        scenario: str,
        duration: int = 0,
        flows: int = 0,
        detail: str = "",
    ) -> int:
        with self.lock:
            return self.spool.append(
                {
                    "kind": kind,
                    "at": utc_now(),
                    "source": source,
                    "country": geo.country(source),
                    "scenario": scenario,
                    "duration": duration,
                    "flows": flows,
                    "detail": detail,
                }
            )

    def scenario_of(self, address: str) -> str:
        """Why an address is dropped: its decision, the feed, or its country."""
        network = nft.parse_network(address)
        for decision in self.state.decisions():
            other = nft.parse_network(decision.source)
            if other.version == network.version and other.overlaps(network):  # type: ignore[arg-type]
                return decision.scenario
        if network.version == 4:
            packed = self._feed4()
            value = int(network.network_address)
            index = bisect.bisect_right(packed, (value << 8) | 0xFF) - 1
            if index >= 0:
                item = packed[index]
                if value < (item >> 8) + (1 << (32 - (item & 0xFF))):
                    return "blocklist"
        country = geo.country(address)
        if country and country in self.state.get("countries_blocked", []):
            return "country-policy"
        return "blocklist"

    def collect_drops(self) -> int:
        """Spools a `drops` event per source whose dropped-packet counter grew."""
        if self.table is None:
            return 0
        with self.lock:
            reported: dict[str, int] = self.state.get("reported_hits", {})
            count = 0
            hits = self.table.hits()
            for source, packets in hits.items():
                new = packets - reported.get(source, 0)
                if new < 0:  # the kernel's element expired and came back
                    new = packets
                if new > 0:
                    self.event("drops", source, self.scenario_of(source), flows=new)
                    count += 1
            c2_reported: dict[str, int] = self.state.get("reported_c2", {})
            c2_hits = {f"{c2} {host}": n for (c2, host), n in self.table.c2_hits().items()}
            for key, packets in c2_hits.items():
                new = packets - c2_reported.get(key, 0)
                if new < 0:
                    new = packets
                if new > 0:
                    c2, host = key.split()
                    self.event("drops", c2, "c2-outbound", flows=new, detail=f"depuis {host}")
                    count += 1
            count += self._collect_port_drops()
            if hits != reported:
                self.state.put("reported_hits", hits)
            if c2_hits != c2_reported:
                self.state.put("reported_c2", c2_hits)
            return count

    def _collect_port_drops(self) -> int:
        """Spools a `port-block` drops event per (source, closed port) whose counter grew:
        the monthly report's « port 3389 bloqué : N tentatives »."""
        assert self.table is not None
        reported: dict[str, int] = self.state.get("reported_ports", {})
        hits = {f"{s} {proto} {port}": n for (s, proto, port), n in self.table.port_hits().items()}
        count = 0
        for key, packets in hits.items():
            new = packets - reported.get(key, 0)
            if new < 0:  # the kernel's element expired and came back
                new = packets
            if new > 0:
                source, proto, port = key.split()
                self.event("drops", source, "port-block", flows=new, detail=f"port {port}/{proto}")
                count += 1
        if hits != reported:
            self.state.put("reported_ports", hits)
        return count

    # --- blocklists and policy -----------------------------------------------------------

    def load_feed(self, parsed: ParsedList, raw: RawFeed | None = None) -> FeedReport:
        """Replaces the bulk blocklist by `parsed` (minus what touches protected ranges),
        applying only the difference to the kernel; `raw` (the list as the central sent
        it, with its version) is kept for the next delta."""
        with self.lock:
            report = FeedReport(parsed.entries, parsed.malformed, list(parsed.examples))
            firsts, lasts = self._without_protected(parsed, report)
            packed = pack_v4(firsts, lasts)
            protected = self.protected()
            v6 = []
            for network in parsed.v6:
                if nft.overlaps_any(network, protected) is None:
                    v6.append(network)
                else:
                    report.refused.append(str(network))
            v6_collapsed = nft.collapse(v6)[1]
            old4, old6 = self.state.load_feed()
            added, removed = diff_packed(old4, packed)
            old6_set = {nft.parse_network(n) for n in old6}
            new6_set = set(v6_collapsed)
            if self.table is not None:
                if not old4 and not old6:
                    self.table.load_feed(packed, v6_collapsed)
                else:
                    self.table.feed_delta(
                        added,
                        removed,
                        sorted(new6_set - old6_set, key=str),
                        sorted(old6_set - new6_set, key=str),
                    )
            self.state.save_feed(packed, [str(n) for n in v6_collapsed], raw)
            self._feed4_cache = packed
            report.prefixes = len(packed) + len(v6_collapsed)
            report.added, report.removed = len(added), len(removed)
            for refused in report.refused:
                log.warning("liste de blocage : %s touche une adresse protégée, ignoré", refused)
            if report.malformed:
                log.warning(
                    "liste de blocage : %d lignes mal formées ignorées (%s)",
                    report.malformed,
                    "; ".join(report.examples),
                )
            return report

    def _without_protected(self, parsed: ParsedList, report: FeedReport) -> tuple[array, array]:  # type: ignore[type-arg]
        protected = sorted(
            (int(n.network_address), int(n.broadcast_address))
            for n in self.protected()
            if n.version == 4
        )
        if not protected:
            return parsed.v4_first, parsed.v4_last
        firsts, lasts = array("I"), array("I")
        for first, last in zip(parsed.v4_first, parsed.v4_last, strict=True):
            if any(first <= p_last and last >= p_first for p_first, p_last in protected):
                address, plen = next(prefixes.interval_to_cidrs(first, last))
                report.refused.append(prefixes.cidr_text(address, plen))
                continue
            firsts.append(first)
            lasts.append(last)
        return firsts, lasts

    def feed_version(self) -> int:
        """The version of the bulk list this box holds as the central sent it (0: none,
        the next policy brings it whole)."""
        raw = self.state.held_feed()[2]
        return raw.version if raw is not None else 0

    def _check_feed(self, part: Any) -> _Delta | None:
        """FeedGap unless `part` is a whole list (None) or a delta from the version held
        (its prefixes, each read once)."""
        if not isinstance(part, dict) or not isinstance(part.get("version"), int):
            raise PolicyRefused("liste de blocage (feed) mal formée")
        if "text" in part:
            if not isinstance(part["text"], str):
                raise PolicyRefused("liste de blocage (feed) : « text » n'est pas un texte")
            return None
        if "full" in part:
            return None
        delta = (*_split_packed(part.get("add", [])), *_split_packed(part.get("remove", [])))
        since, held = part.get("since"), self.feed_version()
        if not isinstance(since, int) or since != held or since == 0:
            raise FeedGap(f"delta de la liste depuis la v{since}, ce boîtier tient la v{held}")
        return delta

    def _apply_feed(
        self, part: dict[str, Any], delta: _Delta | None, allow_changed: bool
    ) -> FeedReport:
        """The bulk list of a policy: whole, or a delta applied region by region (1,000
        changes cost what they touch, not a re-read of the million prefixes)."""
        version = int(part["version"])
        if delta is None:
            if "text" in part:  # one text, read a block of lines at a time, then let go
                # (15 MB at a million prefixes, not kept through the load's own peak)
                parsed = parse_blocklist(_lines_of(part.pop("text")))
            else:  # a central that sends the list as an array
                parsed = parse_blocklist(str(p) for p in part["full"])
            return self.load_feed(parsed, _raw_of(parsed, version))
        loaded, loaded6, raw = self.state.held_feed()  # not changed: patch builds anew
        assert raw is not None  # _check_feed
        add4, add6, remove4, remove6 = delta
        raw6 = sorted((set(raw.v6) - remove6) | add6)
        if allow_changed:  # what the allowlist drops changed: recompute from the whole list
            raw4 = prefixes.patch(raw.v4, array("Q"), add4, remove4, _never, pack_v4)[0]
            lines = [prefixes.cidr_text(p >> 8, p & 0xFF) for p in raw4] + raw6
            return self.load_feed(parse_blocklist(lines), RawFeed(raw4, raw6, version))
        with self.lock:
            report = FeedReport()
            protected = [
                (int(n.network_address), int(n.broadcast_address))
                for n in self.protected()
                if n.version == 4
            ]

            def refused(first: int, last: int) -> bool:
                return any(first <= high and last >= low for low, high in protected)

            raw4, packed, plus, minus, raw_plus, raw_minus = prefixes.patch(
                raw.v4, loaded, add4, remove4, refused, pack_v4, own_cidr_from=MIN_PLEN
            )
            protected_all = self.protected()
            kept6 = [
                n
                for n in (nft.parse_network(t) for t in raw6)
                if nft.overlaps_any(n, protected_all) is None
            ]
            new6 = set(nft.collapse(kept6)[1])
            old6 = {nft.parse_network(t) for t in loaded6}
            if self.table is not None:
                self.table.feed_delta(
                    plus, minus, sorted(new6 - old6, key=str), sorted(old6 - new6, key=str)
                )
            self.state.save_feed_delta(
                packed,
                sorted(str(n) for n in new6),
                RawFeed(raw4, raw6, version),
                (plus, minus, raw_plus, raw_minus),
            )
            self._feed4_cache = packed
            report.entries = len(raw4) + len(raw6)
            report.prefixes = len(packed) + len(new6)
            report.added, report.removed = len(plus), len(minus)
            return report

    def applied_version(self, box_id: str) -> int:
        """The version of the last policy this box applied that was bound to it (0: none,
        e.g. before the central bound policies to boxes, or after a re-enrolment)."""
        floor = self.state.get("policy_floor") or {}
        return int(floor.get("version", 0)) if floor.get("box") == box_id else 0

    def check_policy(self, policy: dict[str, Any], box_id: str) -> None:
        """PolicyRefused unless `policy` names this box and is newer than the one applied:
        the signature proves the central wrote it, not that it is for us or current."""
        bound, version = policy.get("box"), policy.get("version")
        if bound != box_id:
            raise PolicyRefused(
                f"politique destinée au boîtier {bound or '(aucun)'}, pas à celui-ci ({box_id})"
            )
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise PolicyRefused(f"version de politique invalide : {version!r}")
        applied = self.applied_version(box_id)
        if version <= applied:
            raise PolicyRefused(
                f"politique v{version} pas plus récente que la v{applied} en vigueur (rejeu ?)"
            )

    def apply_policy(self, policy: dict[str, Any], box_id: str | None = None) -> FeedReport:
        """Puts a verified policy in force: allowlist first, then the sets. With `box_id`
        (the daemon), a policy not for this box or not newer is refused first
        (`check_policy`), and its version becomes the floor, kept across restarts."""
        with self.lock:
            if box_id is not None:
                self.check_policy(policy, box_id)
            part = policy.get("feed")
            delta = None
            if part is not None:  # before any change: a gap asks for the whole list
                delta = self._check_feed(part)
            allowlist = [str(nft.parse_network(n)) for n in policy.get("allowlist", [])]
            allow_changed = allowlist != self.state.get("allowlist", [])
            self.state.put("allowlist", allowlist)
            if self.table is not None and allow_changed:  # one nft call less per policy
                self._load_allow()
            # Drop decisions that the new allowlist now protects, and central ones gone.
            protected = self.protected()
            self._lift(
                d.source
                for d in self.state.decisions()
                if nft.overlaps_any(nft.parse_network(d.source), protected)
            )
            wanted_central: set[str] = set()
            feed_lines = []
            pushed: list[tuple[nft.Network, Decision]] = []
            now = time.time()
            for entry in policy.get("blocklist", []):
                source, expires = str(entry.get("source", "")), entry.get("expires")
                scenario = str(entry.get("scenario") or "blocklist")
                if scenario == "blocklist" and not expires:
                    feed_lines.append(source)
                    continue
                expires_at = _parse_time(expires) if expires else None
                if expires_at is not None and expires_at <= now:
                    continue
                try:
                    network = nft.parse_network(source)
                except ValueError:
                    log.warning("politique : source illisible %r ignorée", source)
                    continue
                key = nft.source_text(network)
                wanted_central.add(key)
                reason = str(entry.get("reason", ""))
                pushed.append(
                    (network, Decision(key, scenario, reason, now, expires_at, "central"))
                )
            self._lift(
                d.source
                for d in self.state.decisions()
                if d.origin == "central" and d.source not in wanted_central
            )
            self._add_pushed(pushed, now)
            if part is not None:
                report = self._apply_feed(part, delta, allow_changed)
            else:  # a central that sends its bulk list inside `blocklist`
                report = self.load_feed(parse_blocklist(feed_lines))
            c2 = []
            for text in policy.get("c2", []):
                network = nft.parse_network(text)
                try:
                    self.check(network)
                except Refused as exc:
                    log.warning("politique C2 : %s", exc)
                    continue
                c2.append(network)
            c2_changed = [str(n) for n in c2] != self.state.get("c2", [])
            self.state.put("c2", [str(n) for n in c2])
            countries = sorted({str(c).upper() for c in policy.get("countries_blocked", [])})
            # The country sets are reloaded only when what they hold may change: a
            # reload of every policy cost more than a whole 1,000-prefix feed delta.
            reload = allow_changed or countries != self.state.get("countries_blocked")
            if self.table is not None:
                if c2_changed:  # each nft call fetches the table's sets first
                    self.table.replace("c2_", [(n, None) for n in c2])
                if reload:
                    self._load_countries(countries)
            self.state.put("countries_blocked", countries)
            ports = [_port_json(rule) for rule in _port_rules(policy.get("ports_blocked", []))]
            if self.table is not None and ports != self.state.get("ports_blocked", []):
                self.table.load_ports(_port_rules(ports))
            self.state.put("ports_blocked", ports)
            self.state.put("sinkhole_domains", list(policy.get("sinkhole_domains", [])))
            scenarios = dict(DEFAULT_SCENARIOS)
            scenarios.update(policy.get("scenarios", {}))
            self.state.put("scenarios", scenarios)
            self.state.put("policy_version", int(policy.get("version", 0)))
            if box_id is not None:
                self.state.put("policy_floor", {"box": box_id, "version": policy["version"]})
            # Without its bulk list, which feed.bin holds (a million prefixes, ~20 MB of JSON).
            self.state.put("policy", {k: v for k, v in policy.items() if k != "feed"})
            return report

    def scenario(self, name: str) -> dict[str, int]:
        return dict(
            self.state.get("scenarios", DEFAULT_SCENARIOS).get(
                name, DEFAULT_SCENARIOS.get(name, {})
            )
        )

    # --- status --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        with self.lock:
            v6 = self.state.load_feed()[1]
            packed = self._feed4()
            nft_state = "désactivé"
            if self.table is not None:
                nft_state = "ok" if self.table.exists() else "absent"
            return {
                "nft": nft_state,
                "spool_backlog": self.spool.backlog(),
                "blocked": len(self.state.decisions()),
                "feed_prefixes": len(packed) + len(v6),
                # What the central shows as « bloqué par le boîtier » (an older box
                # ignores the policy's ports and never lists them).
                "ports_blocked": [
                    rule.key for rule in _port_rules(self.state.get("ports_blocked", []))
                ],
                "uptime": int(time.time() - self.started),
                "recovered": self.recoveries,
            }

    def close(self) -> None:
        with self.lock:
            self.spool.close()
            self.state.close()
            if self.table is not None:
                self.table.nft.close()


def _port_rules(items: Any) -> list[nft.PortRule]:
    """The policy's `ports_blocked`, each checked; a malformed entry is logged and
    skipped (the rest of the policy still applies)."""
    rules: dict[str, nft.PortRule] = {}
    for item in items if isinstance(items, list) else []:
        try:
            proto, port = str(item["proto"]), item["port"]
            if proto not in ("tcp", "udp") or isinstance(port, bool) or not 1 <= port <= 65535:
                raise ValueError(f"{port}/{proto}")
            allow = tuple(nft.parse_network(str(n)) for n in item.get("allow", []))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("politique : port fermé illisible %r ignoré (%s)", item, exc)
            continue
        rule = nft.PortRule(proto, int(port), allow)
        rules[rule.key] = rule
    return sorted(rules.values(), key=lambda r: (r.port, r.proto))


def _port_json(rule: nft.PortRule) -> dict[str, Any]:
    return {"proto": rule.proto, "port": rule.port, "allow": [str(n) for n in rule.allow]}


def _never(first: int, last: int) -> bool:
    return False


def _raw_of(parsed: ParsedList, version: int) -> RawFeed:
    """The list as sent: each IPv4 prefix packed once, sorted; IPv6 as text. Sorted by
    blocks of the addresses' first 16 bits, each block alone (their order is the whole
    list's): a set, then a list, of a million Python ints made this the peak of a
    first contact, 90 MB above the load itself."""
    blocks: dict[int, array] = {}  # type: ignore[type-arg]
    packed_prefix = prefixes.packed_prefix
    for first, last in zip(parsed.v4_first, parsed.v4_last, strict=True):
        block = blocks.get(first >> 16)
        if block is None:
            block = blocks[first >> 16] = array("Q")
        block.append(packed_prefix(first, last))
    packed = array("Q")
    for key in sorted(blocks):
        packed.extend(sorted(set(blocks.pop(key))))
    return RawFeed(packed, sorted({str(n) for n in parsed.v6}), version)


def _lines_of(text: str, block: int = 1 << 16) -> Iterator[str]:
    """The lines of `text`, split a block of about `block` characters at a time: never
    the million-string list of `text.splitlines()`, at its speed."""
    start, end_of_text = 0, len(text)
    while start < end_of_text:
        end = text.find("\n", start + block)
        if end < 0:
            end = end_of_text
        yield from text[start:end].splitlines()
        start = end + 1


# A feed delta's prefixes: IPv4 added (packed), IPv6 added, IPv4 removed, IPv6 removed.
_Delta = tuple[list[int], set[str], list[int], set[str]]


def _split_packed(texts: Iterable[Any]) -> tuple[list[int], set[str]]:
    """A delta's prefixes: IPv4 packed, IPv6 as normalised text; PolicyRefused on one
    that is not a prefix (the whole policy is then refused, nothing changed)."""
    v4: list[int] = []
    v6: set[str] = set()
    for text in texts:
        interval = prefixes.parse_v4(str(text))
        if interval is not None:
            v4.append(prefixes.packed_prefix(*interval))
            continue
        try:
            v6.add(str(nft.parse_network(str(text))))
        except ValueError as exc:
            raise PolicyRefused(f"liste de blocage : préfixe illisible {text!r}") from exc
    return v4, v6


def _parse_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class _Intervals:
    """Sorted, non-overlapping address intervals of one set (IPv4 and IPv6 apart)."""

    def __init__(self, networks: Iterable[nft.Network] = ()) -> None:
        self._firsts: dict[int, list[int]] = {4: [], 6: []}
        self._lasts: dict[int, list[int]] = {4: [], 6: []}
        for network in networks:
            self.add(network)

    def add(self, network: nft.Network) -> bool:
        """Adds `network` unless it overlaps one already there (then False)."""
        first, last = int(network.network_address), int(network.broadcast_address)
        firsts, lasts = self._firsts[network.version], self._lasts[network.version]
        index = bisect.bisect_right(firsts, last)
        if index > 0 and lasts[index - 1] >= first:
            return False
        firsts.insert(index, first)
        lasts.insert(index, last)
        return True
