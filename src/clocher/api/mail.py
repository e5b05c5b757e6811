"""JSON API of the mail service (mounted under /api/v1/ by `clocher.api.urls`).

Scoped as the commune's mail page (`mail.views.commune_mail`): its admin and the
operator's staff (`scoping.get_commune_for(…, admin=True)`), 404 to anyone else, agents
included. Each change is one service call of `clocher.mail.services`, which journals it.

- ``GET    communes/{insee}/mail/mailboxes/`` — ``{"count", "next", "previous",
  "results": [{"id", "address", "kind", "owner", "quota_bytes", "is_active",
  "created_at"}]}``.
- ``POST   communes/{insee}/mail/mailboxes/`` — ``{"address", "kind", "owner",
  "quota_bytes"}`` → 201 the mailbox. Without ``owner``, a personal mailbox makes its
  address an agent of the commune (invited by mail), as the page does; ``owner`` must
  be a member of the commune. 400 ``{"detail"}`` (address taken or malformed, domain
  not the commune's, quota of mailboxes reached) and nothing created.
- ``GET    communes/{insee}/mail/mailboxes/{mailbox_id}/`` — the mailbox, with
  ``used_bytes`` (Dovecot's count; null before its first message).
- ``PATCH  communes/{insee}/mail/mailboxes/{mailbox_id}/`` — ``{"quota_bytes"}``.
- ``POST   communes/{insee}/mail/mailboxes/{mailbox_id}/disable/`` (and ``enable/``) —
  IMAP and SMTP refuse it at once; its messages stay.
- ``GET    communes/{insee}/mail/aliases/`` — ``[{"id", "address", "destinations"}]``.
- ``POST   communes/{insee}/mail/aliases/`` — ``{"address", "destinations": [...]}``.
- ``GET|DELETE communes/{insee}/mail/aliases/{alias_id}/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.api.common import ApiView, ListCreateView, RetrieveUpdateView, actor
from clocher.api.strict import StrictSerializer
from clocher.core import scoping
from clocher.core.models import Commune, Membership
from clocher.mail import services
from clocher.mail.models import Alias, Mailbox, MailboxKind

MIB = 1024**2
# The page's bounds (`MailboxForm.quota_mb`: 10 Mio to 1,000,000 Mio), in bytes here.
QUOTA_MIN, QUOTA_MAX = 10 * MIB, 1_000_000 * MIB


class MailboxSerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(
        source="user.email", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Mailbox
        fields = ["id", "address", "kind", "owner", "quota_bytes", "is_active", "created_at"]
        read_only_fields = fields


class MailboxDetailSerializer(MailboxSerializer):
    used_bytes = serializers.SerializerMethodField()

    class Meta(MailboxSerializer.Meta):
        fields = [*MailboxSerializer.Meta.fields, "used_bytes"]
        read_only_fields = fields

    def get_used_bytes(self, obj: Mailbox) -> int | None:
        return services.mailbox_usage(obj)


def _quota(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=QUOTA_MIN, max_value=QUOTA_MAX, **kwargs)


class MailboxCreateSerializer(StrictSerializer):
    address = serializers.CharField(max_length=254)
    kind = serializers.ChoiceField(choices=MailboxKind.choices, default=MailboxKind.PERSONAL)
    owner = serializers.EmailField(required=False, help_text="Un membre de la commune.")
    invite_to = serializers.EmailField(
        required=False,
        help_text="Sans `owner`, pour un nouveau compte : l'adresse actuelle de la personne, "
        "où envoyer son invitation (la nouvelle boîte ne peut pas être lue avant).",
    )
    quota_bytes = _quota(default=services.DEFAULT_QUOTA)


class MailboxUpdateSerializer(StrictSerializer):
    quota_bytes = _quota()


class AliasSerializer(serializers.ModelSerializer):
    destinations = serializers.SerializerMethodField()

    class Meta:
        model = Alias
        fields = ["id", "address", "destinations", "is_active", "created_at"]
        read_only_fields = fields

    def get_destinations(self, obj: Alias) -> list[str]:
        return [d for d in obj.destinations.split(",") if d]


class AliasCreateSerializer(StrictSerializer):
    address = serializers.CharField(max_length=254)
    destinations = serializers.ListField(
        child=serializers.EmailField(), min_length=1, max_length=100
    )


def _commune(request: Request, insee: str) -> Commune:
    return scoping.get_commune_for(request.user, insee, admin=True)


def _mailbox(request: Request, insee: str, mailbox_id: int) -> Mailbox:
    commune = _commune(request, insee)
    return get_object_or_404(Mailbox.objects.select_related("user"), pk=mailbox_id, commune=commune)


class MailboxListView(ListCreateView):
    serializer_class = MailboxSerializer
    create_serializer_class = MailboxCreateSerializer

    def get_items(self) -> list[Mailbox]:
        return services.mailboxes_of(self.get_parent())

    def get_parent(self) -> Commune:
        return _commune(self.request, self.kwargs["insee"])

    def perform_create(self, parent: Commune, values: Mapping[str, Any]) -> Mailbox:
        owner = values.get("owner")
        if (
            owner
            and not Membership.objects.filter(commune=parent, user__email__iexact=owner).exists()
        ):
            raise ValidationError(f"{owner} n'est pas membre de {parent.name}.")
        return services.open_mailbox(
            actor(self.request),
            parent,
            values["address"],
            owner_email=owner,
            kind=values["kind"],
            quota_bytes=values["quota_bytes"],
            invite_to=values.get("invite_to"),
        )


class MailboxDetailView(RetrieveUpdateView):
    serializer_class = MailboxDetailSerializer
    update_serializer_class = MailboxUpdateSerializer

    def get_object(self) -> Mailbox:
        return _mailbox(self.request, self.kwargs["insee"], self.kwargs["mailbox_id"])

    def perform_update(self, obj: Mailbox, values: Mapping[str, Any]) -> None:
        services.set_quota(actor(self.request), obj, values["quota_bytes"])


class MailboxActivationView(ApiView):
    """POST …/disable/ or …/enable/: `active` is set by the URL pattern."""

    serializer_class = MailboxSerializer
    active = False

    @extend_schema(request=None, responses=MailboxSerializer)
    def post(self, request: Request, insee: str, mailbox_id: int) -> Response:
        mailbox = _mailbox(request, insee, mailbox_id)
        services.set_mailbox_active(actor(request), mailbox, self.active)
        return Response(MailboxSerializer(mailbox).data)


class AliasListView(ListCreateView):
    serializer_class = AliasSerializer
    create_serializer_class = AliasCreateSerializer

    def get_items(self) -> list[Alias]:
        return services.aliases_of(self.get_parent())

    def get_parent(self) -> Commune:
        return _commune(self.request, self.kwargs["insee"])

    def perform_create(self, parent: Commune, values: Mapping[str, Any]) -> Alias:
        return services.create_alias(
            actor(self.request), parent, values["address"], values["destinations"]
        )


class AliasDetailView(ApiView):
    serializer_class = AliasSerializer

    def _alias(self, request: Request, insee: str, alias_id: int) -> Alias:
        return get_object_or_404(Alias, pk=alias_id, commune=_commune(request, insee))

    @extend_schema(responses=AliasSerializer)
    def get(self, request: Request, insee: str, alias_id: int) -> Response:
        return Response(AliasSerializer(self._alias(request, insee, alias_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, insee: str, alias_id: int) -> Response:
        services.delete_alias(actor(request), self._alias(request, insee, alias_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
