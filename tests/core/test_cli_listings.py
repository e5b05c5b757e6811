"""Every command answers --help, every listing answers --json, and piped tables are whole."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from clocher.cli import main
from clocher.core import services
from clocher.core.models import Role
from tests.conftest import SYSTEM

# Listings that are not named "list": each prints rows a script may want.
LISTINGS = {
    "audit tail",
    "check",
    "energy buildings",
    "finance indicators",
    "finance schedule",
    "mail traffic",
    "shield boxes",
    "user app-passwords",
    "vault usage",
    "archive rules",
}


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group, info_name="clocher")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


@pytest.fixture(scope="module")
def commands() -> dict[str, click.Command]:
    return dict(_commands(main))


def test_every_command_has_help(commands):
    runner = CliRunner()
    for path, _ in sorted(commands.items()):
        result = runner.invoke(main, [*path.split(), "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output or "Utilisation" in result.output, path


def test_every_listing_accepts_json(commands):
    listings = {p for p in commands if p.endswith("list") or p in LISTINGS}
    assert set(commands) >= LISTINGS, LISTINGS - set(commands)
    missing = [
        p
        for p in sorted(listings)
        if "--json" not in [o for param in commands[p].params for o in getattr(param, "opts", [])]
    ]
    assert not missing, f"sans --json : {missing}"


@pytest.mark.django_db
def test_listings_print_json_that_parses(commune_a):
    long_address = "secretariat.general.de.la.mairie@flavigny-sur-ozerain.example.fr"
    services.add_member(SYSTEM, commune_a, long_address, Role.COMMUNE_ADMIN, invite=False)
    runner = CliRunner()
    members = runner.invoke(main, ["member", "list", "21271", "--json"])
    assert members.exit_code == 0, members.output
    assert json.loads(members.output) == [
        {"email": long_address, "name": "", "role": "commune_admin", "active": True}
    ]
    communes = json.loads(runner.invoke(main, ["commune", "list", "--json"]).output)
    assert [(c["insee"], c["status"]) for c in communes] == [("21271", "active")]
    for listing in (
        ["operator", "list"],
        ["mail", "mailbox", "list"],
        ["token", "list"],
        ["audit", "tail", "-n", "3"],
        ["shield", "allow", "list"],
        ["shield", "feed", "list"],
        ["archive", "rules"],
    ):
        result = runner.invoke(main, [*listing, "--json"])
        assert result.exit_code == 0, (listing, result.output)
        assert isinstance(json.loads(result.output), list), listing
    tail = json.loads(runner.invoke(main, ["audit", "tail", "-n", "1", "--json"]).output)
    assert set(tail[0]) == {"n°", "date", "qui", "action", "commune", "objet"}


@pytest.mark.django_db
def test_piped_table_keeps_whole_addresses_and_french_statuses(commune_a):
    """Not a terminal (CliRunner, `| cat`): nothing is cut to 80 columns."""
    long_address = "secretariat.general.de.la.mairie@flavigny-sur-ozerain.example.fr"
    services.add_member(SYSTEM, commune_a, long_address, Role.COMMUNE_ADMIN, invite=False)
    listed = CliRunner().invoke(main, ["member", "list", "21271"])
    assert listed.exit_code == 0, listed.output
    assert long_address in listed.output
    communes = CliRunner().invoke(main, ["commune", "list"]).output
    assert "Active" in communes and "active" not in communes.replace("Active", "")
