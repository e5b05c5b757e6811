"""The tenancy model: one Operator (the département), many Communes, Memberships.

Every tenant-owned row in the other apps has a `commune` foreign key; queries serving a
user go through `clocher.core.scoping`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clocher.core.validators import validate_insee_format, validate_siren

GIB = 1024**3


class Operator(models.Model):
    """The département's digital team: exactly one per installation."""

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    name = models.CharField("nom", max_length=200)
    mail_domain = models.CharField("domaine de messagerie partagé", max_length=253)
    contact_email = models.EmailField("contact", blank=True)
    department_code = models.CharField("code du département", max_length=3, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "opérateur"
        constraints = [
            models.CheckConstraint(condition=Q(singleton=1), name="operator_singleton"),
        ]

    def __str__(self) -> str:
        return self.name


class CommuneStatus(models.TextChoices):
    PROSPECT = "prospect", "Prospect"
    APPLIED = "applied", "Demande d'adhésion"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspendue"
    LEFT = "left", "Partie"


class ImportStatus(models.TextChoices):
    """Where a background import stands (mail import, vault document import): one enum so
    that pages, CLI and API say the same words; STOPPED is a run cut short by a quota."""

    QUEUED = "queued", "En attente"
    RUNNING = "running", "En cours"
    DONE = "done", "Terminé"
    STOPPED = "stopped", "Arrêté : quota atteint"
    FAILED = "failed", "Refusé"


class Commune(models.Model):
    """A tenant: commune (or syndicat, EPCI) identified by its INSEE code."""

    insee = models.CharField(
        "code INSEE", max_length=5, unique=True, validators=[validate_insee_format]
    )
    siren = models.CharField(
        "SIREN", max_length=9, blank=True, null=True, unique=True, validators=[validate_siren]
    )
    name = models.CharField("nom", max_length=200)
    slug = models.SlugField("identifiant", max_length=80, unique=True)
    department_code = models.CharField("département", max_length=3, blank=True)
    population = models.PositiveIntegerField("population", null=True, blank=True)
    townhall_address = models.TextField("adresse de la mairie", blank=True)
    townhall_email = models.EmailField("courriel actuel de la mairie", blank=True)
    status = models.CharField(
        "statut", max_length=12, choices=CommuneStatus.choices, default=CommuneStatus.APPLIED
    )
    quota_storage_bytes = models.PositiveBigIntegerField("quota de stockage", default=50 * GIB)
    quota_mailboxes = models.PositiveIntegerField("quota de boîtes aux lettres", default=50)
    quota_members = models.PositiveIntegerField("quota de membres", default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CommuneStatus.values), name="commune_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.insee})"


class Role(models.TextChoices):
    OPERATOR_ADMIN = "operator_admin", "Administrateur opérateur"
    OPERATOR_SUPPORT = "operator_support", "Support opérateur"
    # Gives the visa before a commune's expired archives are destroyed (archive app).
    OPERATOR_ARCHIVIST = "operator_archivist", "Archiviste opérateur"
    COMMUNE_ADMIN = "commune_admin", "Administrateur de la commune"
    AGENT = "agent", "Agent"
    ELECTED = "elected", "Élu"


OPERATOR_ROLES = (Role.OPERATOR_ADMIN, Role.OPERATOR_SUPPORT, Role.OPERATOR_ARCHIVIST)
COMMUNE_ROLES = (Role.COMMUNE_ADMIN, Role.AGENT, Role.ELECTED)


class Membership(models.Model):
    """A user's role at the operator (commune empty) or in one commune.

    A person may belong to several communes: a secretary often serves several.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    role = models.CharField("rôle", max_length=20, choices=Role.choices)
    title = models.CharField("fonction", max_length=120, blank=True)
    is_active = models.BooleanField("actif", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(commune__isnull=True, role__in=[r.value for r in OPERATOR_ROLES])
                    | Q(commune__isnull=False, role__in=[r.value for r in COMMUNE_ROLES])
                ),
                name="membership_role_matches_scope",
            ),
            models.UniqueConstraint(
                fields=["user", "commune"],
                condition=Q(commune__isnull=False),
                name="membership_one_per_commune",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(commune__isnull=True),
                name="membership_one_operator_role",
            ),
        ]

    def __str__(self) -> str:
        where = self.commune.name if self.commune is not None else "opérateur"
        return f"{self.user} — {self.get_role_display()} ({where})"

    @property
    def is_operator(self) -> bool:
        return self.role in OPERATOR_ROLES


class AuditEntry(models.Model):
    """One entry of the hash-chained audit journal.

    `hash` is the SHA-256 over the canonical encoding of the entry, which includes the
    previous entry's hash: editing or deleting any entry breaks the chain from there on.
    Actor and commune are also kept as text so that the chain survives their deletion.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    actor_label = models.CharField(max_length=254)
    # No index of its own: (commune, -seq) below serves lookups by commune.
    commune = models.ForeignKey(
        Commune, on_delete=models.SET_NULL, null=True, blank=True, db_index=False
    )
    commune_insee = models.CharField(max_length=5, blank=True)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=254, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["commune", "-seq"]),
            models.Index(fields=["action"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target}"
