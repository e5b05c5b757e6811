"""Forms of the debt pages (the engine validates the contracts themselves)."""

from __future__ import annotations

from django import forms


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Fichier des emprunts (CSV ou TOTEM XML)",
        help_text="CSV « ; » aux colonnes documentées, ou l'annexe « état de la dette » du "
        "budget au format TOTEM. 10 Mo au plus. Un seul emprunt illisible : rien n'est importé.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xml,text/csv,application/xml"}),
    )


class SavingsForm(forms.Form):
    year = forms.IntegerField(label="Année", min_value=1990, max_value=2100, required=False)
    amount = forms.DecimalField(
        label="Épargne brute (€)", max_digits=18, decimal_places=2, required=False, localize=True
    )
    file = forms.FileField(
        label="ou fichier des comptes (CSV)",
        required=False,
        help_text="Colonnes « année » et « épargne brute », ou « année », « recettes réelles "
        "de fonctionnement » et « dépenses réelles de fonctionnement ».",
    )

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        if not data.get("file") and (data.get("year") is None or data.get("amount") is None):
            raise forms.ValidationError("Indiquez l'année et le montant, ou envoyez un fichier.")
        return data


class RefinanceForm(forms.Form):
    on = forms.DateField(
        label="Date du remboursement anticipé", input_formats=["%Y-%m-%d", "%d/%m/%Y"]
    )
    new_rate = forms.DecimalField(
        label="Nouveau taux fixe (%)", max_digits=7, decimal_places=4, localize=True
    )
    market_rate = forms.DecimalField(
        label="Taux de marché pour l'indemnité actuarielle (%)",
        max_digits=7,
        decimal_places=4,
        required=False,
        localize=True,
    )
    fees = forms.DecimalField(
        label="Frais de dossier (€)", max_digits=18, decimal_places=2, required=False, localize=True
    )


class IndexForm(forms.Form):
    file = forms.FileField(label="Historique d'index (CSV Banque de France ou EMMI)")
    index = forms.CharField(
        label="Index de la série (fichier Banque de France)",
        required=False,
        help_text="Par exemple « Livret A » ou « EURIBOR_3M » ; inutile pour un fichier EMMI.",
    )


class CurveForm(forms.Form):
    name = forms.CharField(label="Nom de la courbe", max_length=120)
    as_of = forms.DateField(label="Date de la courbe", input_formats=["%Y-%m-%d", "%d/%m/%Y"])
    points = forms.CharField(
        label="Points « index;date;valeur en % », un par ligne",
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Par exemple « EURIBOR_3M;2027-01-01;2,35 ».",
    )
