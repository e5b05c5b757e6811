from __future__ import annotations

from django import forms

from clocher.onboarding.models import SERVICE_CHOICES


class ApplicationForm(forms.Form):
    insee = forms.CharField(
        label="Code INSEE de la commune",
        max_length=5,
        help_text="5 caractères, par exemple 21271 (2A ou 2B en Corse).",
    )
    siren = forms.CharField(
        label="SIREN de la commune",
        max_length=11,
        required=False,
        help_text="9 chiffres, facultatif.",
    )
    contact_name = forms.CharField(label="Votre nom", max_length=200)
    contact_role = forms.CharField(
        label="Votre fonction",
        max_length=120,
        required=False,
        help_text="Par exemple « Secrétaire de mairie » ou « Maire ».",
    )
    contact_email = forms.EmailField(label="Votre adresse électronique")
    contact_phone = forms.CharField(label="Téléphone", max_length=30, required=False)
    agents_count = forms.IntegerField(
        label="Nombre d'agents et d'élus à équiper", min_value=1, max_value=5000
    )
    services = forms.MultipleChoiceField(
        label="Services souhaités", choices=SERVICE_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    message = forms.CharField(
        label="Message", required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )
    consent = forms.BooleanField(
        label="J'accepte que ces informations soient traitées par le Département pour "
        "instruire la demande d'adhésion."
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Motif du refus (envoyé à la commune)",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class DepartForm(forms.Form):
    confirm_name = forms.CharField(
        label="Recopiez le nom de la commune pour confirmer", max_length=200
    )
