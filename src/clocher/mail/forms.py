from __future__ import annotations

from django import forms

from clocher.mail.models import MailboxKind


class MailboxForm(forms.Form):
    local_part = forms.CharField(
        label="Adresse (avant le @)", max_length=64, help_text="Par exemple prenom.nom ou accueil."
    )
    domain = forms.ChoiceField(label="Domaine")
    kind = forms.ChoiceField(
        label="Type", choices=MailboxKind.choices, initial=MailboxKind.PERSONAL
    )
    member = forms.ChoiceField(
        label="Personne qui ouvre la boîte",
        required=False,
        help_text="Ses mots de passe d'application ouvrent la boîte.",
    )
    quota_mb = forms.IntegerField(
        label="Quota (Mio)", min_value=10, max_value=1_000_000, initial=2048
    )

    def __init__(
        self, *args: object, domains: list[str], members: list[tuple[str, str]], **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["domain"].choices = [(d, f"@{d}") for d in domains]  # type: ignore[attr-defined]
        self.fields["member"].choices = [("", "— aucune —"), *members]  # type: ignore[attr-defined]


class AliasForm(forms.Form):
    local_part = forms.CharField(label="Adresse de l'alias (avant le @)", max_length=64)
    domain = forms.ChoiceField(label="Domaine")
    destinations = forms.CharField(
        label="Destinations",
        max_length=2000,
        help_text="Une ou plusieurs adresses séparées par des virgules (redirection externe "
        "possible).",
    )

    def __init__(self, *args: object, domains: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["domain"].choices = [(d, f"@{d}") for d in domains]  # type: ignore[attr-defined]


class OutOfOfficeForm(forms.Form):
    enabled = forms.BooleanField(label="Activer la réponse d'absence", required=False)
    subject = forms.CharField(label="Objet", max_length=200, required=False, initial="Absence")
    body = forms.CharField(
        label="Message", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 5})
    )
