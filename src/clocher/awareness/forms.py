from __future__ import annotations

from django import forms
from django.utils import timezone

from clocher.awareness.models import Enrolment


class ProgrammeForm(forms.Form):
    enabled = forms.BooleanField(label="Programme actif", required=False)
    enrolment = forms.ChoiceField(label="Participation des agents", choices=Enrolment.choices)
    notice = forms.CharField(
        label="Note d'information aux agents (montrée à chacun avant tout exercice)",
        widget=forms.Textarea(attrs={"rows": 10}),
    )


class CampaignForm(forms.Form):
    name = forms.CharField(label="Nom de la campagne", max_length=120)
    starts_on = forms.DateField(
        label="Premier jour d'envoi",
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    days = forms.IntegerField(label="Jours ouvrés d'envoi", min_value=1, max_value=20, initial=3)


class TemplateForm(forms.Form):
    """A new template, checked by `services.add_template` (placeholders, {lien}, tells)."""

    slug = forms.SlugField(label="Identifiant (lettres, chiffres, tirets)", max_length=60)
    name = forms.CharField(label="Nom", max_length=120)
    sender_name = forms.CharField(label="Nom affiché de l'expéditeur", max_length=120)
    sender_address = forms.CharField(label="Adresse affichée de l'expéditeur", max_length=254)
    subject = forms.CharField(label="Objet", max_length=200)
    body = forms.CharField(
        label="Corps ({prenom}, {commune}, {commune_slug} ; {lien} obligatoire)",
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    landing_title = forms.CharField(label="Titre de la fausse page", max_length=120)
    sender_credibility = forms.TypedChoiceField(
        label="Expéditeur",
        coerce=int,
        choices=[(0, "grossier"), (1, "imitation"), (2, "plausible")],
    )
    urgent = forms.BooleanField(label="Urgence", required=False)
    # Not `errors`: that is the form's own attribute.
    with_errors = forms.BooleanField(label="Fautes", required=False)
    personalised = forms.BooleanField(label="Personnalisé (prénom)", required=False)
    tells = forms.CharField(
        label="Indices à enseigner (un par ligne)", widget=forms.Textarea(attrs={"rows": 4})
    )

    def spec(self) -> dict[str, object]:
        data = dict(self.cleaned_data)
        data["errors"] = data.pop("with_errors")
        data["tells"] = [line.strip() for line in data["tells"].splitlines() if line.strip()]
        return data
