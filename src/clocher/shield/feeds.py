"""Threat-intelligence feeds: read a blocklist from a file or URL, apply it as a delta.

Formats read line by line: plain addresses and CIDR prefixes, FireHOL netsets (`#`
comments), Spamhaus DROP (`prefix ; SBLnnn`) and its JSON-lines edition
(`{"cidr": …, "sblid": …}`). A malformed line is counted and reported with its number;
the other lines are applied. A prefix touching the département's allowlist is refused
and reported. The feed's entries are replaced in one transaction: a failed import leaves
the previous list in force.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.shield import services
from clocher.shield.models import BlockEntry, Feed, FeedKind, FeedPurpose

MAX_FEED_BYTES = 64 * 1024 * 1024
FETCH_TIMEOUT = 30
# How many problem lines a report lists (all are counted).
REPORTED_LINES = 50


@dataclass
class ParsedFeed:
    prefixes: dict[str, int] = field(default_factory=dict)  # prefix → first line number
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # line, text, why
    lines: int = 0


def _candidate(line: str) -> str:
    """The prefix a line carries, '' for a comment or blank line."""
    text = line.strip()
    if not text or text.startswith(("#", ";")):
        return ""
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return text
        if isinstance(record, dict) and "cidr" in record:
            return str(record["cidr"])
        return "" if isinstance(record, dict) and "type" in record else text  # metadata line
    for mark in (";", "#"):
        text = text.split(mark, 1)[0]
    return text.strip()


def parse(lines: Iterable[str]) -> ParsedFeed:
    parsed = ParsedFeed()
    for number, line in enumerate(lines, 1):
        parsed.lines = number
        text = _candidate(line)
        if not text:
            continue
        try:
            network = services.parse_prefix(text)
        except ValueError as exc:
            parsed.malformed.append((number, line.strip()[:80], str(exc)))
            continue
        parsed.prefixes.setdefault(str(network), number)
    return parsed


def read_location(location: str) -> tuple[str, list[str]]:
    """The feed's kind and lines, from a local file or an http(s) URL (bounded size)."""
    if location.startswith(("http://", "https://")):
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            location, headers={"User-Agent": "clocher-shield"}
        )
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
                data = response.read(MAX_FEED_BYTES + 1)
        except OSError as exc:
            raise ValidationError(f"Téléchargement de {location} impossible : {exc}") from exc
        kind = FeedKind.URL
    else:
        path = Path(location)
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_FEED_BYTES + 1)
        except OSError as exc:
            raise ValidationError(f"Lecture de {location} impossible : {exc.strerror}") from exc
        kind = FeedKind.FILE
    if len(data) > MAX_FEED_BYTES:
        raise ValidationError(f"Liste trop volumineuse (plus de {MAX_FEED_BYTES // 2**20} Mio).")
    return kind, data.decode("utf-8", errors="replace").splitlines()


@dataclass
class ImportReport:
    feed: Feed
    lines: int
    added: int
    removed: int
    kept: int
    malformed: list[tuple[int, str, str]]
    refused: list[tuple[int, str, str]]  # line, prefix, allowlisted prefix

    def summary(self) -> str:
        return (
            f"Liste « {self.feed.name} » : {self.added} ajout(s), {self.removed} retrait(s), "
            f"{self.kept} inchangé(s) ; {len(self.malformed)} ligne(s) mal formée(s), "
            f"{len(self.refused)} préfixe(s) refusé(s) (liste d'autorisation)."
        )

    def problems(self) -> list[str]:
        lines = [f"ligne {n} : {why}" for n, _, why in self.malformed[:REPORTED_LINES]]
        lines += [
            f"ligne {n} : {prefix} touche la liste d'autorisation ({allowed}), refusé"
            for n, prefix, allowed in self.refused[:REPORTED_LINES]
        ]
        return lines


def import_feed(
    actor: Actor,
    name: str,
    location: str,
    purpose: str = FeedPurpose.BLOCKLIST,
    lines: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import (or re-import) the feed `name` from `location`, replacing its entries."""
    name = name.strip().lower()
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValidationError("Nom de liste : lettres, chiffres, tirets (ex. firehol-level1).")
    if purpose not in FeedPurpose.values:
        raise ValidationError(f"Usage inconnu : {purpose} (blocklist ou c2).")
    if lines is None:
        kind, lines = read_location(location)
    else:
        kind = FeedKind.FILE
    parsed = parse(lines)
    allowed = services.department_allowlist()
    wanted: dict[str, int] = {}
    refused = []
    for prefix, number in parsed.prefixes.items():
        touching = services.overlapping(ipaddress.ip_network(prefix), allowed)
        if touching is not None:
            refused.append((number, prefix, str(touching)))
        else:
            wanted[prefix] = number
    with transaction.atomic():
        feed, _ = Feed.objects.select_for_update().get_or_create(
            name=name, defaults={"kind": kind, "location": location[:500], "purpose": purpose}
        )
        existing = set(feed.entries.values_list("source", flat=True))
        stale = existing - wanted.keys()
        fresh = [p for p in wanted if p not in existing]
        for start in range(0, len(stale), 1000):
            chunk = list(stale)[start : start + 1000]
            BlockEntry.objects.filter(feed=feed, source__in=chunk).delete()
        scenario = "blocklist"
        reason = f"liste {name}"
        for start in range(0, len(fresh), 1000):
            BlockEntry.objects.bulk_create(
                BlockEntry(source=p, scenario=scenario, feed=feed, reason=reason)
                for p in fresh[start : start + 1000]
            )
            if progress is not None:
                progress(min(1000, len(fresh) - start))
        feed.kind, feed.location, feed.purpose = kind, location[:500], purpose
        feed.last_import_at = timezone.now()
        feed.entries_count = len(wanted)
        feed.malformed_count = len(parsed.malformed)
        feed.refused_count = len(refused)
        feed.save()
        report = ImportReport(
            feed,
            parsed.lines,
            len(fresh),
            len(stale),
            len(existing & wanted.keys()),
            parsed.malformed,
            refused,
        )
        audit.record(
            actor,
            "shield.feed_imported",
            target=name,
            data={
                "location": location[:200],
                "added": report.added,
                "removed": report.removed,
                "malformed": len(parsed.malformed),
                "refused": [p for _, p, _ in refused[:20]],
            },
        )
        if fresh or stale:
            services.bump_policy()
    return report
