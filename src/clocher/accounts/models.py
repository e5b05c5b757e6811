"""People and their credentials: web password, TOTP, per-device app passwords,
invitations, and the login attempts used for throttling."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.http import HttpRequest


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("Une adresse électronique est requise.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person, logging in by e-mail address. Roles live in core.Membership."""

    email = models.EmailField("adresse électronique", max_length=254, unique=True)
    full_name = models.CharField("nom complet", max_length=200, blank=True)
    is_active = models.BooleanField("actif", default=True)  # type: ignore[assignment,misc]
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(auto_now_add=True)
    totp_secret = models.CharField(max_length=64, blank=True)
    totp_confirmed_at = models.DateTimeField(null=True, blank=True)
    totp_last_step = models.BigIntegerField(default=0)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []  # type: ignore[misc]

    class Meta:
        verbose_name = "utilisateur"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def has_totp(self) -> bool:
        return self.totp_confirmed_at is not None

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class AppPassword(models.Model):
    """A per-device password for protocol clients (IMAP, SMTP, WebDAV).

    Only an argon2id hash is kept, in the `{ARGON2ID}$argon2id$…` form Dovecot verifies
    directly; the clear password is shown once at creation.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="app_passwords")
    name = models.CharField("appareil", max_length=100)
    hash = models.CharField(max_length=255)
    prefix = models.CharField(max_length=8, help_text="premiers caractères, pour reconnaître")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_from = models.CharField(max_length=64, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["user"], condition=Q(revoked_at__isnull=True), name="apppassword_active_idx"
            )
        ]
        # The mail servers pick the password by its prefix, and a shared mailbox accepts
        # the passwords of several people: live prefixes are unique across everyone.
        constraints = [
            models.UniqueConstraint(
                fields=["prefix"],
                condition=Q(revoked_at__isnull=True),
                name="apppassword_live_prefix_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.name}"


class Invitation(models.Model):
    """A one-time, expiring link to set a password and join a commune (or the operator)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The commune that issued it (none: the operator). A new invitation withdraws only
    # the pending ones of the same issuer, so one commune cannot cancel another's.
    commune = models.ForeignKey(
        "core.Commune", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"invitation {self.user}"


class LoginAttempt(models.Model):
    """One login attempt, kept for throttling and for the shield's brute-force detector."""

    email = models.CharField(max_length=254)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    succeeded = models.BooleanField(default=False)
    service = models.CharField(max_length=16, default="web")

    class Meta:
        indexes = [
            models.Index(fields=["email", "at"]),
            models.Index(fields=["ip", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.email} {'ok' if self.succeeded else 'échec'} {self.at:%Y-%m-%d %H:%M}"


class AuthenticatedRequest(HttpRequest):
    """The request type of views behind login_required: `user` is a real User."""

    user: User  # type: ignore[assignment]
