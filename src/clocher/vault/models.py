"""The vault: spaces, a tree of nodes, versions made of encrypted content-addressed
chunks, and the usage counters that quotas are enforced on.

Content lives in the blob store (`blobstore/`); the database holds the tree and which
chunks make each version. A version row exists only once all its chunks are stored, so
an interrupted upload leaves nothing visible and nothing counted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from clocher.core import lookups  # noqa: F401 - `key__prefix` (DavEntry)
from clocher.core.models import Commune, ImportStatus


class SpaceKind(models.TextChoices):
    COMMUNE = "commune", "Espace de la commune"
    PERSONAL = "personal", "Espace personnel"
    GROUP = "group", "Dossier de groupe"


class Space(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="spaces")
    kind = models.CharField(max_length=10, choices=SpaceKind.choices)
    name = models.CharField("nom", max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_spaces",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="group_spaces"
    )
    quota_bytes = models.PositiveBigIntegerField("quota", null=True, blank=True)
    used_bytes = models.PositiveBigIntegerField("utilisé", default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["commune"], condition=Q(kind="commune"), name="space_one_commune_space"
            ),
            models.UniqueConstraint(
                fields=["commune", "owner"],
                condition=Q(kind="personal"),
                name="space_one_personal_space",
            ),
            models.CheckConstraint(
                condition=Q(quota_bytes__isnull=True) | Q(used_bytes__lte=F("quota_bytes")),
                name="space_within_quota",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.commune})"


class CommuneUsage(models.Model):
    """The commune's storage across all its spaces, checked in the same UPDATE as the
    space's so that concurrent uploads can never together exceed either quota."""

    commune = models.OneToOneField(Commune, on_delete=models.CASCADE, related_name="vault_usage")
    used_bytes = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.commune}: {self.used_bytes}"


class Chunk(models.Model):
    """An encrypted piece of content, named by HMAC(data key, plaintext): identical
    content within a commune is stored once; across communes, never shared."""

    # No index of its own: the unique (commune, digest) serves lookups by commune.
    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, related_name="chunks", db_index=False
    )
    digest = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["commune", "digest"], name="chunk_unique_digest")
        ]

    def __str__(self) -> str:
        return self.digest


class Node(models.Model):
    """A folder or a file. Every space has one root folder (no parent, empty name)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="nodes")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    name = models.CharField("nom", max_length=255)
    is_folder = models.BooleanField(default=False)
    size = models.PositiveBigIntegerField(default=0)
    current = models.ForeignKey(
        "Version", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    content_type = models.CharField(max_length=120, blank=True)
    etag = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.CharField(max_length=254, blank=True)

    class Meta:
        # The trash only: an index of every live node's empty `deleted_at` was one more
        # page written for each new file.
        indexes = [
            models.Index(
                fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="node_in_trash"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"],
                condition=Q(deleted_at__isnull=True),
                name="node_unique_live_name",
            ),
            models.UniqueConstraint(
                fields=["space"], condition=Q(parent__isnull=True), name="node_one_root"
            ),
        ]

    def __str__(self) -> str:
        return self.name or "/"


class Version(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="versions")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    author = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.node} @ {self.created_at}"


class VersionChunk(models.Model):
    # No index of its own: the unique (version, position) serves lookups by version.
    version = models.ForeignKey(
        Version, on_delete=models.CASCADE, related_name="chunks", db_index=False
    )
    position = models.PositiveIntegerField()
    offset = models.PositiveBigIntegerField()
    chunk = models.ForeignKey(Chunk, on_delete=models.PROTECT, related_name="uses")

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="versionchunk_position")
        ]

    def __str__(self) -> str:
        return f"{self.version_id}#{self.position}"


class DavEntry(models.Model):
    """WebDAV locks and dead properties, shared by every web process (`dav/store.py`)."""

    key = models.CharField(max_length=1024, unique=True)
    value = models.JSONField()

    def __str__(self) -> str:
        return self.key


class UploadSession(models.Model):
    """A chunked upload in progress (Nextcloud's `remote.php/dav/uploads/<login>/<id>`).

    Its parts wait, encrypted, under `<VAULT_DIR>/uploads/<pk>/` until the client moves
    `.file` onto the destination; then they are read in order into a normal version.
    Meanwhile they count in `space`'s quota (the destination the client announced, else
    the person's personal space), so that unfinished uploads cannot fill the disk.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_sessions"
    )
    name = models.CharField(max_length=128)
    space = models.ForeignKey(
        Space,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="upload_sessions",
        help_text="where its parts are counted until assembly",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="upload_session_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.name}"


class UploadPart(models.Model):
    session = models.ForeignKey(UploadSession, on_delete=models.CASCADE, related_name="parts")
    name = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "name"], name="upload_part_unique")
        ]

    def __str__(self) -> str:
        return self.name


class ClientLogin(models.Model):
    """A Nextcloud login flow v2 in progress: a client waits (polling with its secret
    token) while the person signs in in the browser and grants it an app password."""

    poll_hash = models.CharField(max_length=64, unique=True)
    flow_hash = models.CharField(max_length=64, unique=True)
    client_name = models.CharField(max_length=100)
    public_key = models.BinaryField()
    sealed_private_key = models.BinaryField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True
    )
    sealed_password = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    granted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.client_name


class Favourite(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="vault_favourites"
    )
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="favourites")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "node"], name="favourite_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} ★ {self.node_id}"


class ShareMode(models.TextChoices):
    READ = "read", "Lecture seule"
    DROP = "drop", "Dépôt seulement"


class ShareLink(models.Model):
    """A public link to a file or folder: read-only, or drop-box (citizens send documents
    to the town hall without seeing what is there). Only the token's hash is kept."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="shares")
    token_hash = models.CharField(max_length=64, unique=True)
    mode = models.CharField(max_length=4, choices=ShareMode.choices, default=ShareMode.READ)
    password_hash = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField("expire le", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.mode} {self.node_id}"


class DocumentImport(models.Model):
    """A zip sent from the page, imported in the background into a folder; the page
    follows its progress and shows its report."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="imports")
    folder = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="imports")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    archive_name = models.CharField(max_length=255)
    archive_path = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=8, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    done_bytes = models.PositiveBigIntegerField(default=0)
    total_bytes = models.PositiveBigIntegerField(default=0)
    current = models.CharField(max_length=255, blank=True)
    report = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.archive_name} → {self.folder_id} ({self.status})"

    @property
    def percent(self) -> int:
        return int(self.done_bytes * 100 / self.total_bytes) if self.total_bytes else 0
