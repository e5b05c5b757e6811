from __future__ import annotations

from django import forms

from clocher.forecast.services import MAX_HORIZON


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Fichier de la série (CSV ou XLSX)",
        help_text="Une colonne de dates, une colonne de valeurs ; d'autres colonnes "
        "numériques servent de variables explicatives. 5 Mo au plus.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )
    name = forms.CharField(
        label="Nom de la série",
        max_length=200,
        required=False,
        help_text="Par défaut, le nom du fichier. Un nom déjà utilisé met à jour cette série.",
    )
    unit = forms.CharField(
        label="Unité", max_length=40, required=False, help_text="Par exemple « repas » ou « m³ »."
    )


class RunForm(forms.Form):
    horizon = forms.IntegerField(
        label="Horizon (nombre de périodes à prévoir)",
        min_value=1,
        max_value=MAX_HORIZON,
        initial=12,
    )
