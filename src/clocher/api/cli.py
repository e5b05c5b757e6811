"""API token commands."""

from __future__ import annotations

import click
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail
from clocher.core.terminal import json_option, show


@click.group()
def token() -> None:
    """Jetons de l'API JSON."""


@token.command("create")
@click.argument("email")
@click.option("--name", required=True, help="À quoi sert le jeton.")
@click.option("--expires-days", type=int, default=None, help="Expiration (jours).")
def create(email: str, name: str, expires_days: int | None) -> None:
    """Crée un jeton pour EMAIL et l'affiche une seule fois."""
    from clocher.accounts.models import User
    from clocher.api.services import create_token

    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        fail(f"Aucun compte pour {email}.")
        return
    _, clear = create_token(cli_actor(), user, name, expires_days)
    console.print("Jeton (affiché une seule fois) :")
    click.echo(clear)


@token.command("list")
@click.argument("email", required=False)
@json_option
def list_tokens(email: str | None, as_json: bool) -> None:
    """Liste les jetons (de EMAIL si donné)."""
    from clocher.api.models import ApiToken

    qs = ApiToken.objects.select_related("user")
    if email:
        qs = qs.filter(user__email__iexact=email)
    table = Table(title="Jetons de l'API")
    for column in ("id", "compte", "nom", "début", "expire", "dernier usage", "état"):
        table.add_column(column)
    for t in qs:
        table.add_row(
            str(t.pk),
            t.user.email,
            t.name,
            t.prefix + "…",
            f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "—",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "jamais",
            "révoqué" if t.revoked_at else "actif",
        )
    show(table, as_json)


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
def revoke(token_id: int) -> None:
    """Révoque un jeton (effet immédiat)."""
    from clocher.api.models import ApiToken
    from clocher.api.services import revoke_token

    record = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if record is None:
        fail(f"Jeton {token_id} inconnu.")
        return
    revoke_token(cli_actor(), record)
    console.print(f"Jeton {token_id} révoqué.")


def register(group: click.Group) -> None:
    group.add_command(token)
