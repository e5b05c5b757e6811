"""The signed policy a box applies: lists, countries, sinkholed domains, detector
parameters, the collective feed."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.shield.models import (
    AllowEntry,
    BlockEntry,
    Box,
    CountryPolicy,
    FeedChange,
    FeedPurpose,
    PolicyVersion,
    SinkholeDomain,
)
from clocher.shield.services.allowlist import Network, department_allowlist, overlapping
from clocher.shield.services.collective import active_blocks
from clocher.shield.services.keys import bump_policy, policy_version, signing_key
from clocher.shield.services.ports import policy_ports
from clocher_box import protocol

# The detectors' parameters every box receives with its policy.
DETECTOR_PARAMETERS = {
    # slow_*: the long window that catches scanners pacing under the short one (psad-like).
    "port-scan": {
        "ports": 10,
        "window": 10,
        "duration": 14400,
        "slow_ports": 20,
        "slow_window": 3600,
    },
    "ssh-bruteforce": {"failures": 5, "window": 60, "duration": 14400},
}


def _stamp(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Listed:
    network: Network
    c2: bool
    item: dict[str, Any]
    bulk: bool = False  # from a blocklist feed: sent apart, as `feed`, to boxes that ask


# The département-wide entries of the latest policy version, shared by every commune's
# policy (a feed of 100,000 prefixes is parsed once per version, not once per box).
# Keyed by what they are made of, so a restored database or a changed setting never
# serves stale entries under a recycled version number.
_listed_cache: dict[tuple[Any, ...], list[_Listed]] = {}


def _fingerprint(version: int) -> tuple[Any, ...]:
    blocks = BlockEntry.objects.aggregate(last=Max("pk"), count=Count("pk"))
    allows = AllowEntry.objects.aggregate(last=Max("pk"), count=Count("pk"))
    changed = PolicyVersion.objects.filter(singleton=1).values_list("changed_at", flat=True)
    return (
        version,
        tuple(changed),
        tuple(settings.SHIELD_ALLOWLIST),
        tuple(blocks.values()),
        tuple(allows.values()),
        timezone.now().replace(second=0, microsecond=0),  # expiries are honoured each minute
    )


def _department_entries(version: int) -> list[_Listed]:
    key = _fingerprint(version)
    cached = _listed_cache.get(key)
    if cached is not None:
        return cached
    allowed = department_allowlist()
    listed = []
    rows = active_blocks().values_list(
        "source", "scenario", "expires_at", "reason", "feed__purpose"
    )
    for source, scenario, expires_at, reason, purpose in rows.order_by("source"):
        network = ipaddress.ip_network(source)
        if overlapping(network, allowed) is not None:
            continue
        item = {"source": source, "scenario": scenario, "expires": _stamp(expires_at)}
        item["reason"] = reason
        listed.append(
            _Listed(network, purpose == FeedPurpose.C2, item, purpose == FeedPurpose.BLOCKLIST)
        )
    _listed_cache.clear()
    _listed_cache[key] = listed
    return listed


def build_policy(commune: Commune, bulk_apart: bool = False) -> dict[str, Any]:
    """The POLICY of docs/shield.md for a commune's boxes: the allowlist wins over all.
    With `bulk_apart`, the feeds' entries are left out of `blocklist` (see `feed_part`)."""
    version = policy_version()  # read first: a later change bumps it past this policy
    own = [ipaddress.ip_network(p) for p in commune.allowlist.values_list("prefix", flat=True)]
    blocklist, c2 = [], []
    for listed in _department_entries(version):
        if bulk_apart and listed.bulk:
            continue
        if own and overlapping(listed.network, own) is not None:
            continue
        if listed.c2:
            c2.append(listed.item["source"])
        else:
            blocklist.append(listed.item)
    return {
        "version": version,
        "issued_at": _stamp(timezone.now()),
        "commune": commune.insee,
        "allowlist": sorted({str(n) for n in department_allowlist() + own}),
        "blocklist": blocklist,
        "c2": c2,
        "countries_blocked": blocked_countries(commune),
        "ports_blocked": policy_ports(commune),
        "sinkhole_domains": list(SinkholeDomain.objects.values_list("domain", flat=True)),
        "scenarios": DETECTOR_PARAMETERS,
    }


@dataclass
class _Bulk:
    """The union of the blocklist feeds for one fingerprint: sorted, and as one text (a
    prefix a line) once a box asked for it."""

    sources: list[str]
    text: str | None = None


_bulk_cache: dict[tuple[Any, ...], _Bulk] = {}


def _bulk(version: int) -> _Bulk:
    """The boxes' bulk list for `version` (shared by every box for a version)."""
    key = _fingerprint(version)
    cached = _bulk_cache.get(key)
    if cached is None:
        rows = BlockEntry.objects.filter(feed__purpose=FeedPurpose.BLOCKLIST)
        cached = _Bulk(sorted(set(rows.values_list("source", flat=True))))
        _bulk_cache.clear()
        _bulk_cache[key] = cached
    return cached


def feed_part(version: int, since: int, as_text: bool = False) -> dict[str, Any]:
    """The boxes' bulk list as of `version`, for a box that holds it as of `since`: the
    changes in between (`add`/`remove`, the last change of a prefix wins) when the
    journal covers them, else the whole list (`full`: first contact, a gap, a restored
    central). Not filtered by any allowlist: the box drops what its allowlist protects,
    so that an entry comes back when its allowlisting is lifted.

    `as_text` (boxes that ask `format=text`): the whole list as one text (`text`, a
    prefix a line) instead of a JSON array: a box decoded a million-prefix array into a
    million strings (85 MB) before reading them, one text costs its 15 MB. Older boxes
    do not ask and still get the array."""
    floor = PolicyVersion.objects.filter(singleton=1).values_list("feed_floor", flat=True).first()
    if since and (floor or 0) <= since <= version:
        changes = (
            FeedChange.objects.filter(version__gt=since, version__lte=version)
            .order_by("version", "pk")
            .values_list("source", "added")
        )
        net = dict(changes.iterator(chunk_size=10_000))
        return {
            "version": version,
            "since": since,
            "add": sorted(s for s, added in net.items() if added),
            "remove": sorted(s for s, added in net.items() if not added),
        }
    bulk = _bulk(version)
    if not as_text:
        return {"version": version, "full": bulk.sources}
    if bulk.text is None:
        bulk.text = "\n".join(bulk.sources)
    return {"version": version, "text": bulk.text}


def box_policy(
    box: Box, feed_since: int | None = None, feed_as_text: bool = False
) -> dict[str, Any]:
    """The policy for one box, bound to it: its id and its own version inside the signed
    payload, so that a policy signed for another box, or an older one replayed, is
    refused by the box (clocher_box.agent.Agent.check_policy). The box's counter goes
    up when the central's policy changed since the last one this box was served; the
    row stays locked meanwhile, so two fetches never share a version with different
    contents."""
    with transaction.atomic():
        # The box's row only (`of`): the commune's, locked too, held every insert naming
        # the commune (its foreign key checks) while the policy was built.
        locked = (
            Box.objects.select_for_update(of=("self",)).select_related("commune").get(pk=box.pk)
        )
        policy = build_policy(locked.commune, bulk_apart=feed_since is not None)
        if locked.policy_built_from != policy["version"]:
            locked.policy_version += 1
            locked.policy_built_from = policy["version"]
            locked.save(update_fields=["policy_version", "policy_built_from"])
        if feed_since is not None:
            policy["feed"] = feed_part(policy["version"], feed_since, feed_as_text)
            if locked.feed_version != feed_since:  # what it holds: feeds.prune_journal
                locked.feed_version = feed_since
                locked.save(update_fields=["feed_version"])
    policy["version"] = locked.policy_version
    policy["box"] = str(locked.pk)
    return policy


def signed_policy(
    box: Box, feed_since: int | None = None, feed_as_text: bool = False
) -> dict[str, str]:
    """Signed for `box`; `feed_since` (the version of the bulk list the box holds, 0 for
    none) asks for the bulk list apart, as a delta when possible (whole: as one text
    with `feed_as_text`)."""
    return protocol.sign_envelope(signing_key(), box_policy(box, feed_since, feed_as_text))


def set_countries(actor: Actor, commune: Commune, codes: Iterable[str]) -> list[str]:
    """The countries a commune's boxes drop inbound traffic from (replaces the list)."""
    wanted = sorted({c.strip().upper() for c in codes if c.strip()})
    bad = [c for c in wanted if len(c) != 2 or not c.isascii() or not c.isalpha()]
    if bad:
        raise ValidationError(f"Code(s) pays invalide(s) : {', '.join(bad)} (ISO 3166, 2 lettres).")
    with transaction.atomic():
        CountryPolicy.objects.filter(commune=commune).exclude(country__in=wanted).delete()
        for code in wanted:
            CountryPolicy.objects.get_or_create(commune=commune, country=code)
        audit.record(actor, "shield.countries_set", commune=commune, data={"countries": wanted})
        bump_policy()
    return wanted


def blocked_countries(commune: Commune) -> list[str]:
    return list(CountryPolicy.objects.filter(commune=commune).values_list("country", flat=True))


def add_sinkhole(actor: Actor, domain: str, reason: str = "") -> SinkholeDomain:
    name = domain.strip().lower().rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or not all(
        label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    ):
        raise ValidationError(f"« {domain} » n'est pas un nom de domaine.")
    with transaction.atomic():
        entry, created = SinkholeDomain.objects.get_or_create(
            domain=name, defaults={"reason": reason[:300]}
        )
        if created:
            audit.record(actor, "shield.sinkhole_added", target=name, data={"reason": reason})
            bump_policy()
    return entry
