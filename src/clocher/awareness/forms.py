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
