from __future__ import annotations

from django import forms

from clocher.core.models import COMMUNE_ROLES, CommuneStatus

ROLE_CHOICES = [(r.value, r.label) for r in COMMUNE_ROLES]


class InviteMemberForm(forms.Form):
    email = forms.EmailField(label="Adresse électronique", max_length=254)
    full_name = forms.CharField(label="Nom complet", max_length=200, required=False)
    role = forms.ChoiceField(label="Rôle", choices=ROLE_CHOICES, initial="agent")
    title = forms.CharField(
        label="Fonction",
        max_length=120,
        required=False,
        help_text="Par exemple « Secrétaire de mairie » ou « Adjoint aux finances ».",
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Rôle", choices=ROLE_CHOICES)


class QuotaForm(forms.Form):
    storage_gib = forms.IntegerField(label="Stockage (Gio)", min_value=0, max_value=100_000)
    mailboxes = forms.IntegerField(label="Boîtes aux lettres", min_value=0, max_value=100_000)
    members = forms.IntegerField(label="Membres", min_value=1, max_value=100_000)


class CommuneFilterForm(forms.Form):
    q = forms.CharField(label="Nom ou code INSEE", required=False, max_length=100)
    status = forms.ChoiceField(
        label="Statut", required=False, choices=[("", "Tous")] + list(CommuneStatus.choices)
    )


class MembersImportForm(forms.Form):
    file = forms.FileField(
        label="Fichier CSV",
        help_text="Colonnes : email ; nom ; role ; fonction. "
        "Séparateur « ; » ou « , ». 5 000 lignes au plus.",
    )
