"""Forms of the energy pages (labels in French; the services check the rules)."""

from __future__ import annotations

from typing import Any

from django import forms

from clocher.energy.models import Energy, ImportKind, Meter, MeterKind, Use


class BuildingForm(forms.Form):
    name = forms.CharField(label="Nom du bâtiment", max_length=120)
    use = forms.ChoiceField(label="Usage", choices=Use.choices)
    floor_area_m2 = forms.FloatField(label="Surface de plancher (m²)", min_value=1)
    year_built = forms.IntegerField(
        label="Année de construction", required=False, min_value=1000, max_value=2100
    )
    heating_energy = forms.ChoiceField(label="Énergie de chauffage", choices=Energy.choices)
    address = forms.CharField(label="Adresse", max_length=250, required=False)
    lat = forms.FloatField(label="Latitude", required=False, help_text="Ex. : 47,51")
    lon = forms.FloatField(label="Longitude", required=False, help_text="Ex. : 4,57")
    reference_year = forms.IntegerField(
        label="Année de référence (2010 à 2019)",
        required=False,
        help_text="Vide : la plus favorable des années connues.",
    )


class MeterForm(forms.Form):
    kind = forms.ChoiceField(label="Nature", choices=MeterKind.choices)
    identifier = forms.CharField(
        label="Identifiant", max_length=40, help_text="PDL ou PCE : 14 chiffres."
    )


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label="Type de fichier", choices=[c for c in ImportKind.choices if c[0] != "meteo"]
    )
    meter = forms.TypedChoiceField(label="Compteur", coerce=int)
    file = forms.FileField(label="Fichier CSV")

    def __init__(self, *args: Any, meters: list[Meter], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["meter"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(m.pk, f"{m.building.name} — {m}") for m in meters]


class OperatForm(forms.Form):
    annee = forms.IntegerField(label="Année déclarée", min_value=2010, max_value=2100)


class ReferenceYearForm(forms.Form):
    """The building's reference year among its complete years of 2010–2019, each shown
    with its consumption (the service refuses a year without data, naming it)."""

    annee = forms.IntegerField(label="Année de référence", required=False)

    def __init__(self, *args: Any, candidates: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[Any, str]] = [("", "La plus favorable (choix automatique)")]
        for c in candidates:
            measured = f"{c.kwh:,.0f}".replace(",", "\u202f")
            adjusted = f"{c.adjusted_kwh:,.0f}".replace(",", "\u202f")
            choices.append(
                (c.year, f"{c.year} : {measured} kWh mesurés, {adjusted} kWh corrigés du climat")
            )
        self.fields["annee"].widget = forms.Select(choices=choices)
