from __future__ import annotations

from rest_framework import serializers

from clocher.api.strict import StrictSerializer
from clocher.core.models import COMMUNE_ROLES, Commune, CommuneStatus, Membership

ROLE_CHOICES = [r.value for r in COMMUNE_ROLES]


class CommuneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Commune
        fields = [
            "insee",
            "siren",
            "name",
            "slug",
            "department_code",
            "population",
            "status",
            "quota_storage_bytes",
            "quota_mailboxes",
            "quota_members",
            "created_at",
            "activated_at",
        ]
        read_only_fields = fields


class CommuneCreateSerializer(StrictSerializer):
    insee = serializers.CharField(max_length=5)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    siren = serializers.CharField(max_length=11, required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(
        choices=[CommuneStatus.APPLIED, CommuneStatus.ACTIVE], default=CommuneStatus.APPLIED
    )


# The columns' ranges (PostgreSQL's integer and bigint): a larger quota would be a
# database error, not a 400 naming the field.
INT_MAX, BIGINT_MAX = 2**31 - 1, 2**63 - 1


class CommuneUpdateSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=CommuneStatus.choices, required=False)
    quota_storage_bytes = serializers.IntegerField(
        min_value=0, max_value=BIGINT_MAX, required=False
    )
    quota_mailboxes = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False)
    quota_members = serializers.IntegerField(min_value=1, max_value=INT_MAX, required=False)


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    commune = serializers.CharField(source="commune.insee", read_only=True, allow_null=True)

    class Meta:
        model = Membership
        fields = [
            "id",
            "email",
            "full_name",
            "commune",
            "role",
            "title",
            "is_active",
            "created_at",
            "deactivated_at",
        ]
        read_only_fields = fields


class MemberCreateSerializer(StrictSerializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=ROLE_CHOICES)
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    title = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class MemberCreatedSerializer(MembershipSerializer):
    """The new membership; `invitation_sent` says whether a one-time link was mailed to
    the person (true) or, for an account that already exists, a notice (false)."""

    invitation_sent = serializers.BooleanField(read_only=True)

    class Meta(MembershipSerializer.Meta):
        fields = [*MembershipSerializer.Meta.fields, "invitation_sent"]
        read_only_fields = fields


class MemberUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=ROLE_CHOICES, required=False)
    is_active = serializers.BooleanField(required=False)


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    full_name = serializers.CharField()
    totp_enabled = serializers.BooleanField()
    memberships = MembershipSerializer(many=True)
