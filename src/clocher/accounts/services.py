"""Accounts: users, invitations, throttled authentication, TOTP and app passwords."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clocher.accounts.models import AppPassword, Invitation, LoginAttempt, User
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune

# argon2id parameters Dovecot's ARGON2ID scheme accepts as they are (RFC 9106 second
# recommended option, lighter memory so a small server verifies quickly).
APP_PASSWORD_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1)
DOVECOT_SCHEME = "{ARGON2ID}"


class LoginLocked(Exception):
    """Too many failures: the message says until when."""


def get_or_create_user(email: str, full_name: str = "") -> tuple[User, bool]:
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        if full_name and not user.full_name:
            user.full_name = full_name
            user.save(update_fields=["full_name"])
        return user, False
    return User.objects.create_user(email=email, full_name=full_name), True


# --- Throttling -------------------------------------------------------------------------


def _window_start() -> datetime:
    return timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def lockout_remaining(email: str, ip: str | None) -> timedelta | None:
    """How long logins stay refused for this address or client, or None if allowed."""
    since = _window_start()
    failures = LoginAttempt.objects.filter(at__gte=since, succeeded=False)
    by_email = failures.filter(email=email.strip().lower())
    limit = settings.LOGIN_MAX_FAILURES
    candidates = []
    if by_email.count() >= limit:
        candidates.append(by_email.order_by("-at").values_list("at", flat=True)[limit - 1])
    if ip:
        by_ip = failures.filter(ip=ip)
        # A shared town-hall IP gets more room than one address.
        if by_ip.count() >= limit * 4:
            candidates.append(by_ip.order_by("-at").values_list("at", flat=True)[limit * 4 - 1])
    if not candidates:
        return None
    unlock = max(candidates) + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    remaining = unlock - timezone.now()
    return remaining if remaining > timedelta(0) else None


def note_attempt(email: str, ip: str | None, succeeded: bool, service: str = "web") -> None:
    LoginAttempt.objects.create(
        email=email.strip().lower()[:254], ip=ip, succeeded=succeeded, service=service
    )


def check_not_locked(email: str, ip: str | None) -> None:
    remaining = lockout_remaining(email, ip)
    if remaining is not None:
        minutes = max(1, int(remaining.total_seconds() // 60) + 1)
        raise LoginLocked(
            f"Trop de tentatives de connexion échouées. Réessayez dans {minutes} minute(s)."
        )


# --- TOTP -------------------------------------------------------------------------------


def start_totp(user: User) -> str:
    """A new secret, not yet active: it becomes active once a code from it is confirmed."""
    user.totp_secret = pyotp.random_base32()
    user.totp_confirmed_at = None
    user.save(update_fields=["totp_secret", "totp_confirmed_at"])
    return user.totp_secret


def totp_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name="Clocher")


def verify_totp(user: User, code: str) -> bool:
    """Accept the current code (±1 step) once: a replayed code is refused."""
    if not user.totp_secret:
        return False
    code = "".join(ch for ch in code if ch.isdigit())
    totp = pyotp.TOTP(user.totp_secret)
    now_step = int(timezone.now().timestamp()) // totp.interval
    for step in (now_step - 1, now_step, now_step + 1):
        if step <= user.totp_last_step:
            continue
        if secrets.compare_digest(totp.at(step * totp.interval), code):
            updated = User.objects.filter(pk=user.pk, totp_last_step__lt=step).update(
                totp_last_step=step
            )
            user.totp_last_step = step
            return bool(updated)
    return False


def confirm_totp(actor: Actor, user: User, code: str) -> bool:
    if not verify_totp(user, code):
        return False
    with transaction.atomic():
        user.totp_confirmed_at = timezone.now()
        user.save(update_fields=["totp_confirmed_at"])
        audit.record(actor, "account.totp_enabled", target=user.email)
    return True


def disable_totp(actor: Actor, user: User) -> None:
    with transaction.atomic():
        user.totp_secret = ""
        user.totp_confirmed_at = None
        user.save(update_fields=["totp_secret", "totp_confirmed_at"])
        audit.record(actor, "account.totp_disabled", target=user.email)


# --- App passwords ----------------------------------------------------------------------


def generate_app_password() -> str:
    """Four groups of five lowercase letters and digits: easy to type on a phone."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    groups = ["".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)


def hash_app_password(clear: str) -> str:
    return DOVECOT_SCHEME + APP_PASSWORD_HASHER.hash(clear)


@dataclass
class NewAppPassword:
    record: AppPassword
    clear: str


def create_app_password(actor: Actor, user: User, name: str) -> NewAppPassword:
    name = name.strip()
    if not name:
        raise ValidationError("Donnez un nom à l'appareil (par exemple « Téléphone »).")
    with transaction.atomic():
        for _attempt in range(20):
            clear = generate_app_password()
            try:
                with transaction.atomic():  # savepoint: a clash retries, not aborts
                    record = AppPassword.objects.create(
                        user=user, name=name[:100], hash=hash_app_password(clear), prefix=clear[:5]
                    )
            except IntegrityError:  # a live password already starts like this one (rare)
                continue
            break
        else:
            raise ValidationError("Impossible de créer un mot de passe unique, réessayez.")
        audit.record(
            actor,
            "account.app_password_created",
            target=user.email,
            data={"name": record.name, "id": record.pk},
        )
    return NewAppPassword(record, clear)


def revoke_app_password(actor: Actor, record: AppPassword) -> None:
    with transaction.atomic():
        updated = AppPassword.objects.filter(pk=record.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            audit.record(
                actor,
                "account.app_password_revoked",
                target=record.user.email,
                data={"name": record.name, "id": record.pk},
            )


def check_app_password(
    email: str, clear: str, ip: str | None = None, service: str = "dav"
) -> User | None:
    """The user if `clear` matches one of their live app passwords (and records its use)."""
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        return None
    for record in AppPassword.objects.filter(user=user, revoked_at__isnull=True):
        try:
            APP_PASSWORD_HASHER.verify(record.hash.removeprefix(DOVECOT_SCHEME), clear)
        except (VerificationError, InvalidHashError):
            continue
        AppPassword.objects.filter(pk=record.pk).update(
            last_used_at=timezone.now(), last_used_from=(ip or "")[:64]
        )
        return user
    return None


# --- Invitations ------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invitation(actor: Actor, user: User, commune: Commune | None = None) -> str:
    """A new one-time token (returned once, to be mailed to `user` only).

    It withdraws the unused invitations of the same issuer (`commune`, None for the
    operator) and no other: a commune must not be able to cancel another's invitation.
    """
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    Invitation.objects.filter(user=user, commune=commune, used_at__isnull=True).update(
        expires_at=now
    )
    Invitation.objects.create(
        user=user,
        commune=commune,
        token_hash=_token_hash(token),
        expires_at=now + timedelta(days=settings.INVITATION_VALID_DAYS),
        created_by=actor.user if actor.user is not None else None,
    )
    return token


def invitation_url(token: str) -> str:
    return f"{settings.BASE_URL}/invitation/{token}/"


class InvitationInvalid(Exception):
    pass


def find_invitation(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("user").filter(token_hash=_token_hash(token)).first()
    )
    if invitation is None:
        raise InvitationInvalid("Ce lien d'invitation n'existe pas.")
    if invitation.used_at is not None:
        raise InvitationInvalid("Ce lien d'invitation a déjà été utilisé.")
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid(
            "Ce lien d'invitation a expiré. Demandez à votre administrateur de vous en renvoyer un."
        )
    if not invitation.user.is_active:
        raise InvitationInvalid(
            "Ce compte est désactivé : une invitation ne le réactive pas. "
            "Adressez-vous à l'opérateur de la plateforme."
        )
    return invitation


def accept_invitation(actor: Actor, token: str, password: str, full_name: str = "") -> User:
    """Set the password and burn the token, atomically: a replayed link is refused.

    A disabled account stays disabled (find_invitation refuses it), and the owner's
    other pending links are withdrawn: once the password is set, none may reset it.
    """
    with transaction.atomic():
        invitation = find_invitation(token)
        user = invitation.user
        password_validation.validate_password(password, user)
        now = timezone.now()
        burnt = Invitation.objects.filter(
            pk=invitation.pk, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not burnt:
            raise InvitationInvalid("Ce lien d'invitation a déjà été utilisé.")
        Invitation.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(
            expires_at=now
        )
        user.set_password(password)
        if full_name:
            user.full_name = full_name.strip()[:200]
        user.save(update_fields=["password", "full_name"])
        audit.record(
            Actor(user=user, ip=actor.ip), "account.invitation_accepted", target=user.email
        )
    return user


def active_app_passwords(user: User) -> list[AppPassword]:
    return list(AppPassword.objects.filter(user=user).filter(Q(revoked_at__isnull=True)))


# --- Web sign-in --------------------------------------------------------------------------

security_log = logging.getLogger("clocher.security")


class InvalidCredentials(Exception):
    """Wrong address or password: one message for both, so addresses cannot be probed."""


def authenticate_web(email: str, password: str, ip: str | None) -> User:
    """Check the throttle, then the password; every attempt is recorded.

    A locked address stays locked even with the right password until the window passes.
    """
    email = email.strip().lower()
    try:
        check_not_locked(email, ip)
    except LoginLocked:
        security_log.warning("login refused (locked) email=%s ip=%s", email, ip)
        with transaction.atomic():
            audit.record(Actor(ip=ip, label=email), "account.login_locked", target=email)
        raise
    user = authenticate(None, username=email, password=password)
    note_attempt(email, ip, succeeded=user is not None)
    if user is None:
        security_log.info("login failed email=%s ip=%s", email, ip)
        try:
            check_not_locked(email, ip)
        except LoginLocked:
            security_log.warning("login locked after failures email=%s ip=%s", email, ip)
            with transaction.atomic():
                audit.record(Actor(ip=ip, label=email), "account.login_locked", target=email)
            raise
        raise InvalidCredentials("Adresse électronique ou mot de passe incorrect.")
    return user


def unlock(actor: Actor, email: str) -> int:
    """Forget the recent failures of an address (support action)."""
    email = email.strip().lower()
    with transaction.atomic():
        deleted, _ = LoginAttempt.objects.filter(
            email=email, succeeded=False, at__gte=_window_start()
        ).delete()
        audit.record(actor, "account.unlocked", target=email, data={"failures_cleared": deleted})
    return deleted


def reset_totp(actor: Actor, user: User) -> None:
    with transaction.atomic():
        user.totp_secret = ""
        user.totp_confirmed_at = None
        user.save(update_fields=["totp_secret", "totp_confirmed_at"])
        audit.record(actor, "account.totp_reset", target=user.email)


def totp_qr_svg(user: User) -> str:
    """The provisioning URI as an inline SVG QR code (no script, CSP-friendly)."""
    import segno

    return str(segno.make(totp_uri(user), error="m").svg_inline(scale=5, border=2))


def _mail_after_commit(user: User, subject: str, body: str, to: str | None = None) -> None:
    """Sent after the transaction commits, never inside it (nothing sent for a rollback)."""
    from django.core.mail import send_mail

    recipient = to or user.email
    transaction.on_commit(lambda: send_mail(subject, body, None, [recipient], fail_silently=False))


def send_invitation_email(user: User, token: str, where: str, *, to: str | None = None) -> None:
    """Mail the one-time link to the invited address: the only place it is delivered —
    unless the account's admin gave another (`to`, journalled by the caller): a new
    mailbox's own account cannot read its first mail before it has a password."""
    link = invitation_url(token)
    account = f"Votre compte est {user.email}.\n" if to and to != user.email else ""
    body = (
        f"Bonjour,\n\nVous êtes invité(e) à rejoindre {where} sur le cloud public local.\n"
        f"{account}"
        f"Choisissez votre mot de passe avec ce lien (valable "
        f"{settings.INVITATION_VALID_DAYS} jours, à usage unique) :\n\n{link}\n\n"
        "Si vous n'attendiez pas ce message, ignorez-le.\n"
    )
    _mail_after_commit(user, f"Invitation : {where}", body, to)


def send_membership_notice(user: User, where: str) -> None:
    """Tell an existing account it joined `where`: a notice, never a password link."""
    body = (
        f"Bonjour,\n\nVous avez été ajouté(e) à {where} sur le cloud public local.\n"
        f"Connectez-vous avec votre compte habituel : {settings.BASE_URL}/\n\n"
        "Si vous n'attendiez pas ce message, signalez-le à l'opérateur de la plateforme.\n"
    )
    _mail_after_commit(user, f"Vous avez été ajouté(e) à {where}", body)
