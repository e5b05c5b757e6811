"""Every command answers --help, every listing answers --json, and piped tables are whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

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
    # Reports and look-ups a script reads too (issue 13): one object, or rows.
    "shield report",
    "finance report",
    "mail dns",
    "energy reference",
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


@pytest.mark.django_db
def test_reports_print_one_json_object(commune_a):
    """`--json` on a report: one document on stdout, amounts as exact decimal strings,
    remarks ("PDF écrit") on stderr."""
    from clocher.mail import services as mail_services

    runner = CliRunner()
    shield = runner.invoke(main, ["shield", "report", "--month", "2026-11", "--json"])
    assert shield.exit_code == 0, shield.output
    monthly = json.loads(shield.output)
    assert monthly["month"] == "2026-11" and monthly["commune"] is None
    assert monthly["flows"] == 0 and isinstance(monthly["by_country"], list)
    assert monthly["summary"].startswith("0 flux malveillants bloqués en novembre 2026")
    debt = runner.invoke(main, ["finance", "report", "21271", "--year", "2027", "--json"])
    assert debt.exit_code == 0, debt.output
    annex = json.loads(debt.output)
    assert (annex["year"], annex["closing"], annex["loans"]) == (2027, "2026-12-31", [])
    assert Decimal(annex["outstanding"]) == 0
    shared = mail_services.shared_domain().name
    records = json.loads(runner.invoke(main, ["mail", "dns", shared, "--json"]).output)
    mx = next(r for r in records if r["type"] == "MX")
    assert mx["name"] == shared and mx["status"] == "non vérifié"
