"""Mail domains, mailboxes and aliases: the tables Postfix and Dovecot query directly.

`address` is stored lower-cased and whole so the servers' lookups are one indexed
equality each; the services keep it consistent with local part and domain.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from clocher.core.models import Commune, ImportStatus

GIB = 1024**3


class MailDomain(models.Model):
    """The operator's shared domain (no commune) or a commune's own domain."""

    name = models.CharField("domaine", max_length=253, unique=True)
    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="mail_domains"
    )
    # A commune's own domain serves mail only once its MX is seen pointing at us: nobody
    # can capture mail for a domain they do not control. The shared domain needs no proof.
    dns_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(name__regex=r"^[a-z0-9.-]+$"), name="maildomain_lowercase_ascii"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.commune_id is None


def new_storage_key() -> str:
    return uuid.uuid4().hex


class MailboxKind(models.TextChoices):
    PERSONAL = "personal", "Personnelle"
    SHARED = "shared", "Partagée"
    FUNCTION = "function", "Fonctionnelle (mairie)"


class Mailbox(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="mailboxes")
    domain = models.ForeignKey(MailDomain, on_delete=models.PROTECT, related_name="mailboxes")
    local_part = models.CharField("partie locale", max_length=64)
    address = models.CharField("adresse", max_length=254, unique=True)
    kind = models.CharField(
        max_length=10, choices=MailboxKind.choices, default=MailboxKind.PERSONAL
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="mailboxes",
        help_text="La personne qui ouvre la boîte avec ses mots de passe d'application.",
    )
    quota_bytes = models.PositiveBigIntegerField("quota", default=2 * GIB)
    is_active = models.BooleanField("active", default=True)
    # Where the messages live on disk: never reused, so an address deleted and created
    # again (by another commune, say) never opens the old mailbox's messages.
    storage_key = models.CharField(
        max_length=32, unique=True, default=new_storage_key, editable=False
    )
    # Out-of-office, written as a Sieve script into the mailbox's home.
    vacation_enabled = models.BooleanField("réponse d'absence", default=False)
    vacation_subject = models.CharField("objet de la réponse", max_length=200, blank=True)
    vacation_body = models.TextField("texte de la réponse", blank=True)
    # Forwarding, also a Sieve rule: redirect to another address, keeping a copy or not.
    forward_to = models.EmailField("transférer à", blank=True)
    forward_keep_copy = models.BooleanField("garder une copie", default=True)
    # Shared mailboxes: these members open the box with their own app passwords.
    delegates = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="delegated_mailboxes"
    )
    # Read-only sharing: these members see the mailbox as folders of their own session
    # (`shared/<address>/…` in IMAP, see `mail.sharing`), never log in as it. Delegates
    # above see it there too, with read+write rights.
    readers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="read_mailboxes"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["address"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "local_part"], name="mailbox_unique_local_part"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=MailboxKind.values), name="mailbox_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.address


class Alias(models.Model):
    """An address that delivers to one or more others (local mailboxes or outside)."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="mail_aliases")
    domain = models.ForeignKey(MailDomain, on_delete=models.PROTECT, related_name="aliases")
    local_part = models.CharField("partie locale", max_length=64)
    address = models.CharField("adresse", max_length=254, unique=True)
    destinations = models.TextField("destinations", help_text="Adresses séparées par des virgules.")
    is_active = models.BooleanField("actif", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "aliases"

    def __str__(self) -> str:
        return f"{self.address} → {self.destinations}"


class DkimKey(models.Model):
    """A DKIM key pair of a domain. The newest active key signs; older ones stay
    published until retired, so mail signed before a rotation still verifies."""

    domain = models.ForeignKey(MailDomain, on_delete=models.CASCADE, related_name="dkim_keys")
    selector = models.CharField(max_length=63)
    private_key = models.TextField(help_text="PEM, PKCS#8")
    public_key = models.TextField(help_text="base64 DER SubjectPublicKeyInfo, as in DNS")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "selector"], name="dkim_selector_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.selector}._domainkey.{self.domain.name}"


class MailTrafficDay(models.Model):
    """Per-day counters read from Postfix's own log (see `traffic.ingest`)."""

    day = models.DateField(unique=True)
    received = models.PositiveIntegerField("reçus", default=0)
    sent = models.PositiveIntegerField("envoyés", default=0)
    rejected_spam = models.PositiveIntegerField("rejetés (spam)", default=0)
    rejected_policy = models.PositiveIntegerField("rejetés (règles)", default=0)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.received} reçus, {self.sent} envoyés"


class MailLogCursor(models.Model):
    """How far the log has been read: file identity (inode) and byte offset, so a
    rotated or truncated log is read again from its start, never counted twice."""

    path = models.CharField(max_length=500, unique=True)
    inode = models.PositiveBigIntegerField(default=0)
    offset = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.path} @ {self.offset}"


class MailImportSource(models.TextChoices):
    IMAP = "imap", "Compte IMAP"
    MBOX = "mbox", "Fichier mbox"
    MAILDIR = "maildir", "Dossier Maildir"
    EML_ZIP = "eml_zip", "Archive zip de .eml"
    PST = "pst", "Fichier Outlook PST"


class MailImport(models.Model):
    """Bringing one old mailbox into one Clocher mailbox: the (target, source) pair.

    The row lives across runs: a rerun of the same source reuses it, so the per-folder
    state below tells what is already copied. The counters describe the latest run.
    """

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="mail_imports")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="imports")
    source_kind = models.CharField(max_length=10, choices=MailImportSource.choices)
    # What identifies the source across runs: imaps://user@host:port, or a file's path.
    source_key = models.CharField(max_length=500)
    server = models.CharField(max_length=260, blank=True, help_text="hôte:port IMAP")
    # How to reach it this time (imaps://… or imap://… for STARTTLS), never a password.
    source_url = models.CharField(max_length=500, blank=True)
    # The source's password while a background run needs it (sealed with the server's
    # secret key), wiped when the run ends. The CLI reads its password file instead.
    sealed_secret = models.BinaryField(null=True, blank=True, editable=False)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    connections = models.PositiveSmallIntegerField(default=0)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by every batch: a running import not seen for a while has died (its
    # connections no longer count against the source server's limit).
    updated_at = models.DateTimeField(auto_now=True)
    total = models.PositiveIntegerField(default=0)
    copied = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    current_folder = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    # What the source held that is not mail (files in a zip…): listed in the report.
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "source_key"], name="mailimport_one_per_source"
            ),
            models.CheckConstraint(
                condition=Q(source_kind__in=MailImportSource.values),
                name="mailimport_source_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_key} → {self.mailbox_id}"

    @property
    def done_count(self) -> int:
        return self.copied + self.skipped + self.failed

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.done_count * 100 // self.total)

    @property
    def is_active(self) -> bool:
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)


class MailImportFolder(models.Model):
    """Where one source folder stands: its UIDVALIDITY (or a file source's generation)
    and the highest source UID copied, plus the batch being appended right now, so a run
    killed between APPEND and commit finds what reached the target."""

    job = models.ForeignKey(MailImport, on_delete=models.CASCADE, related_name="folders")
    source_name = models.CharField(max_length=500)
    target_name = models.CharField(max_length=500)
    uidvalidity = models.CharField(max_length=80, blank=True)
    last_uid = models.PositiveBigIntegerField(default=0)
    pending = models.JSONField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    copied = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["source_name"]
        constraints = [
            models.UniqueConstraint(fields=["job", "source_name"], name="mailimport_folder_once"),
        ]

    def __str__(self) -> str:
        return f"{self.source_name} → {self.target_name}"


class MailImportedMessage(models.Model):
    """One message known to be in the target: its source UID and its fingerprint (SHA-256
    of the bytes with CRLF line ends, as IMAP serves them). `source_uid` is NULL after the
    source's UIDVALIDITY changed, until a message of the new generation claims it."""

    folder = models.ForeignKey(MailImportFolder, on_delete=models.CASCADE, related_name="messages")
    source_uid = models.PositiveBigIntegerField(null=True)
    fingerprint = models.CharField(max_length=64)

    class Meta:
        indexes = [
            models.Index(fields=["folder", "source_uid"], name="mailimport_msg_uid"),
            models.Index(fields=["folder", "fingerprint"], name="mailimport_msg_fp"),
        ]

    def __str__(self) -> str:
        return f"{self.folder_id}:{self.source_uid}"


class MailImportFailure(models.Model):
    """A message that could not be copied, with the reason; retried by the next run."""

    folder = models.ForeignKey(MailImportFolder, on_delete=models.CASCADE, related_name="failures")
    source_uid = models.PositiveBigIntegerField()
    subject = models.CharField(max_length=300, blank=True)
    reason = models.TextField()

    class Meta:
        ordering = ["folder", "source_uid"]
        constraints = [
            models.UniqueConstraint(fields=["folder", "source_uid"], name="mailimport_fail_once"),
        ]

    def __str__(self) -> str:
        return f"{self.folder_id}:{self.source_uid}: {self.reason}"
