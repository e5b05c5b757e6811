"""What Clocher knows of the groupware: the bookable resources of each commune.

Calendars and address books themselves live in Radicale's storage (see `layout`); only
what the platform decides, and must scope by commune, is a row here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clocher.core.models import Commune


class Resource(models.Model):
    """A room or a vehicle that members book by putting an event in its calendar."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="resources")
    slug = models.SlugField("identifiant", max_length=60)
    name = models.CharField("nom", max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["commune", "slug"], name="resource_unique_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.commune})"


class WebmailGrant(models.Model):
    """One opening of the webmail from the console: the authorization code Clocher gave
    Roundcube, then the refresh token that keeps its session going (both stored hashed).

    The live access token (5 minutes) is kept hashed here too: Dovecot checks it at every
    login together with the person's memberships, so revoking the grant (logout from
    Clocher) or deactivating the member closes the webmail at once.
    """

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webmail_grants"
    )
    mailbox = models.ForeignKey(
        "mail.Mailbox", on_delete=models.CASCADE, related_name="webmail_grants"
    )
    # The Clocher session that opened it: logging out of Clocher revokes it.
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    redirect_uri = models.CharField(max_length=500)
    code_hash = models.CharField(max_length=64, unique=True)
    code_challenge = models.CharField(max_length=128, blank=True)
    code_expires_at = models.DateTimeField()
    code_used_at = models.DateTimeField(null=True, blank=True)
    refresh_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # The live access token (5 minutes): Dovecot finds it by prefix, checks its SHA-256.
    access_prefix = models.CharField(max_length=8, blank=True, db_index=True)
    access_hash = models.CharField(max_length=64, blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"webmail {self.mailbox_id} ({self.user_id})"
