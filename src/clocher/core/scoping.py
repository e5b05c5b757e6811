"""The one place that decides what a user may see: every user-facing query goes here.

A commune's pages and API answer 404 to anyone who is not an active member of it (or
an operator), so that another tenant cannot even learn that an object exists.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from clocher.core.models import (
    OPERATOR_ROLES,
    Commune,
    CommuneStatus,
    Membership,
    Operator,
    Role,
)


def get_operator() -> Operator | None:
    """The installation's one operator (None before `clocher init`): one installation
    serves one département, so every caller asks here rather than picking a row itself."""
    return Operator.objects.order_by("pk").first()


def operator_membership(user: Any) -> Membership | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(user=user, commune__isnull=True, is_active=True)
        .only("role")
        .first()
    )


def is_operator(user: Any, roles: tuple[str, ...] = tuple(OPERATOR_ROLES)) -> bool:
    membership = operator_membership(user)
    return membership is not None and membership.role in roles


def visible_communes(user: Any) -> QuerySet[Commune]:
    """Communes the user may see: all for the operator, their own active ones otherwise."""
    if not user.is_authenticated:
        return Commune.objects.none()
    if is_operator(user):
        return Commune.objects.all()
    return Commune.objects.filter(
        memberships__user=user,
        memberships__is_active=True,
        status__in=[CommuneStatus.ACTIVE],
    ).distinct()


def protocol_communes(user: Any) -> QuerySet[Commune]:
    """Communes whose mailboxes and spaces `user` may open over IMAP, SMTP, WebDAV or the
    API: those where they hold an active membership and that are themselves active.

    Protocols authenticate with app passwords and tokens that outlive a membership on
    purpose (reactivation gives back exactly what was there), so this is checked at every
    authentication rather than by revoking them. Unlike `visible_communes`, the operator
    does not get every commune here: their staff open only their own spaces.
    The mail servers cannot call Python: `clocher.mail.engines.config.PASSWORD_QUERY`
    repeats this rule in SQL, and the tests of both are in
    tests/core/test_access_revocation.py.
    """
    if not user.is_authenticated or not user.is_active:
        return Commune.objects.none()
    return Commune.objects.filter(
        memberships__user=user,
        memberships__is_active=True,
        status=CommuneStatus.ACTIVE,
    ).distinct()


def may_use_protocols(user: Any) -> bool:
    """Whether app passwords and API tokens of `user` open anything at all: an active
    account with an active operator membership, or an active membership in an active
    commune. One query, cheap enough to run on every DAV and API request."""
    if not user.is_authenticated or not user.is_active:
        return False
    return (
        Membership.objects.filter(user=user, is_active=True)
        .filter(Q(commune__isnull=True) | Q(commune__status=CommuneStatus.ACTIVE))
        .exists()
    )


def commune_membership(user: Any, commune: Commune) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, commune=commune, is_active=True).first()


def _administers(membership: Membership | None, commune: Commune) -> bool:
    return (
        membership is not None
        and membership.role == Role.COMMUNE_ADMIN
        and commune.status == CommuneStatus.ACTIVE
    )


def is_commune_admin(user: Any, commune: Commune) -> bool:
    """Whether `user` may administer `commune`: the operator's staff (any operator role,
    as they provision and support every commune), or an active commune admin member of
    this commune while it is active. The pages' admin links, the admin-only views and
    the API ask this one question so that they cannot disagree."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_operator(user):
        return True
    return _administers(commune_membership(user, commune), commune)


def get_commune_for(user: Any, insee: str, *, admin: bool = False) -> Commune:
    """The commune `insee` if `user` may act on it, else Http404.

    `admin=True` asks the rule of `is_commune_admin` (operators always qualify).
    """
    commune = Commune.objects.filter(insee=insee).first()
    if commune is None or not user.is_authenticated:
        raise Http404
    if is_operator(user):
        return commune
    membership = commune_membership(user, commune)
    if membership is None or commune.status != CommuneStatus.ACTIVE:
        raise Http404
    if admin and not _administers(membership, commune):
        raise Http404
    return commune


def scoped(queryset: QuerySet[Any], user: Any) -> QuerySet[Any]:
    """Restrict any commune-owned queryset to what `user` may see."""
    if is_operator(user):
        return queryset
    return queryset.filter(commune__in=visible_communes(user))
