"""The shield at the central: enrolled boxes, their events, the collective lists.

Invariants live in the database: one event per (box, sequence) whatever the retries,
one use per enrolment token, one row per listed prefix and origin.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from clocher.core.models import Commune

# The scenarios of docs/shield.md (what decided a block).
SCENARIOS = [
    ("blocklist", "Liste de blocage"),
    ("port-scan", "Balayage de ports"),
    ("ssh-bruteforce", "Force brute SSH"),
    ("mail-bruteforce", "Force brute messagerie"),
    ("c2-outbound", "Connexion vers un serveur de commande"),
    ("dns-sinkhole", "Domaine malveillant"),
    ("country-policy", "Pays bloqué"),
    ("collective", "Défense collective"),
    ("manual", "Blocage manuel"),
    ("port-block", "Port fermé par le boîtier"),
]
SCENARIO_LABELS = dict(SCENARIOS)


class Box(models.Model):
    """A security box at a town hall, known by its Ed25519 public key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="boxes")
    hostname = models.CharField("nom d'hôte", max_length=253)
    public_key = models.CharField("clé publique", max_length=64, unique=True)
    version = models.CharField("version", max_length=40, blank=True)
    enrolled_at = models.DateTimeField("enrôlé le", auto_now_add=True)
    last_seen = models.DateTimeField("dernier contact", null=True, blank=True)
    last_address = models.GenericIPAddressField("dernière adresse", null=True, blank=True)
    health = models.JSONField("état", default=dict, blank=True)
    last_seq = models.PositiveBigIntegerField("dernier événement reçu", default=0)
    revoked_at = models.DateTimeField("révoqué le", null=True, blank=True)
    # When the operator was last told, so that each alert is mailed once.
    silence_alerted_at = models.DateTimeField(null=True, blank=True)
    spike_alerted_on = models.DateField(null=True, blank=True)
    # This box's policy counter: every policy it is served carries its id and this
    # version, bumped when the central's policy changed since the last one it was served
    # (`policy_built_from`); the box refuses a version not above the one it applied.
    policy_version = models.PositiveBigIntegerField("version de politique", default=0)
    policy_built_from = models.PositiveBigIntegerField(default=0, editable=False)
    # The version of the bulk list this box said it holds at its last policy fetch
    # (`?feed=N`, 0: none): the journal keeps the changes above the oldest of them.
    feed_version = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["commune__name", "hostname"]
        verbose_name = "boîtier"

    def __str__(self) -> str:
        return f"{self.hostname} ({self.commune.name})"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class EnrolmentToken(models.Model):
    """A one-time token for a commune's box; only its SHA-256 is kept."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="box_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=254)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    box = models.OneToOneField(
        Box, on_delete=models.SET_NULL, null=True, blank=True, related_name="token"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="token_expires_after"
            ),
            models.CheckConstraint(
                condition=Q(used_at__isnull=True) | Q(cancelled_at__isnull=True),
                name="token_used_or_cancelled",
            ),
        ]

    def __str__(self) -> str:
        return f"Jeton de {self.commune.name} ({self.created_at:%Y-%m-%d})"


class EventKind(models.TextChoices):
    DECISION = "decision", "Blocage décidé"
    DROPS = "drops", "Flux bloqués"


class ShieldEvent(models.Model):
    """One event a box reported: stored once per (box, seq)."""

    box = models.ForeignKey(Box, on_delete=models.PROTECT, related_name="events")
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="shield_events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    at = models.DateTimeField()
    source = models.CharField(max_length=49)
    country = models.CharField(max_length=2, blank=True)
    scenario = models.CharField(max_length=20, choices=SCENARIOS)
    duration = models.PositiveIntegerField(default=0)
    flows = models.PositiveBigIntegerField(default=0)
    detail = models.CharField(max_length=500, blank=True)
    # A box aggregates repeats of one event (same kind, source, scenario, detail): `count`
    # events, the first at `at`, the last at `last_at`; `flows` is already their sum.
    count = models.PositiveIntegerField("nombre d'événements", default=1)
    last_at = models.DateTimeField("dernier vu", null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(fields=["box", "seq"], name="event_once_per_box_seq"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="event_seq_positive"),
            models.CheckConstraint(condition=Q(count__gte=1), name="event_count_positive"),
            models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="event_kind_valid"),
            models.CheckConstraint(
                condition=Q(scenario__in=[s for s, _ in SCENARIOS]), name="event_scenario_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["commune", "at"]),
            models.Index(fields=["at"]),
            models.Index(fields=["box", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.box_id}#{self.seq} {self.scenario} {self.source}"


class FeedKind(models.TextChoices):
    FILE = "file", "Fichier"
    URL = "url", "Adresse web"


class FeedPurpose(models.TextChoices):
    BLOCKLIST = "blocklist", "Sources à bloquer"
    C2 = "c2", "Serveurs de commande (sortant)"


class Feed(models.Model):
    """A threat-intelligence list imported from a file or a URL (département-wide)."""

    name = models.SlugField("nom", max_length=60, unique=True)
    kind = models.CharField(max_length=4, choices=FeedKind.choices)
    purpose = models.CharField(
        max_length=10, choices=FeedPurpose.choices, default=FeedPurpose.BLOCKLIST
    )
    location = models.CharField("origine", max_length=500)
    last_import_at = models.DateTimeField(null=True, blank=True)
    entries_count = models.PositiveIntegerField(default=0)
    malformed_count = models.PositiveIntegerField(default=0)
    refused_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=FeedKind.values), name="feed_kind_valid"),
            models.CheckConstraint(
                condition=Q(purpose__in=FeedPurpose.values), name="feed_purpose_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BlockEntry(models.Model):
    """One prefix of the département's collective lists.

    From a feed (`feed` set), from a box that was attacked (`collective`, with the box
    and commune that reported it), from the central's own detectors
    (`mail-bruteforce`), or added by the operator (`manual`).
    """

    source = models.CharField("préfixe", max_length=49)
    scenario = models.CharField(max_length=20, choices=SCENARIOS)
    # No index of its own: `entry_once_per_feed` (feed, source) serves the lookups by feed.
    feed = models.ForeignKey(
        Feed,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="entries",
        db_index=False,
    )
    reported_by = models.ForeignKey(
        Box, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    origin_commune = models.ForeignKey(
        Commune, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    reason = models.CharField(max_length=300, blank=True)
    reports = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["feed", "source"],
                condition=Q(feed__isnull=False),
                name="entry_once_per_feed",
            ),
            models.UniqueConstraint(
                fields=["scenario", "source"],
                condition=Q(feed__isnull=True),
                name="entry_once_per_scenario",
            ),
            models.CheckConstraint(
                condition=Q(feed__isnull=False) | ~Q(scenario="blocklist"),
                name="entry_blocklist_has_feed",
            ),
        ]
        # Partial: a feed's entries (nearly all rows) have no expiry, reporter or origin,
        # and a bulk import of 100,000 writes no index entry for them (PostgreSQL: 0.24 s
        # of the server's 0.59 s COPY). Queries on these columns name a value, which
        # implies NOT NULL (expiry purge, the SET_NULL of a deleted box or commune).
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(expires_at__isnull=False), name="entry_expires"
            ),
            models.Index(
                fields=["reported_by"],
                condition=Q(reported_by__isnull=False),
                name="entry_reported_by",
            ),
            models.Index(
                fields=["origin_commune"],
                condition=Q(origin_commune__isnull=False),
                name="entry_origin_commune",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} ({self.scenario})"


class AllowEntry(models.Model):
    """A prefix nothing may block: département-wide (no commune) or for one commune."""

    prefix = models.CharField("préfixe", max_length=49)
    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="allowlist"
    )
    reason = models.CharField("motif", max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=254)

    class Meta:
        ordering = ["prefix"]
        constraints = [
            models.UniqueConstraint(
                fields=["prefix"], condition=Q(commune__isnull=True), name="allow_once_department"
            ),
            models.UniqueConstraint(
                fields=["prefix", "commune"],
                condition=Q(commune__isnull=False),
                name="allow_once_per_commune",
            ),
        ]

    def __str__(self) -> str:
        return self.prefix


class CountryPolicy(models.Model):
    """A country whose inbound traffic a commune's boxes drop."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="blocked_countries")
    country = models.CharField("pays (ISO 3166)", max_length=2)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["country"]
        constraints = [
            models.UniqueConstraint(fields=["commune", "country"], name="country_once_per_commune"),
            models.CheckConstraint(
                condition=Q(country__regex=r"^[A-Z]{2}$"), name="country_code_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.commune.insee} {self.country}"


class SinkholeDomain(models.Model):
    """A malicious or phishing domain the boxes' resolvers answer with the sinkhole."""

    domain = models.CharField("domaine", max_length=253, unique=True)
    reason = models.CharField("motif", max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class CentralKey(models.Model):
    """The fingerprint of the central's signing key, recorded at its first use: every web
    node must sign with this key (boxes trust only it), so one with another is refused."""

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    fingerprint = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(singleton=1), name="central_key_singleton"),
        ]

    def __str__(self) -> str:
        return f"clé centrale {self.fingerprint[:16]}"


class PolicyVersion(models.Model):
    """The policy counter: bumped by every change a box must fetch."""

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    version = models.PositiveBigIntegerField(default=1)
    changed_at = models.DateTimeField(auto_now=True)
    # The journal of FeedChange rows is complete above this version: a box whose list is
    # older (or from before the journal) gets the whole list.
    feed_floor = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(singleton=1), name="policy_version_singleton"),
        ]

    def __str__(self) -> str:
        return f"politique v{self.version}"


class FeedChange(models.Model):
    """One change of the boxes' bulk list (the union of the blocklist feeds), journalled
    under the policy version that made it: a box that holds the list as of version S is
    sent the changes above S instead of the whole list (docs/shield.md, "Deltas")."""

    version = models.PositiveBigIntegerField()
    source = models.CharField("préfixe", max_length=49)
    added = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["version"])]

    def __str__(self) -> str:
        return f"v{self.version} {'+' if self.added else '-'}{self.source}"


class PortProto(models.TextChoices):
    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"


class PortRule(models.Model):
    """An inbound port a commune's boxes close (e.g. RDP 3389 found open by the
    e-services audit): dropped from every source but `allow`, each drop counted and
    reported as a `port-block` event (docs/shield.md, « Ports fermés »)."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="port_rules")
    proto = models.CharField("protocole", max_length=3, choices=PortProto.choices)
    port = models.PositiveIntegerField("port")
    # Prefixes still let through (a provider's remote access), space-separated CIDRs.
    allow = models.CharField("sources autorisées", max_length=500, blank=True)
    reason = models.CharField("motif", max_length=300)
    # What asked for it: the e-services finding (« e-services : … ») or a person.
    origin = models.CharField("origine", max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=254)

    class Meta:
        ordering = ["commune", "port", "proto"]
        verbose_name = "port fermé"
        constraints = [
            models.UniqueConstraint(
                fields=["commune", "proto", "port"], name="port_rule_once_per_commune"
            ),
            models.CheckConstraint(
                condition=Q(proto__in=PortProto.values), name="port_rule_proto_valid"
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535), name="port_rule_port_range"
            ),
        ]

    def __str__(self) -> str:
        return f"port {self.port}/{self.proto}"

    @property
    def allowed(self) -> list[str]:
        return self.allow.split()

    @property
    def key(self) -> str:
        """How a box names it in its health (`3389/tcp`)."""
        return f"{self.port}/{self.proto}"
