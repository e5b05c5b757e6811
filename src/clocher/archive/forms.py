from __future__ import annotations

from typing import Any

from django import forms

from clocher.archive.models import FinalFate, RetentionRule


class DepositForm(forms.Form):
    title = forms.CharField(label="Intitulé de l'acte", max_length=300)
    rule = forms.ModelChoiceField(
        label="Type de document (règle de conservation)",
        queryset=RetentionRule.objects.all(),
        help_text="Détermine la durée de conservation et le sort final.",
    )
    kind = forms.CharField(
        label="Nature de l'acte",
        max_length=200,
        required=False,
        help_text="Par défaut, le type de document choisi ci-dessus.",
    )
    act_date = forms.DateField(
        label="Date de l'acte", widget=forms.DateInput(attrs={"type": "date"})
    )
    author = forms.CharField(
        label="Auteur", max_length=200, help_text="Par exemple « Le maire » ou « Le conseil »."
    )
    file = forms.FileField(
        label="Fichier à archiver",
        required=False,
        help_text="PDF/A de préférence. Ou choisissez un fichier du coffre-fort ci-dessous.",
    )
    vault_file = forms.TypedChoiceField(
        label="… ou un fichier du coffre-fort", coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args: Any, vault_files: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["vault_file"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "—"), *vault_files]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("file")) == bool(data.get("vault_file")):
            raise forms.ValidationError(
                "Joignez un fichier, ou choisissez un fichier du coffre-fort (l'un des deux)."
            )
        return data


class ProposalForm(forms.Form):
    reason = forms.CharField(
        label="Motif de la proposition", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )


class VisaForm(forms.Form):
    decision = forms.ChoiceField(
        label="Décision", choices=[("approve", "Viser l'élimination"), ("refuse", "Refuser")]
    )
    note = forms.CharField(
        label="Observation", widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class RuleForm(forms.Form):
    years = forms.IntegerField(
        label="Durée (ans)",
        min_value=1,
        max_value=200,
        required=False,
        help_text="Vide : illimitée.",
    )
    final_fate = forms.ChoiceField(label="Sort final", choices=FinalFate.choices)
    source = forms.CharField(label="Référence", max_length=300, required=False)


class RetentionChangeForm(forms.Form):
    rule = forms.ModelChoiceField(
        label="Nouvelle règle (prolongation seulement)", queryset=RetentionRule.objects.all()
    )
