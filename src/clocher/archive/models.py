"""Probative archive: retention rules, sealed objects, the hash-chained journal, its
time-stamped Merkle seals, and elimination proposals.

Sealed rows are protected twice: the models refuse to change or delete them, and
database triggers (migration 0002) refuse UPDATE of sealed columns, DELETE of objects,
and any UPDATE/DELETE of the journal, whatever interface or raw SQL is used.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from clocher.core.models import Commune


class FinalFate(models.TextChoices):
    KEEP = "keep", "Conservation définitive"
    DESTROY = "destroy", "Destruction"
    SORT = "sort", "Tri (sélection par les Archives départementales)"


class RetentionRule(models.Model):
    """A line of the retention table: kind of document → retention period (DUA) and
    final fate. `years` empty means the administrative use never ends (keep for ever)."""

    code = models.SlugField("code", max_length=60, unique=True)
    label = models.CharField("type de document", max_length=200)
    years = models.PositiveSmallIntegerField("durée d'utilité administrative (ans)", null=True)
    starts_from = models.CharField("point de départ", max_length=120, default="date de l'acte")
    final_fate = models.CharField("sort final", max_length=8, choices=FinalFate.choices)
    source = models.CharField("référence", max_length=300, blank=True)
    builtin = models.BooleanField("table intégrée", default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label"]
        verbose_name = "règle de conservation"
        constraints = [
            models.CheckConstraint(
                condition=Q(final_fate__in=FinalFate.values), name="retention_fate_valid"
            ),
            models.CheckConstraint(
                condition=Q(years__isnull=False) | Q(final_fate=FinalFate.KEEP),
                name="retention_forever_means_keep",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def duration_label(self) -> str:
        return "illimitée" if self.years is None else f"{self.years} ans"


class ObjectState(models.TextChoices):
    SEALED = "sealed", "Scellé"
    ELIMINATED = "eliminated", "Éliminé"


# Columns fixed once sealed (the triggers of migration 0002 list the same).
SEALED_FIELDS = (
    "commune_id",
    "title",
    "kind",
    "act_date",
    "author",
    "filename",
    "sha256",
    "sha512",
    "size",
    "puid",
    "blob_key",
    "timestamp_token",
    "timestamp_at",
    "deposited_at",
)


class ArchivedObject(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="archives")
    title = models.CharField("intitulé", max_length=300)
    kind = models.CharField("nature de l'acte", max_length=200)
    act_date = models.DateField("date de l'acte")
    author = models.CharField("auteur", max_length=200)
    filename = models.CharField("nom du fichier", max_length=255)
    retention_rule = models.ForeignKey(
        RetentionRule,
        on_delete=models.PROTECT,
        related_name="archived_objects",
        verbose_name="règle",
    )
    retention_end = models.DateField("fin de la durée de conservation", null=True, blank=True)
    final_fate = models.CharField("sort final", max_length=8, choices=FinalFate.choices)
    sha256 = models.CharField(max_length=64)
    sha512 = models.CharField(max_length=128)
    size = models.PositiveBigIntegerField("taille")
    puid = models.CharField("identifiant PRONOM", max_length=40, blank=True)
    format_name = models.CharField("format", max_length=200, blank=True)
    long_term_fit = models.BooleanField("format pérenne", default=False)
    blob_key = models.CharField(max_length=120)
    source = models.CharField("origine", max_length=300, blank=True)
    timestamp_token = models.BinaryField("jeton d'horodatage (TimeStampResp)")
    timestamp_at = models.DateTimeField("horodaté le")
    tsa_name = models.CharField("autorité d'horodatage", max_length=200)
    tsa_qualified = models.BooleanField("horodatage qualifié", default=False)
    deposited_at = models.DateTimeField("déposé le")
    deposited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    deposited_by_label = models.CharField("déposé par", max_length=254)
    state = models.CharField(max_length=12, choices=ObjectState.choices, default="sealed")
    eliminated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-deposited_at", "-id"]
        indexes = [models.Index(fields=["commune", "-deposited_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(final_fate__in=FinalFate.values), name="archive_fate_valid"
            ),
            models.CheckConstraint(
                condition=Q(state__in=ObjectState.values), name="archive_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(retention_end__isnull=False) | Q(final_fate=FinalFate.KEEP),
                name="archive_forever_means_keep",
            ),
            models.CheckConstraint(
                condition=Q(state=ObjectState.SEALED, eliminated_at__isnull=True)
                | Q(
                    state=ObjectState.ELIMINATED,
                    eliminated_at__isnull=False,
                    retention_end__isnull=False,
                )
                & ~Q(final_fate=FinalFate.KEEP),
                name="archive_elimination_consistent",
            ),
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sealed_values = {f: self.__dict__.get(f) for f in SEALED_FIELDS}

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Sealed columns never change once written (the trigger says it again)."""
        if self.pk is not None and not self._state.adding:
            changed = [f for f in SEALED_FIELDS if self.__dict__.get(f) != self._sealed_values[f]]
            if changed:
                raise ValidationError(
                    f"Objet archivé scellé : modification refusée ({', '.join(changed)})."
                )
        super().save(*args, **kwargs)
        self._sealed_values = {f: self.__dict__.get(f) for f in SEALED_FIELDS}

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError(
            "Un objet archivé n'est jamais supprimé : après sa durée de conservation, "
            "il est éliminé (proposition puis visa) et sa notice reste."
        )

    @property
    def reference(self) -> str:
        return f"ARC-{self.commune.insee}-{self.pk:06d}"


class JournalEntry(models.Model):
    """One archive event. `hash` = SHA-256 of the canonical JSON of the entry, which
    contains `prev_hash`: the entries form a chain; editing or deleting one breaks it."""

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    event = models.CharField(max_length=32)
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, null=True, related_name="+")
    commune_insee = models.CharField(max_length=5, blank=True)
    archived_object = models.ForeignKey(
        ArchivedObject, on_delete=models.PROTECT, null=True, related_name="journal"
    )
    actor_label = models.CharField(max_length=254)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["archived_object", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event}"

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError("Le journal d'archivage est en ajout seul.")


class JournalSeal(models.Model):
    """The Merkle root over a run of consecutive journal entries (one day's, when the
    daily task makes it), with its own RFC 3161 time-stamp token over that root."""

    first_seq = models.PositiveBigIntegerField(unique=True)
    last_seq = models.PositiveBigIntegerField(unique=True)
    day = models.DateField("journée")
    root = models.CharField(max_length=64)
    timestamp_token = models.BinaryField()
    sealed_at = models.DateTimeField()

    class Meta:
        ordering = ["first_seq"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_seq__gte=models.F("first_seq")), name="seal_range_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"sceau {self.first_seq}–{self.last_seq}"


class ProposalState(models.TextChoices):
    PROPOSED = "proposed", "Proposée, en attente du visa"
    APPROVED = "approved", "Visée : détruit"
    REFUSED = "refused", "Refusée"


class EliminationProposal(models.Model):
    """Step one (the commune admin) and two (the operator's archivist: the visa)."""

    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="+")
    archived_object = models.ForeignKey(
        ArchivedObject, on_delete=models.PROTECT, related_name="proposals"
    )
    state = models.CharField(max_length=10, choices=ProposalState.choices, default="proposed")
    reason = models.TextField("motif", blank=True)
    proposed_by_label = models.CharField(max_length=254)
    proposed_at = models.DateTimeField()
    decided_by_label = models.CharField(max_length=254, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["archived_object"],
                condition=Q(state="proposed"),
                name="elimination_one_open_proposal",
            ),
            models.CheckConstraint(
                condition=Q(state__in=ProposalState.values), name="elimination_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"élimination de {self.archived_object_id} ({self.state})"


class AuditCheckpoint(models.Model):
    """What a successful integrity audit verified: the journal up to `last_seq` (whose
    entry's hash is `chain_hash`) and the copies' SHA-256 of the objects up to
    `last_object_id` (`copies_digest`). Its `hash` covers these and the previous
    checkpoint's hash (a chain), and an RFC 3161 token covers `hash`: a later audit
    trusts the token for the entries before `last_seq` and re-hashes only newer ones."""

    last_seq = models.PositiveBigIntegerField()
    chain_hash = models.CharField(max_length=64)
    last_object_id = models.PositiveBigIntegerField()
    copies = models.PositiveBigIntegerField()
    copies_digest = models.CharField(max_length=64)
    at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    timestamp_token = models.BinaryField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"point de contrôle {self.pk} (entrée n°{self.last_seq})"
