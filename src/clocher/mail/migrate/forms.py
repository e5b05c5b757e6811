"""The page's form: a remote IMAP account to bring into a mailbox."""

from __future__ import annotations

import ipaddress

from django import forms


class ImapImportForm(forms.Form):
    host = forms.CharField(
        label="Serveur IMAP de l'ancien fournisseur",
        max_length=253,
        help_text="Par exemple imap.orange.fr ou outlook.office365.com.",
    )
    port = forms.IntegerField(label="Port", min_value=1, max_value=65535, initial=993)
    security = forms.ChoiceField(
        label="Chiffrement",
        choices=[("tls", "TLS (port 993)"), ("starttls", "STARTTLS (port 143)")],
        initial="tls",
    )
    user = forms.CharField(label="Identifiant du compte", max_length=254)
    password = forms.CharField(
        label="Mot de passe (ou mot de passe d'application)",
        max_length=500,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Gardé chiffré le temps de l'import, effacé à la fin.",
    )

    def clean_host(self) -> str:
        host = self.cleaned_data["host"].strip().lower()
        try:  # an IPv6 address, with or without its brackets
            return str(ipaddress.IPv6Address(host.removeprefix("[").removesuffix("]")))
        except ValueError:
            pass
        if not host or any(c in host for c in "/@: "):
            raise forms.ValidationError("Nom de serveur invalide (sans « imaps:// » ni port).")
        return host
