"""The one place that decides what a user may see: every user-facing query goes here.

A commune's pages and API answer 404 to anyone who is not an active member of it (or
an operator), so that another tenant cannot even learn that an object exists.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from clocher.core.models import (
    OPERATOR_ROLES,
    Commune,
    CommuneStatus,
    Membership,
    Role,
)


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


def commune_membership(user: Any, commune: Commune) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, commune=commune, is_active=True).first()


def get_commune_for(user: Any, insee: str, *, admin: bool = False) -> Commune:
    """The commune `insee` if `user` may act on it, else Http404.

    `admin=True` requires the commune admin role (operators always qualify).
    """
    commune = Commune.objects.filter(insee=insee).first()
    if commune is None or not user.is_authenticated:
        raise Http404
    if is_operator(user):
        return commune
    membership = commune_membership(user, commune)
    if membership is None or commune.status != CommuneStatus.ACTIVE:
        raise Http404
    if admin and membership.role != Role.COMMUNE_ADMIN:
        raise Http404
    return commune


def scoped(queryset: QuerySet[Any], user: Any) -> QuerySet[Any]:
    """Restrict any commune-owned queryset to what `user` may see."""
    if is_operator(user):
        return queryset
    return queryset.filter(commune__in=visible_communes(user))
