from __future__ import annotations

from django import forms

from clocher.core.models import Commune
from clocher.incidents.models import Incident, Severity


class OpenForm(forms.Form):
    title = forms.CharField(label="Intitulé", max_length=200)
    scope = forms.CharField(label="Périmètre (services, systèmes touchés)", widget=forms.Textarea)
    severity = forms.ChoiceField(label="Gravité", choices=Severity.choices, initial=Severity.MAJOR)
    communes = forms.ModelMultipleChoiceField(
        label="Communes touchées",
        queryset=Commune.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    notice = forms.CharField(
        label="Avis aux agents (vide : un avis par défaut)", widget=forms.Textarea, required=False
    )


class ActionForm(forms.Form):
    text = forms.CharField(label="Action menée", widget=forms.Textarea(attrs={"rows": 2}))


class NoticeForm(forms.Form):
    notice = forms.CharField(label="Avis aux agents", widget=forms.Textarea(attrs={"rows": 3}))


class CloseForm(forms.Form):
    summary = forms.CharField(
        label="Bilan", widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class BreachForm(forms.ModelForm):
    class Meta:
        model = Incident
        fields = [
            "personal_data", "nature", "person_categories", "persons_count",
            "data_categories", "records_count", "consequences", "measures",
        ]  # fmt: skip
        widgets = {
            name: forms.Textarea(attrs={"rows": 2})
            for name in ("nature", "person_categories", "data_categories", "consequences",
                         "measures")
        }  # fmt: skip
