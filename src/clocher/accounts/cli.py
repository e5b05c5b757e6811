"""Account commands: app passwords, unlocking, TOTP reset."""

from __future__ import annotations

import click
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail
from clocher.core.terminal import json_option, show


def _user(email: str):  # type: ignore[no-untyped-def]
    from clocher.accounts.models import User

    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        fail(f"Aucun compte pour {email}.")
    return user


@click.group()
def user() -> None:
    """Comptes : mots de passe d'application, déblocage, double authentification."""


@user.command("app-password")
@click.argument("email")
@click.option("--name", required=True, help="Nom de l'appareil (ex. « Téléphone »).")
def app_password(email: str, name: str) -> None:
    """Crée un mot de passe d'application et l'affiche une seule fois."""
    from clocher.accounts import services

    created = services.create_app_password(cli_actor(), _user(email), name)
    console.print(f"Mot de passe pour « {created.record.name} » (affiché une seule fois) :")
    click.echo(created.clear)


@user.command("app-passwords")
@click.argument("email")
@json_option
def app_passwords(email: str, as_json: bool) -> None:
    """Liste les mots de passe d'application d'un compte."""
    from clocher.accounts.models import AppPassword

    table = Table(title=f"Mots de passe d'application de {email}")
    for column in ("id", "appareil", "début", "créé", "dernier usage", "état"):
        table.add_column(column)
    for r in AppPassword.objects.filter(user=_user(email)):
        table.add_row(
            str(r.pk),
            r.name,
            r.prefix + "…",
            f"{r.created_at:%Y-%m-%d}",
            f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "jamais",
            "révoqué" if r.revoked_at else "actif",
        )
    show(table, as_json)


@user.command("revoke-app-password")
@click.argument("email")
@click.argument("password_id", metavar="ID", type=int)
def revoke_app_password(email: str, password_id: int) -> None:
    """Révoque un mot de passe d'application (effet immédiat)."""
    from clocher.accounts import services
    from clocher.accounts.models import AppPassword

    record = AppPassword.objects.filter(pk=password_id, user=_user(email)).first()
    if record is None:
        fail(f"Mot de passe d'application {password_id} inconnu pour {email}.")
        return
    services.revoke_app_password(cli_actor(), record)
    console.print(f"« {record.name} » révoqué.")


@user.command("unlock")
@click.argument("email")
def unlock(email: str) -> None:
    """Lève le blocage après trop d'échecs de connexion."""
    from clocher.accounts import services

    cleared = services.unlock(cli_actor(), email)
    console.print(f"{cleared} échec(s) oublié(s) : {email} peut se reconnecter.")


@user.command("reset-totp")
@click.argument("email")
def reset_totp(email: str) -> None:
    """Réinitialise la double authentification (téléphone perdu)."""
    from clocher.accounts import services

    services.reset_totp(cli_actor(), _user(email))
    console.print(f"Double authentification de {email} réinitialisée.")


def register(group: click.Group) -> None:
    group.add_command(user)
