from __future__ import annotations

from django import forms


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="Adresse électronique",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label="Mot de passe",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code à 6 chiffres",
        max_length=10,
        help_text="Le code affiché par votre application d'authentification.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class AppPasswordForm(forms.Form):
    name = forms.CharField(
        label="Nom de l'appareil",
        max_length=100,
        help_text="Par exemple « Téléphone » ou « Thunderbird du bureau ».",
    )


class InvitationForm(forms.Form):
    full_name = forms.CharField(label="Nom complet", max_length=200)
    password = forms.CharField(
        label="Mot de passe",
        strip=False,
        help_text="Au moins 12 caractères, pas un mot de passe courant.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label="Confirmez le mot de passe",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "Les deux mots de passe ne correspondent pas.")
        return data
