"""Shield services: enrolment, signed box requests, events, the collective lists, policies.

The wire contract is docs/shield.md; signing is `clocher_box.protocol`, shared with the
box. Every change a box must fetch bumps the policy version; every enrolment,
revocation and list change writes one audit entry in its transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.shield.models import (
    SCENARIO_LABELS,
    AllowEntry,
    BlockEntry,
    Box,
    CountryPolicy,
    EnrolmentToken,
    EventKind,
    FeedChange,
    FeedPurpose,
    PolicyVersion,
    ShieldEvent,
    SinkholeDomain,
)
from clocher_box import prefixes, protocol

TOKEN_VALIDITY = dt.timedelta(days=7)
# A box silent longer than this is shown offline and raises an alert.
OFFLINE_AFTER = dt.timedelta(hours=1)
MAX_EVENTS_PER_BATCH = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_HEALTH_BYTES = 16 * 1024
# Scenarios whose decision means "this source attacked a commune": the source is then
# blocked at every box of the département (collective defence). Country policy, lists
# and manual blocks say nothing about the source's behaviour; `mail-bruteforce` and
# `collective` come from the central itself, and a box reports the entries it applies
# as decisions too: counting them would echo the central's own list back.
ATTACK_SCENARIOS = frozenset({"port-scan", "ssh-bruteforce"})
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
# Addresses that are each commune's own (private ranges, loopback…) are never pushed to
# other communes: 10.0.0.5 at one town hall is not 10.0.0.5 at the next.
LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/3",
        "::/127",
        "::ffff:0:0/96",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
# Prefixes broader than this are refused in any list (a typo must not block a continent).
MIN_PREFIX = {4: 8, 6: 19}
# What a collective block may be: one host or a small network.
MIN_COLLECTIVE_PREFIX = {4: 24, 6: 48}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AuthenticationFailed(Exception):
    """A box request that must be answered 401 (the message says why, for the log)."""


class BatchRefused(ValueError):
    """An events batch refused whole: the message names the faulty event."""


# --- Prefixes and the allowlist -------------------------------------------------------


def parse_prefix(text: str) -> Network:
    """An address or prefix, normalised (host bits cleared), or ValueError in French."""
    text = text.strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"« {text[:60]} » n'est ni une adresse IP ni un préfixe CIDR") from exc
    if network.prefixlen < MIN_PREFIX[network.version]:
        raise ValueError(f"préfixe {network} trop large (au plus /{MIN_PREFIX[network.version]})")
    return network


def is_local(network: Network) -> bool:
    return any(
        network.version == local.version and network.subnet_of(local)  # type: ignore[arg-type]
        for local in LOCAL_NETWORKS
    )


def overlapping(network: Network, allowed: Iterable[Network]) -> Network | None:
    for prefix in allowed:
        if prefix.version == network.version and network.overlaps(prefix):  # type: ignore[arg-type]
            return prefix
    return None


def department_allowlist() -> list[Network]:
    """Prefixes no box may block anywhere: the settings' and the operator's."""
    texts = list(settings.SHIELD_ALLOWLIST) + list(
        AllowEntry.objects.filter(commune__isnull=True).values_list("prefix", flat=True)
    )
    return [ipaddress.ip_network(t, strict=False) for t in texts]


def commune_allowlist(commune: Commune) -> list[Network]:
    """Département-wide prefixes and the commune's own."""
    own = AllowEntry.objects.filter(commune=commune).values_list("prefix", flat=True)
    return department_allowlist() + [ipaddress.ip_network(t) for t in own]


def allowlisted(network: Network, commune: Commune | None = None) -> Network | None:
    """The allowlisted prefix `network` touches, if any."""
    allowed = commune_allowlist(commune) if commune else department_allowlist()
    return overlapping(network, allowed)


def add_allow(actor: Actor, prefix: str, reason: str, commune: Commune | None = None) -> AllowEntry:
    """Allowlist a prefix; collective entries it covers stop being pushed at once."""
    try:
        network = ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError as exc:
        raise ValidationError(f"« {prefix} » n'est ni une adresse IP ni un préfixe CIDR.") from exc
    if not reason.strip():
        raise ValidationError("Indiquez pourquoi ce préfixe ne doit jamais être bloqué.")
    with transaction.atomic():
        if AllowEntry.objects.filter(prefix=str(network), commune=commune).exists():
            raise ValidationError(f"{network} est déjà dans la liste d'autorisation.")
        entry = AllowEntry.objects.create(
            prefix=str(network),
            commune=commune,
            reason=reason.strip()[:300],
            created_by=actor.display[:254],
        )
        audit.record(
            actor,
            "shield.allow_added",
            commune=commune,
            target=str(network),
            data={"reason": entry.reason},
        )
        bump_policy()
    return entry


def remove_allow(actor: Actor, entry: AllowEntry) -> None:
    with transaction.atomic():
        audit.record(actor, "shield.allow_removed", commune=entry.commune, target=entry.prefix)
        entry.delete()
        bump_policy()


# --- Policy version and signing key ----------------------------------------------------


def bump_policy() -> int:
    """A change every box must fetch: the next heartbeat tells them."""
    with transaction.atomic():
        counter, _ = PolicyVersion.objects.get_or_create(singleton=1)
        PolicyVersion.objects.filter(pk=counter.pk).update(
            version=F("version") + 1, changed_at=timezone.now()
        )
    return policy_version()


def policy_version() -> int:
    counter = PolicyVersion.objects.filter(singleton=1).only("version").first()
    return counter.version if counter else 1


def signing_key_path() -> Path:
    """CLOCHER_SHIELD_CENTRAL_KEY_FILE (a path every node mounts), else the data dir."""
    if settings.SHIELD_CENTRAL_KEY_FILE:
        return Path(settings.SHIELD_CENTRAL_KEY_FILE)
    return Path(settings.DATA_DIR) / "shield" / "central-ed25519.key"


class CentralKeyMismatch(Exception):
    pass


def central_key_fingerprint() -> str:
    return hashlib.sha256(protocol.unb64(central_public_key())).hexdigest()


def check_central_key() -> str:
    """The key this node signs with is the one recorded (recorded at its first use).

    Boxes trust one central key: a web node that made its own (its data dir lacks the
    copied key) would sign policies every box rejects, so it must not start.
    """
    from clocher.shield.models import CentralKey

    fingerprint = central_key_fingerprint()
    recorded, _ = CentralKey.objects.get_or_create(
        singleton=1, defaults={"fingerprint": fingerprint}
    )
    if recorded.fingerprint != fingerprint:
        raise CentralKeyMismatch(
            f"la clé de signature du bouclier de ce nœud ({signing_key_path()}, empreinte "
            f"{fingerprint[:16]}…) n'est pas celle de la plateforme (empreinte "
            f"{recorded.fingerprint[:16]}…) : copiez la clé du premier nœud à cet endroit, "
            "ou pointez CLOCHER_SHIELD_CENTRAL_KEY_FILE vers la clé partagée."
        )
    return fingerprint


def signing_key() -> Any:
    """The central's Ed25519 key, made once in the data dir (0600), never in the database."""
    path = signing_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        raw = protocol.private_key_bytes(protocol.new_private_key())
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, path)  # fails if another process made it first: keep theirs
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return protocol.private_key_from_bytes(path.read_bytes())


def central_public_key() -> str:
    return protocol.public_key_b64(signing_key())


# --- Enrolment -------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class IssuedToken:
    record: EnrolmentToken
    token: str  # shown once, never stored


def issue_token(actor: Actor, commune: Commune) -> IssuedToken:
    """A new enrolment token for `commune`; earlier unused ones are cancelled."""
    token = f"clb_{secrets.token_urlsafe(32)}"
    now = timezone.now()
    with transaction.atomic():
        EnrolmentToken.objects.filter(
            commune=commune, used_at__isnull=True, cancelled_at__isnull=True
        ).update(cancelled_at=now)
        record = EnrolmentToken.objects.create(
            commune=commune,
            token_hash=_hash_token(token),
            created_by=actor.display[:254],
            expires_at=now + TOKEN_VALIDITY,
        )
        audit.record(
            actor,
            "shield.token_issued",
            commune=commune,
            target=f"jeton {record.pk}",
            data={"expires": record.expires_at.isoformat()},
        )
    return IssuedToken(record, token)


def pending_token(commune: Commune) -> EnrolmentToken | None:
    """The commune's token still usable, if any."""
    return EnrolmentToken.objects.filter(
        commune=commune,
        used_at__isnull=True,
        cancelled_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).first()


def enroll(token: str, public_key: str, hostname: str, version: str, ip: str | None = None) -> Box:
    """Register a box with a one-time token; PermissionError for a bad token."""
    try:
        protocol.public_key_from_b64(public_key)
    except protocol.SignatureError as exc:
        raise ValidationError(f"Clé publique refusée : {exc}.") from exc
    hostname = hostname.strip()[:253]
    if not hostname:
        raise ValidationError("Le nom d'hôte du boîtier manque.")
    with transaction.atomic():
        record = (
            EnrolmentToken.objects.select_for_update()
            .select_related("commune")
            .filter(token_hash=_hash_token(token))
            .first()
        )
        now = timezone.now()
        if record is None:
            raise PermissionError("jeton d'enrôlement inconnu")
        if record.used_at is not None:
            raise PermissionError("jeton d'enrôlement déjà utilisé")
        if record.cancelled_at is not None:
            raise PermissionError("jeton d'enrôlement annulé (un autre a été émis)")
        if record.expires_at <= now:
            raise PermissionError("jeton d'enrôlement expiré")
        if Box.objects.filter(public_key=public_key).exists():
            raise ValidationError("Cette clé publique est déjà celle d'un boîtier enrôlé.")
        box = Box.objects.create(
            commune=record.commune,
            hostname=hostname,
            public_key=public_key,
            version=version.strip()[:40],
            last_seen=now,
            last_address=ip,
        )
        record.used_at = now
        record.box = box
        record.save(update_fields=["used_at", "box"])
        audit.record(
            Actor(label=f"boîtier {hostname}", ip=ip),
            "shield.box_enrolled",
            commune=record.commune,
            target=str(box.pk),
            data={"hostname": hostname, "version": box.version, "token": record.pk},
        )
    return box


def revoke_box(actor: Actor, box: Box) -> Box:
    """The box's key stops opening anything at once (its next request gets 401)."""
    with transaction.atomic():
        box = Box.objects.select_for_update().get(pk=box.pk)
        if box.revoked_at is not None:
            raise ValidationError("Ce boîtier est déjà révoqué.")
        box.revoked_at = timezone.now()
        box.save(update_fields=["revoked_at"])
        audit.record(
            actor,
            "shield.box_revoked",
            commune=box.commune,
            target=str(box.pk),
            data={"hostname": box.hostname},
        )
    return box


def authenticate(
    box_id: str, method: str, path: str, timestamp: str, signature: str, body: bytes
) -> Box:
    """The enrolled box that signed this request, or AuthenticationFailed."""
    if not box_id or not timestamp or not signature:
        raise AuthenticationFailed("en-têtes de signature absents")
    try:
        box = Box.objects.select_related("commune").get(pk=box_id)
    except (Box.DoesNotExist, ValidationError, ValueError) as exc:
        raise AuthenticationFailed("boîtier inconnu") from exc
    if box.revoked_at is not None:
        raise AuthenticationFailed("boîtier révoqué")
    try:
        protocol.verify_request(box.public_key, method, path, timestamp, signature, body)
    except protocol.SignatureError as exc:
        raise AuthenticationFailed(str(exc)) from exc
    return box


def touch(box: Box, ip: str | None) -> None:
    Box.objects.filter(pk=box.pk).update(last_seen=timezone.now(), last_address=ip)


def heartbeat(box: Box, data: dict[str, Any], ip: str | None) -> int:
    version = data.get("version", "")
    health = data.get("health", {})
    if not isinstance(version, str) or not isinstance(health, dict):
        raise ValidationError("« version » (texte) et « health » (objet) attendus.")
    if len(protocol.canonical_json(health)) > MAX_HEALTH_BYTES:
        raise ValidationError("« health » trop volumineux.")
    Box.objects.filter(pk=box.pk).update(
        version=version[:40], health=health, last_seen=timezone.now(), last_address=ip
    )
    return box_policy_version(box)


def box_policy_version(box: Box) -> int:
    """The version of the policy `box` would be served now: what its heartbeat answers,
    so that it fetches only when there is something new for it."""
    changed = box.policy_built_from != policy_version()
    return box.policy_version + (1 if changed else 0)


# --- Events ----------------------------------------------------------------------------

EVENT_FIELDS = {
    "seq",
    "kind",
    "at",
    "source",
    "country",
    "scenario",
    "duration",
    "flows",
    "detail",
    "count",
    "last_at",
}
# Looked up once per event: EventKind.values builds a new list on every access.
EVENT_KINDS = frozenset(EventKind.values)


# The columns' ranges: a larger number must be refused here, by name, not fail the
# INSERT (a 500 that the box would retry for ever).
INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1


def _int_field(
    event: dict[str, Any], name: str, seq: object, minimum: int = 0, maximum: int = INT_MAX
) -> int:
    value = event.get(name, minimum)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise BatchRefused(
            f"événement seq={seq} : « {name} » doit être un entier entre {minimum} et {maximum}"
        )
    return value


class _Event(NamedTuple):
    """A checked event, as stored (no model instance: 1,000 a batch)."""

    seq: int
    kind: str
    at: dt.datetime
    source: str
    country: str
    scenario: str
    duration: int
    flows: int
    detail: str
    repeats: int  # the `count` column (a tuple has a count method)
    last_at: dt.datetime | None


def _source(value: object) -> str | None:
    """An address or prefix as stored (bare address for a host), None if it is none:
    IPv4 without an ipaddress object, the common case (a 1,000-event batch)."""
    text = str(value) if value else ""
    interval = prefixes.parse_v4(text) if text.isascii() else None
    if interval is not None and all(p == "0" or p[0] != "0" for p in text.split("/")[0].split(".")):
        first, last = interval
        plen = 33 - (last - first + 1).bit_length()
        return prefixes.cidr_text(first, plen)
    try:
        network = ipaddress.ip_network(text, strict=False) if text else None
    except ValueError:
        return None
    if network is None:
        return None
    return str(network.network_address) if network.num_addresses == 1 else str(network)


def _clean_event(event: object, index: int) -> _Event:
    if not isinstance(event, dict):
        raise BatchRefused(f"événement n°{index + 1} : objet JSON attendu")
    seq = event.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= BIGINT_MAX:
        raise BatchRefused(
            f"événement n°{index + 1} : « seq » entier de 1 à {BIGINT_MAX} attendu (reçu {seq!r})"
        )
    unknown = set(event) - EVENT_FIELDS
    if unknown:
        raise BatchRefused(
            f"événement seq={seq} : champ(s) inconnu(s) {', '.join(sorted(unknown))}"
        )
    kind = event.get("kind")
    if kind not in EVENT_KINDS:
        raise BatchRefused(f"événement seq={seq} : « kind » doit valoir decision ou drops")
    at = _moment(event, "at", seq)
    last_at = _moment(event, "last_at", seq) if event.get("last_at") is not None else None
    if last_at is not None and last_at < at:
        raise BatchRefused(f"événement seq={seq} : « last_at » précède « at »")
    source = _source(event.get("source"))
    if source is None:
        raise BatchRefused(f"événement seq={seq} : « source » n'est pas une adresse IP")
    country = event.get("country", "")
    if not isinstance(country, str) or not (
        country == "" or (len(country) == 2 and country.isascii() and country.isupper())
    ):
        raise BatchRefused(f"événement seq={seq} : « country » doit être un code ISO à 2 lettres")
    scenario = event.get("scenario")
    if scenario not in SCENARIO_LABELS:
        raise BatchRefused(f"événement seq={seq} : scénario « {scenario} » inconnu")
    detail = event.get("detail", "")
    if not isinstance(detail, str):
        raise BatchRefused(f"événement seq={seq} : « detail » doit être un texte")
    return _Event(
        seq,
        kind,
        at,
        source,
        country,
        str(scenario),
        _int_field(event, "duration", seq),
        _int_field(event, "flows", seq, maximum=BIGINT_MAX),
        detail.replace("\x00", "")[:500],  # PostgreSQL's text holds no NUL
        _int_field(event, "count", seq, minimum=1),
        last_at,
    )


def _moment(event: dict[str, Any], name: str, seq: object) -> dt.datetime:
    value = event.get(name)
    moment: dt.datetime | None = None
    if isinstance(value, str):
        try:  # the standard library's parser first: several times faster
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            try:
                moment = parse_datetime(value)
            except ValueError:  # well formed but no such date
                moment = None
    if moment is None or moment.tzinfo is None:
        raise BatchRefused(
            f"événement seq={seq} : « {name} » doit être une date ISO 8601 avec fuseau"
        )
    return moment


@dataclass
class BatchResult:
    accepted: int
    duplicates: int
    last_seq: int
    collective: list[str] = field(default_factory=list)


EVENT_COLUMNS = (
    "box_id",
    "commune_id",
    *_Event._fields[:-2],
    "count",
    "last_at",
    "received_at",
)
# Rows per INSERT statement: 500 × 14 values stays under every SQLite build's limit.
EVENT_ROWS_PER_INSERT = 500


def receive_events(box: Box, events: object) -> BatchResult:
    """Store a batch exactly once per (box, seq), all or nothing.

    The database's unique constraint decides what is new: one multi-row INSERT … ON
    CONFLICT DO NOTHING RETURNING per 500 events (no lookup of the seqs first, no model
    instance per event: 0.5× plain inserts before, issue 14). The box row is locked for
    the batch, so two overlapping batches of the same box are counted one after the other.
    """
    if not isinstance(events, list):
        raise BatchRefused("« events » doit être une liste")
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise BatchRefused(
            f"au plus {MAX_EVENTS_PER_BATCH} événements par lot ({len(events)} reçus)"
        )
    cleaned = [_clean_event(event, index) for index, event in enumerate(events)]
    seqs = [e.seq for e in cleaned]
    if len(set(seqs)) != len(seqs):
        twice = sorted({s for s in seqs if seqs.count(s) > 1})
        raise BatchRefused(f"événement seq={twice[0]} : présent deux fois dans le lot")
    with transaction.atomic():
        locked = Box.objects.select_for_update().get(pk=box.pk)
        stored = _insert_events(locked, cleaned)
        new = [e for e in cleaned if e.seq in stored]
        last = max(seqs, default=locked.last_seq)
        if stored and max(stored) > locked.last_seq:
            locked.last_seq = max(stored)
            locked.save(update_fields=["last_seq"])
        touched = _collective_from(new, locked)
        if touched:
            bump_policy()
    return BatchResult(
        len(new),
        len(cleaned) - len(new),
        last,
        [entry.source for entry, created in touched if created],
    )


# PostgreSQL: the whole batch as one JSON array of rows, one parameter that the server
# takes apart (json_array_elements, in C). An array per column cost more than the insert
# itself: psycopg quotes every element of a text array through a regular expression, in
# Python (0.60× plain inserts, issue 14); json.dumps is C.
EVENT_PG_ROW = (
    "(r->>0)::bigint, r->>1, (r->>2)::timestamptz, r->>3, r->>4, r->>5, "
    "(r->>6)::integer, (r->>7)::bigint, r->>8, (r->>9)::integer, (r->>10)::timestamptz"
)


def _insert_events(box: Box, events: list[_Event]) -> set[int]:
    """Inserts the events the database does not hold yet; their seqs."""
    table = connection.ops.quote_name(ShieldEvent._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in EVENT_COLUMNS)
    box_id = Box._meta.pk.get_db_prep_value(box.pk, connection)  # type: ignore[union-attr]
    now = _db_time(timezone.now())
    stored: set[int] = set()
    if not events:
        return stored
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            import psycopg  # the backend's own driver

            rows = json.dumps(
                [
                    (*e[:2], e.at.isoformat(), *e[3:10], e.last_at and e.last_at.isoformat())
                    for e in events
                ]
            )
            # psycopg's own cursor, same connection and transaction, its parameters sent
            # apart (Django's would quote the 200 kB document into the statement's text).
            with psycopg.Cursor(connection.connection) as bound:
                bound.execute(
                    f"INSERT INTO {table} ({names}) SELECT %s::uuid, %s::bigint, "  # noqa: S608 — model names
                    f"{EVENT_PG_ROW}, %s::timestamptz FROM json_array_elements(%s::json) r "
                    "ON CONFLICT (box_id, seq) DO NOTHING RETURNING seq",
                    [box_id, box.commune_id, now, rows],
                )
                return {row[0] for row in bound.fetchall()}
        for start in range(0, len(events), EVENT_ROWS_PER_INSERT):
            chunk = events[start : start + EVENT_ROWS_PER_INSERT]
            marks = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
            values: list[Any] = []
            for e in chunk:
                values += [box_id, box.commune_id, *e[:2], _db_time(e.at), *e[3:10]]
                values += [_db_time(e.last_at) if e.last_at else None, now]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([marks] * len(chunk))} "  # noqa: S608 — model names
                "ON CONFLICT (box_id, seq) DO NOTHING RETURNING seq",
                values,
            )
            stored.update(row[0] for row in cursor.fetchall())
    return stored


def _db_time(moment: dt.datetime) -> Any:
    """A datetime as the backend stores it (SQLite: text in UTC)."""
    return connection.ops.adapt_datetimefield_value(moment)


# --- Collective defence ----------------------------------------------------------------


def collective_expiry() -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=settings.SHIELD_COLLECTIVE_HOURS)


def _collective_from(events: list[_Event], box: Box) -> list[tuple[BlockEntry, bool]]:
    """Decisions of an attack scenario put their sources in the département's list."""
    allowed = department_allowlist()
    reasons: dict[str, str] = {}
    for event in events:
        if event.kind != EventKind.DECISION or event.scenario not in ATTACK_SCENARIOS:
            continue
        network = ipaddress.ip_network(event.source, strict=False)
        if is_local(network) or network.prefixlen < MIN_COLLECTIVE_PREFIX[network.version]:
            continue
        if overlapping(network, allowed) is None:
            label = SCENARIO_LABELS[event.scenario]
            reasons.setdefault(str(network), f"{label} signalé par un boîtier du département")
    if not reasons:
        return []
    return upsert_blocks(
        Actor(label=f"boîtier {box.hostname}"),
        "collective",
        reasons,
        reported_by=box,
        origin_commune=box.commune,
    )


def upsert_block(
    actor: Actor,
    source: str,
    scenario: str,
    reason: str,
    *,
    origin_commune: Commune | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[BlockEntry, bool]:
    """Add or extend one entry of the collective list (see `upsert_blocks`)."""
    return upsert_blocks(
        actor, scenario, {source: reason}, origin_commune=origin_commune, expires_at=expires_at
    )[0]


def upsert_blocks(
    actor: Actor,
    scenario: str,
    reasons: dict[str, str],
    *,
    reported_by: Box | None = None,
    origin_commune: Commune | None = None,
    expires_at: dt.datetime | None = None,
) -> list[tuple[BlockEntry, bool]]:
    """Add or extend entries of the collective list (source → reason); True when new.

    New entries are audited (they reach every box), as is an expired one that comes
    back; repeated reports extend the expiry. The caller bumps the policy version.
    """
    expires_at = expires_at or collective_expiry()
    now = timezone.now()
    result = []
    with transaction.atomic():
        known = {
            entry.source: entry
            for entry in BlockEntry.objects.select_for_update().filter(
                feed__isnull=True, scenario=scenario, source__in=list(reasons)
            )
        }
        for entry in known.values():
            lapsed = entry.expires_at is not None and entry.expires_at <= now
            if entry.expires_at is not None:  # a permanent entry stays permanent
                entry.expires_at = max(entry.expires_at, expires_at)
            entry.reports += 1
            result.append((entry, lapsed))
        BlockEntry.objects.bulk_update(known.values(), ["expires_at", "reports"])
        missing = [source for source in reasons if source not in known]
        # Another box's batch may add the same source at the same moment (PostgreSQL):
        # its row stands, this batch still succeeds.
        BlockEntry.objects.bulk_create(
            (
                BlockEntry(
                    source=source,
                    scenario=scenario,
                    reason=reasons[source][:300],
                    reported_by=reported_by,
                    origin_commune=origin_commune,
                    expires_at=expires_at,
                )
                for source in missing
            ),
            ignore_conflicts=True,
        )
        result += [
            (entry, True)
            for entry in BlockEntry.objects.filter(
                feed__isnull=True, scenario=scenario, source__in=missing
            )
        ]
        for entry, new in result:
            if new:
                audit.record(
                    actor,
                    "shield.collective_block",
                    commune=origin_commune,
                    target=entry.source,
                    data={"scenario": scenario, "expires": expires_at.isoformat()},
                )
    order = {source: index for index, source in enumerate(reasons)}
    return sorted(result, key=lambda pair: order[pair[0].source])


def add_manual_block(actor: Actor, prefix: str, reason: str, hours: int | None) -> BlockEntry:
    try:
        network = parse_prefix(prefix)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    touching = allowlisted(network)
    if touching is not None:
        raise ValidationError(f"{network} touche la liste d'autorisation ({touching}) : refusé.")
    expires = timezone.now() + dt.timedelta(hours=hours) if hours else None
    with transaction.atomic():
        entry = BlockEntry.objects.filter(feed__isnull=True, scenario="manual", source=str(network))
        if entry.exists():
            raise ValidationError(f"{network} est déjà bloqué manuellement.")
        created = BlockEntry.objects.create(
            source=str(network), scenario="manual", reason=reason[:300], expires_at=expires
        )
        audit.record(actor, "shield.manual_block", target=str(network), data={"reason": reason})
        bump_policy()
    return created


def remove_block(actor: Actor, entry: BlockEntry) -> None:
    with transaction.atomic():
        audit.record(
            actor, "shield.block_removed", target=entry.source, data={"scenario": entry.scenario}
        )
        entry.delete()
        bump_policy()


def active_blocks() -> QuerySet[BlockEntry]:
    now = timezone.now()
    return BlockEntry.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def purge_expired() -> int:
    """Expired collective entries go (the boxes already let them lapse by their timeout)."""
    deleted, _ = BlockEntry.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


# --- Policy ----------------------------------------------------------------------------


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
        "sinkhole_domains": list(SinkholeDomain.objects.values_list("domain", flat=True)),
        "scenarios": DETECTOR_PARAMETERS,
    }


_bulk_cache: dict[tuple[Any, ...], list[str]] = {}


def _bulk_list(version: int) -> list[str]:
    """The union of the blocklist feeds, sorted (shared by every box for a version)."""
    key = _fingerprint(version)
    cached = _bulk_cache.get(key)
    if cached is None:
        rows = BlockEntry.objects.filter(feed__purpose=FeedPurpose.BLOCKLIST)
        cached = sorted(set(rows.values_list("source", flat=True)))
        _bulk_cache.clear()
        _bulk_cache[key] = cached
    return cached


def feed_part(version: int, since: int) -> dict[str, Any]:
    """The boxes' bulk list as of `version`, for a box that holds it as of `since`: the
    changes in between (`add`/`remove`, the last change of a prefix wins) when the
    journal covers them, else the whole list (`full`: first contact, a gap, a restored
    central). Not filtered by any allowlist: the box drops what its allowlist protects,
    so that an entry comes back when its allowlisting is lifted."""
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
    return {"version": version, "full": _bulk_list(version)}


def box_policy(box: Box, feed_since: int | None = None) -> dict[str, Any]:
    """The policy for one box, bound to it: its id and its own version inside the signed
    payload, so that a policy signed for another box, or an older one replayed, is
    refused by the box (clocher_box.agent.Agent.check_policy). The box's counter goes
    up when the central's policy changed since the last one this box was served; the
    row stays locked meanwhile, so two fetches never share a version with different
    contents."""
    with transaction.atomic():
        locked = Box.objects.select_for_update().select_related("commune").get(pk=box.pk)
        policy = build_policy(locked.commune, bulk_apart=feed_since is not None)
        if locked.policy_built_from != policy["version"]:
            locked.policy_version += 1
            locked.policy_built_from = policy["version"]
            locked.save(update_fields=["policy_version", "policy_built_from"])
        if feed_since is not None:
            policy["feed"] = feed_part(policy["version"], feed_since)
            if locked.feed_version != feed_since:  # what it holds: feeds.prune_journal
                locked.feed_version = feed_since
                locked.save(update_fields=["feed_version"])
    policy["version"] = locked.policy_version
    policy["box"] = str(locked.pk)
    return policy


def signed_policy(box: Box, feed_since: int | None = None) -> dict[str, str]:
    """Signed for `box`; `feed_since` (the version of the bulk list the box holds, 0 for
    none) asks for the bulk list apart, as a delta when possible."""
    return protocol.sign_envelope(signing_key(), box_policy(box, feed_since))


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


# --- Fleet -----------------------------------------------------------------------------


def is_online(box: Box, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return box.last_seen is not None and now - box.last_seen <= OFFLINE_AFTER


def local_day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def flows_between(boxes: QuerySet[Box], since: dt.datetime, until: dt.datetime) -> dict[Any, int]:
    """Flows each box dropped in [since, until) (its 'drops' events)."""
    rows = (
        ShieldEvent.objects.filter(box__in=boxes, kind=EventKind.DROPS, at__gte=since, at__lt=until)
        .values("box_id")
        .annotate(total=Sum("flows"))
    )
    return {row["box_id"]: row["total"] or 0 for row in rows}


@dataclass
class FleetRow:
    box: Box
    online: bool
    flows_today: int


@dataclass
class Alert:
    box: Box
    message: str
    kind: str = "silent"  # or "spike"


# A box's drops today above both figures is an attack spike.
SPIKE_MIN_FLOWS = 1000
SPIKE_FACTOR = 5


def fleet(boxes: QuerySet[Box]) -> tuple[list[FleetRow], list[Alert]]:
    """The boxes with their state, and the alerts: silent > 1 h, or an attack spike
    (today's drops above SPIKE_MIN_FLOWS and SPIKE_FACTOR times the daily mean of the
    seven days before)."""
    now = timezone.now()
    today = local_day_start(timezone.localdate())
    week_start = today - dt.timedelta(days=7)
    boxes = boxes.select_related("commune")
    today_flows = flows_between(boxes, today, today + dt.timedelta(days=1))
    week_flows = flows_between(boxes, week_start, today)
    rows, alerts = [], []
    for box in boxes:
        online = is_online(box, now)
        flows = today_flows.get(box.pk, 0)
        rows.append(FleetRow(box, online, flows))
        if box.revoked:
            continue
        if not online:
            since = box.last_seen.strftime("%d/%m/%Y %H:%M") if box.last_seen else "jamais"
            alerts.append(
                Alert(
                    box, f"silencieux depuis plus d'une heure (dernier contact : {since})", "silent"
                )
            )
        baseline = week_flows.get(box.pk, 0) / 7
        if flows >= SPIKE_MIN_FLOWS and flows > SPIKE_FACTOR * baseline:
            alerts.append(
                Alert(
                    box,
                    f"pic d'attaque : {flows} flux bloqués aujourd'hui "
                    f"(moyenne {baseline:.0f}/jour)",
                    "spike",
                )
            )
    return rows, alerts


def send_alerts(now: dt.datetime | None = None) -> list[Alert]:
    """Mail the operator each new alert once: a box that went silent (again after it
    came back), an attack spike (once a day per box)."""
    from django.core.mail import send_mail

    now = now or timezone.now()
    today = timezone.localdate(now)
    _, alerts = fleet(Box.objects.filter(revoked_at__isnull=True))
    fresh = []
    for alert in alerts:
        box = alert.box
        if alert.kind == "silent":
            if box.silence_alerted_at is not None and (
                box.last_seen is None or box.silence_alerted_at > box.last_seen
            ):
                continue  # this silence was already told
            Box.objects.filter(pk=box.pk).update(silence_alerted_at=now)
        else:
            if box.spike_alerted_on == today:
                continue
            Box.objects.filter(pk=box.pk).update(spike_alerted_on=today)
        fresh.append(alert)
    operator = scoping.get_operator()
    if fresh and operator is not None and operator.contact_email:
        lines = [f"- {a.box.hostname} ({a.box.commune.name}) : {a.message}" for a in fresh]
        body = "Alertes des boîtiers de sécurité :\n\n" + "\n".join(lines) + "\n"
        subject = f"Bouclier : {len(fresh)} alerte(s)"
        send_mail(subject, body, None, [operator.contact_email], fail_silently=True)
    return fresh
