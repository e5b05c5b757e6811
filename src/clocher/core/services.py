"""Tenancy services: the operator, communes and their members.

Plain functions with explicit arguments; each change and its audit entry share one
transaction, and each refusal is a ValidationError whose message names what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.text import slugify

from clocher.accounts.models import User
from clocher.accounts.services import (
    create_invitation,
    get_or_create_user,
    send_invitation_email,
    send_membership_notice,
)
from clocher.core import audit, reference, scoping
from clocher.core.audit import Actor
from clocher.core.locks import lock_rows
from clocher.core.models import (
    COMMUNE_ROLES,
    OPERATOR_ROLES,
    Commune,
    CommuneStatus,
    Membership,
    Operator,
    Role,
)
from clocher.core.validators import (
    normalise_insee,
    normalise_siren,
    validate_insee_format,
    validate_siren,
)

# --- Operator ---------------------------------------------------------------------------


def ensure_operator(
    actor: Actor, name: str, mail_domain: str, contact_email: str = "", department_code: str = ""
) -> Operator:
    """Create the installation's operator, or update it: there is only ever one."""
    with transaction.atomic():
        operator, created = Operator.objects.update_or_create(
            singleton=1,
            defaults={
                "name": name,
                "mail_domain": mail_domain.lower(),
                "contact_email": contact_email,
                "department_code": department_code,
            },
        )
        audit.record(
            actor,
            "operator.created" if created else "operator.updated",
            target=name,
            data={"mail_domain": operator.mail_domain},
        )
    return operator


def add_operator_member(actor: Actor, email: str, role: str, full_name: str = "") -> Membership:
    if role not in OPERATOR_ROLES:
        raise ValidationError(f"Rôle opérateur inconnu : {role}.")
    with transaction.atomic():
        user, _ = get_or_create_user(email, full_name)
        membership, _ = Membership.objects.update_or_create(
            user=user, commune=None, defaults={"role": role, "is_active": True}
        )
        audit.record(actor, "operator.member_added", target=user.email, data={"role": role})
    return membership


def invite_operator_member(actor: Actor, email: str, role: str, full_name: str = "") -> MemberAdded:
    """Give EMAIL an operator role and mail them a one-time link to set their password.

    The production way to create the first operator account (`clocher operator add`):
    only an account without a password gets a link; one that has a password gets a
    notice, so the command never hands its caller someone else's account. The second
    factor is not set here: the login flow forces TOTP enrolment for every operator.
    """
    if role not in OPERATOR_ROLES:
        labels = ", ".join(str(r) for r in OPERATOR_ROLES)
        raise ValidationError(f"Rôle opérateur inconnu « {role} » : choisir parmi {labels}.")
    email = _valid_email(email)
    operator = scoping.get_operator()
    if operator is None:
        raise ValidationError(
            "Aucun opérateur enregistré : lancez d'abord « clocher operator setup NOM "
            "--mail-domain DOMAINE »."
        )
    with transaction.atomic():
        user, created = get_or_create_user(email, full_name)
        if not user.is_active:
            raise ValidationError(f"Le compte {email} est désactivé : réactivez-le d'abord.")
        membership, _ = Membership.objects.update_or_create(
            user=user, commune=None, defaults={"role": role, "is_active": True}
        )
        token = None
        where = f"l'équipe de {operator.name} (opérateur)"
        if not user.has_usable_password():
            token = create_invitation(actor, user, None)
            send_invitation_email(user, token, where)
        else:
            send_membership_notice(user, where)
        audit.record(
            actor,
            "operator.member_added",
            target=user.email,
            data={"role": role, "new_user": created, "invited": token is not None},
        )
    return MemberAdded(membership, token, created)


# --- Communes ---------------------------------------------------------------------------


def _unique_slug(name: str, insee: str) -> str:
    base = slugify(name)[:60] or insee.lower()
    if not Commune.objects.filter(slug=base).exists():
        return base
    return f"{base}-{insee.lower()}"


def clean_insee(value: str) -> str:
    """Normalised, well-formed code of a commune the official list knows."""
    insee = normalise_insee(value)
    validate_insee_format(insee)
    if reference.lookup(insee) is None:
        raise ValidationError(
            f"Code INSEE « {insee} » inconnu du référentiel officiel des communes.",
            code="insee_unknown",
        )
    return insee


def clean_siren(value: str | None) -> str | None:
    siren = normalise_siren(value or "")
    if not siren:
        return None
    validate_siren(siren)
    return siren


def create_commune(
    actor: Actor,
    insee: str,
    name: str = "",
    *,
    siren: str | None = None,
    population: int | None = None,
    status: str = CommuneStatus.APPLIED,
) -> Commune:
    """A new commune, prefilled from the official reference for what is not given."""
    insee = clean_insee(insee)
    siren = clean_siren(siren)
    existing = Commune.objects.filter(insee=insee).first()
    if existing is not None:
        raise ValidationError(
            f"La commune {existing.name} ({insee}) est déjà enregistrée "
            f"(statut : {existing.get_status_display().lower()}).",
            code="duplicate",
        )
    if siren and Commune.objects.filter(siren=siren).exists():
        raise ValidationError(f"Le SIREN {siren} est déjà utilisé par une autre commune.")
    ref = reference.lookup(insee)
    assert ref is not None
    commune = Commune(
        insee=insee,
        siren=siren,
        name=(name or ref.name).strip(),
        department_code=ref.department,
        population=population if population is not None else ref.population,
        townhall_address=ref.address,
        townhall_email=ref.email,
        status=status,
        status_changed_at=timezone.now(),
        activated_at=timezone.now() if status == CommuneStatus.ACTIVE else None,
    )
    commune.slug = _unique_slug(commune.name, insee)
    commune.full_clean()
    try:
        with transaction.atomic():
            commune.save(force_insert=True)
            audit.record(
                actor,
                "commune.created",
                commune=commune,
                target=commune.name,
                data={"status": status},
            )
    except IntegrityError as exc:  # a concurrent creation of the same code
        raise ValidationError(f"La commune {insee} est déjà enregistrée.") from exc
    return commune


@dataclass
class ProspectLoad:
    created: int
    already_known: int


def load_department_prospects(
    actor: Actor, department: str, progress: Callable[[int], None] | None = None
) -> ProspectLoad:
    """Register every commune of a département as a prospect (idempotent)."""
    refs = reference.department_communes(department)
    known = set(Commune.objects.values_list("insee", flat=True))
    taken_slugs = set(Commune.objects.values_list("slug", flat=True))
    new: list[Commune] = []
    for ref in refs:
        if ref.insee in known:
            continue
        slug = slugify(ref.name)[:60] or ref.insee.lower()
        if slug in taken_slugs:
            slug = f"{slug}-{ref.insee.lower()}"
        taken_slugs.add(slug)
        new.append(
            Commune(
                insee=ref.insee,
                name=ref.name,
                slug=slug,
                department_code=ref.department,
                population=ref.population,
                townhall_address=ref.address,
                townhall_email=ref.email,
                status=CommuneStatus.PROSPECT,
                status_changed_at=timezone.now(),
            )
        )
    with transaction.atomic():
        for start in range(0, len(new), 500):
            Commune.objects.bulk_create(new[start : start + 500])
            if progress:
                progress(len(new[start : start + 500]))
        audit.record(
            actor,
            "commune.prospects_loaded",
            target=f"département {department}",
            data={"created": len(new), "already_known": len(refs) - len(new)},
        )
    return ProspectLoad(len(new), len(refs) - len(new))


_ALLOWED_TRANSITIONS = {
    CommuneStatus.PROSPECT: {CommuneStatus.APPLIED, CommuneStatus.ACTIVE},
    CommuneStatus.APPLIED: {CommuneStatus.ACTIVE, CommuneStatus.PROSPECT},
    CommuneStatus.ACTIVE: {CommuneStatus.SUSPENDED, CommuneStatus.LEFT},
    CommuneStatus.SUSPENDED: {CommuneStatus.ACTIVE, CommuneStatus.LEFT},
    CommuneStatus.LEFT: set(),
}


def set_commune_status(actor: Actor, commune: Commune, status: str, reason: str = "") -> Commune:
    current = CommuneStatus(commune.status)
    if CommuneStatus(status) not in _ALLOWED_TRANSITIONS[current]:
        raise ValidationError(
            f"Passage impossible de « {current.label} » à « {CommuneStatus(status).label} »."
        )
    with transaction.atomic():
        commune.status = status
        commune.status_changed_at = timezone.now()
        if status == CommuneStatus.ACTIVE and commune.activated_at is None:
            commune.activated_at = commune.status_changed_at
        commune.save(update_fields=["status", "status_changed_at", "activated_at"])
        audit.record(
            actor,
            f"commune.{status}",
            commune=commune,
            target=commune.name,
            data={"from": current.value, "reason": reason},
        )
    return commune


def update_quotas(
    actor: Actor,
    commune: Commune,
    *,
    storage_bytes: int | None = None,
    mailboxes: int | None = None,
    members: int | None = None,
) -> Commune:
    changes = {}
    if storage_bytes is not None:
        changes["quota_storage_bytes"] = storage_bytes
    if mailboxes is not None:
        changes["quota_mailboxes"] = mailboxes
    if members is not None:
        if members < active_member_count(commune):
            raise ValidationError(
                f"Le quota de membres ({members}) est inférieur au nombre de membres actifs "
                f"({active_member_count(commune)})."
            )
        changes["quota_members"] = members
    with transaction.atomic():
        for key, value in changes.items():
            setattr(commune, key, value)
        commune.save(update_fields=list(changes))
        audit.record(
            actor, "commune.quotas_changed", commune=commune, target=commune.name, data=changes
        )
    return commune


def update_commune(
    actor: Actor,
    commune: Commune,
    *,
    storage_bytes: int | None = None,
    mailboxes: int | None = None,
    members: int | None = None,
    status: str | None = None,
) -> Commune:
    """Quotas and status changed together (the API's PATCH): one transaction, so a refused
    status leaves the quotas as they were, and each change writes its own audit entry."""
    with transaction.atomic():
        if storage_bytes is not None or mailboxes is not None or members is not None:
            update_quotas(
                actor, commune, storage_bytes=storage_bytes, mailboxes=mailboxes, members=members
            )
        if status is not None and status != commune.status:
            set_commune_status(actor, commune, status)
    return commune


# --- Members ----------------------------------------------------------------------------


def active_member_count(commune: Commune) -> int:
    return Membership.objects.filter(commune=commune, is_active=True).count()


def lock_commune(commune: Commune) -> None:
    """Serialise the changes that count the commune's members or mailboxes against a
    limit (its quotas, its last administrator): on PostgreSQL two of them each counted
    before the other's commit and both passed. FOR NO KEY UPDATE: rows naming the
    commune are still inserted meanwhile (their foreign key checks do not wait)."""
    lock_rows(Commune.objects.filter(pk=commune.pk), no_key=True)


@dataclass
class MemberAdded:
    membership: Membership
    # Mailed to the person; only the operator's CLI may also print it, and only for an
    # account it has just created (`created_user`). Never shown in a page or the API.
    invitation_token: str | None
    created_user: bool


# Other apps tell which communes an account is tied to besides its memberships (the
# mail app: mailboxes it opens or is a delegate of), so no commune sets its password.
ACCOUNT_TIES: list[Callable[[User], set[int]]] = []


def tied_elsewhere(user: User, commune: Commune) -> bool:
    """Whether the account is the operator's or tied to a commune other than `commune`.

    Such an account's password is set only by its owner or the operator: an admin of
    `commune` gets no invitation for it (a link would hand them another tenant's data).
    """
    if user.is_staff or user.is_superuser:
        return True
    if Membership.objects.filter(user=user).exclude(commune=commune).exists():
        return True
    return any(commune_id != commune.pk for tie in ACCOUNT_TIES for commune_id in tie(user))


def _may_invite(user: User, commune: Commune) -> bool:
    return user.is_active and not user.has_usable_password() and not tied_elsewhere(user, commune)


def _check_commune_role(role: str) -> None:
    if role not in COMMUNE_ROLES:
        labels = ", ".join(str(r.value) for r in COMMUNE_ROLES)
        raise ValidationError(f"Rôle inconnu « {role} » : choisir parmi {labels}.")


def add_member(
    actor: Actor,
    commune: Commune,
    email: str,
    role: str,
    *,
    full_name: str = "",
    title: str = "",
    invite: bool = True,
    invite_to: str | None = None,
) -> MemberAdded:
    """Add a person to a commune and tell them by mail (unless `invite` is False).

    A person without a password who belongs to this commune only gets a one-time link —
    for an account made now, at `invite_to` if the admin gave the person's current
    address (a new mailbox's own account cannot read its first mail); an account tied
    elsewhere (another commune, the operator) gets a notice, never a link.
    """
    _check_commune_role(role)
    email = _valid_email(email)
    invite_to = invitation_address(email, invite_to)
    if commune.status in (CommuneStatus.LEFT, CommuneStatus.SUSPENDED):
        raise ValidationError(f"La commune {commune.name} est {commune.get_status_display()}.")
    with transaction.atomic():
        lock_commune(commune)
        if Membership.objects.filter(commune=commune, user__email__iexact=email).exists():
            raise ValidationError(f"{email} est déjà membre de {commune.name}.")
        if active_member_count(commune) >= commune.quota_members:
            raise ValidationError(
                f"Quota de membres atteint ({commune.quota_members}) pour {commune.name}."
            )
        user, created = get_or_create_user(email, full_name)
        membership = Membership.objects.create(
            user=user, commune=commune, role=role, title=title[:120]
        )
        token = None
        if invite and (created or _may_invite(user, commune)):
            token = create_invitation(actor, user, commune)
            # Another address only for the account made now: an existing one's link
            # never leaves its own address (a way into someone else's account).
            send_invitation_email(user, token, commune.name, to=invite_to if created else None)
        elif invite:
            send_membership_notice(user, commune.name)
        data: dict[str, object] = {"role": role, "new_user": created, "invited": token is not None}
        if token is not None and invite_to and created:
            data["invitation_to"] = invite_to
        audit.record(actor, "member.added", commune=commune, target=email, data=data)
    return MemberAdded(membership, token, created)


def _valid_email(email: str) -> str:
    """`email` trimmed and lower-cased, or a French refusal naming it."""
    from django.core.validators import validate_email

    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError(f"Adresse électronique invalide : « {email} ».") from exc
    return email


def invitation_address(email: str, invite_to: str | None) -> str | None:
    """The address an invitation for account `email` goes to, when not its own."""
    if not invite_to or not invite_to.strip():
        return None
    invite_to = _valid_email(invite_to)
    return None if invite_to == email else invite_to


def _guard_last_admin(membership: Membership) -> None:
    if membership.role != Role.COMMUNE_ADMIN or not membership.is_active:
        return
    if membership.commune is not None:
        lock_commune(membership.commune)  # two admins removing each other at once
    others = Membership.objects.filter(
        commune=membership.commune, role=Role.COMMUNE_ADMIN, is_active=True
    ).exclude(pk=membership.pk)
    if not others.exists():
        raise ValidationError(
            "C'est le dernier administrateur actif de la commune : nommez-en un autre d'abord."
        )


def change_role(actor: Actor, membership: Membership, role: str) -> Membership:
    _check_commune_role(role)
    if role == membership.role:
        return membership
    with transaction.atomic():
        _guard_last_admin(membership)
        previous = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            actor,
            "member.role_changed",
            commune=membership.commune,
            target=membership.user.email,
            data={"from": previous, "to": role},
        )
    return membership


def deactivate_member(actor: Actor, membership: Membership) -> Membership:
    """The person can no longer log in to this commune; their data stays."""
    with transaction.atomic():
        _guard_last_admin(membership)
        membership.is_active = False
        membership.deactivated_at = timezone.now()
        membership.save(update_fields=["is_active", "deactivated_at"])
        audit.record(
            actor, "member.deactivated", commune=membership.commune, target=membership.user.email
        )
    return membership


def reactivate_member(actor: Actor, membership: Membership) -> Membership:
    commune = membership.commune
    if commune is None:
        raise ValidationError("Adhésion opérateur : rien à réactiver ici.")
    with transaction.atomic():
        lock_commune(commune)
        if active_member_count(commune) >= commune.quota_members:
            raise ValidationError("Quota de membres atteint.")
        membership.is_active = True
        membership.deactivated_at = None
        membership.save(update_fields=["is_active", "deactivated_at"])
        audit.record(
            actor, "member.reactivated", commune=membership.commune, target=membership.user.email
        )
    return membership


def update_member(
    actor: Actor, membership: Membership, *, role: str | None = None, is_active: bool | None = None
) -> Membership:
    """Role and activity changed together (the API's PATCH): one transaction, so a refused
    reactivation (quota) does not keep the new role."""
    with transaction.atomic():
        if role is not None:
            change_role(actor, membership, role)
        if is_active is False and membership.is_active:
            deactivate_member(actor, membership)
        elif is_active is True and not membership.is_active:
            reactivate_member(actor, membership)
    return membership


def remove_member(actor: Actor, membership: Membership) -> None:
    with transaction.atomic():
        _guard_last_admin(membership)
        email = membership.user.email
        commune = membership.commune
        membership.delete()
        audit.record(actor, "member.removed", commune=commune, target=email)


def members_of(commune: Commune) -> list[Membership]:
    return list(
        Membership.objects.filter(commune=commune)
        .select_related("user")
        .order_by("-is_active", "user__email")
    )


def communes_by_status() -> dict[str, int]:
    counts = dict(Commune.objects.values_list("status").annotate(n=Count("id")))
    return {status.value: counts.get(status.value, 0) for status in CommuneStatus}


def commercial_mail_count() -> tuple[int, int]:
    """How many known town halls (excluding those that left) still use a commercial
    mailbox, out of how many have one on record."""
    emails = (
        Commune.objects.exclude(status=CommuneStatus.LEFT)
        .exclude(townhall_email="")
        .values_list("townhall_email", flat=True)
    )
    total = 0
    commercial = 0
    for email in emails:
        total += 1
        commercial += reference.is_commercial_mail(email)
    return commercial, total


def member_of_commune(commune: Commune, membership_id: int) -> Membership:
    """The membership `membership_id` if it belongs to `commune`, else DoesNotExist."""
    return Membership.objects.select_related("user", "commune").get(
        pk=membership_id, commune=commune
    )


def user_communes(user: User) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user, is_active=True, commune__isnull=False)
        .filter(Q(commune__status=CommuneStatus.ACTIVE))
        .select_related("commune")
    )


def resend_invitation(actor: Actor, membership: Membership) -> None:
    """Mail a fresh one-time link to a member who has not set a password yet.

    A commune admin may do it only for an account of their commune alone; the operator
    (or the system) for any. The link goes to the member's address, never to the actor.
    """
    user = membership.user
    commune = membership.commune
    if user.has_usable_password():
        raise ValidationError(f"{user.email} a déjà activé son compte.")
    if not user.is_active:
        raise ValidationError(f"Le compte {user.email} est désactivé : voyez avec l'opérateur.")
    by_operator = actor.user is None or scoping.is_operator(actor.user)
    if commune is not None and not by_operator and tied_elsewhere(user, commune):
        raise ValidationError(
            f"Le compte {user.email} appartient aussi à une autre commune ou à l'opérateur : "
            "seul son titulaire ou l'opérateur peut en définir le mot de passe."
        )
    with transaction.atomic():
        token = create_invitation(actor, user, commune)
        send_invitation_email(user, token, commune.name if commune else "la plateforme")
        audit.record(actor, "member.invitation_sent", commune=commune, target=user.email)


def import_members(actor: Actor, commune: Commune, lines: list) -> list[MemberAdded]:
    """Create every line (members_import.Line) or none: one transaction for the set
    (add_member mails each person once it commits)."""
    with transaction.atomic():
        if active_member_count(commune) + len(lines) > commune.quota_members:
            raise ValidationError(f"Quota de membres atteint ({commune.quota_members}).")
        added = [
            add_member(
                actor, commune, line.email, line.role, full_name=line.full_name, title=line.title
            )
            for line in lines
        ]
        audit.record(
            actor,
            "member.imported",
            commune=commune,
            target=commune.name,
            data={"count": len(added)},
        )
    return added
