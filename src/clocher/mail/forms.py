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
        help_text="Ses mots de passe d'application ouvrent la boîte. Sans personne choisie, "
        "une boîte personnelle fait de son adresse un agent de la commune, invité par courriel.",
    )
    invite_to = forms.EmailField(
        label="Adresse pour l'invitation",
        required=False,
        help_text="Pour une nouvelle personne : son adresse actuelle (souvent l'ancienne adresse "
        "de la mairie). Le lien pour choisir son mot de passe y est envoyé, puisque la nouvelle "
        "boîte ne peut pas être lue avant. Sans elle, l'invitation arrive dans la nouvelle boîte.",
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


class ForwardForm(forms.Form):
    forward_to = forms.EmailField(
        label="Transférer les messages à",
        required=False,
        help_text="Laissez vide pour ne pas transférer.",
    )
    keep_copy = forms.BooleanField(
        label="Garder une copie dans la boîte", required=False, initial=True
    )


class DelegatesForm(forms.Form):
    delegates = forms.MultipleChoiceField(
        label="Lecture et écriture",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Ils classent, suppriment et déposent des messages, et peuvent aussi ouvrir "
        "la boîte à son adresse avec leurs propres mots de passe d'application.",
    )
    readers = forms.MultipleChoiceField(
        label="Lecture seule",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Ils lisent les messages sans rien changer. Cochée dans les deux listes, "
        "une personne a la lecture et l'écriture.",
    )

    def __init__(self, *args: object, members: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for name in ("delegates", "readers"):
            self.fields[name].choices = members  # type: ignore[attr-defined]


class DomainForm(forms.Form):
    name = forms.CharField(
        label="Nom de domaine de la commune",
        max_length=253,
        help_text="Par exemple mairie-flavigny.fr. Il reçoit le courrier dès que son MX pointe "
        "vers nos serveurs.",
    )
