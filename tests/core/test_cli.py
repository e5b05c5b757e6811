"""The `clocher` command as an operator uses it: real process, real data dir."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from django.core import mail

from clocher.accounts.models import Invitation
from clocher.cli import main
from clocher.core.models import AuditEntry, Commune, Membership
from tests.conftest import invitation_links


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.django_db
def test_commune_add_prefills_from_reference(runner, operator):
    result = runner.invoke(main, ["commune", "add", "--insee", "21271", "--siren", "212102719"])
    assert result.exit_code == 0, result.output
    commune = Commune.objects.get(insee="21271")
    assert commune.name == "Flavigny-sur-Ozerain"
    assert commune.department_code == "21"
    assert commune.population and commune.population > 100
    assert AuditEntry.objects.filter(action="commune.created", commune=commune).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--insee", "2100"], "Code INSEE invalide"),
        (["--insee", "20004"], "2A ou 2B"),
        (["--insee", "99999"], "inconnu du référentiel"),
        (["--insee", "21271", "--siren", "212102718"], "Luhn"),
        (["--insee", "21271", "--siren", "12345"], "9 chiffres"),
    ],
)
def test_commune_add_refuses_bad_input_with_a_clear_message(runner, operator, args, message):
    result = runner.invoke(main, ["commune", "add", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert not Commune.objects.exists()


@pytest.mark.django_db
def test_duplicate_commune_is_refused(runner, commune_a):
    result = runner.invoke(main, ["commune", "add", "--insee", commune_a.insee])
    assert result.exit_code == 1
    assert "déjà enregistrée" in result.output
    assert Commune.objects.filter(insee=commune_a.insee).count() == 1


@pytest.mark.django_db
def test_corsican_code_is_accepted(runner, operator):
    result = runner.invoke(main, ["commune", "add", "--insee", "2A004", "--active"])
    assert result.exit_code == 0, result.output
    assert Commune.objects.get(insee="2A004").name == "Ajaccio"


@pytest.mark.django_db
def test_commune_list_json(runner, commune_a, commune_b):
    result = runner.invoke(main, ["commune", "list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert {r["insee"] for r in rows} == {commune_a.insee, commune_b.insee}


@pytest.mark.django_db
def test_member_add_mails_a_new_account_its_invitation(
    runner, commune_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = runner.invoke(
            main, ["member", "add", commune_a.insee, "Agent@Flavigny.test", "--role", "agent"]
        )
    assert result.exit_code == 0, result.output
    # The operator on the server may see the link of the account it has just created.
    assert "envoyée par courriel à agent@flavigny.test" in result.output
    assert invitation_links(result.output) == invitation_links(mail.outbox[0].body)
    assert [m.to for m in mail.outbox] == [["agent@flavigny.test"]]
    membership = Membership.objects.get(commune=commune_a, user__email="agent@flavigny.test")
    assert membership.role == "agent"
    again = runner.invoke(
        main, ["member", "add", commune_a.insee, "agent@flavigny.test", "--role", "agent"]
    )
    assert again.exit_code == 1 and "déjà membre" in again.output


@pytest.mark.django_db
def test_member_add_of_another_communes_mailbox_account_prints_no_link(
    runner, commune_a, commune_b, django_capture_on_commit_callbacks
):
    """Issue 12, defect 1, as shown on the demo."""
    address = "jean.dupont@communes.cotedor.fr"
    mailbox = runner.invoke(main, ["mail", "mailbox", "add", address, "--commune", "21716"])
    assert mailbox.exit_code == 0, mailbox.output
    with django_capture_on_commit_callbacks(execute=True):
        result = runner.invoke(main, ["member", "add", "21271", address, "--role", "agent"])
    assert result.exit_code == 0, result.output
    assert not invitation_links(result.output) and "sans lien" in result.output
    # Vougeot's own invitation (its mailbox made him its agent); none from Flavigny.
    assert list(Invitation.objects.values_list("commune", flat=True)) == [commune_b.pk]
    assert Membership.objects.filter(commune=commune_a, user__email=address).exists()
    assert [m.to for m in mail.outbox] == [[address]]
    assert "ajouté(e) à Flavigny-sur-Ozerain" in mail.outbox[0].body
    assert not invitation_links(mail.outbox[0].body)


@pytest.mark.django_db
def test_member_add_unknown_role_is_refused(runner, commune_a):
    result = runner.invoke(main, ["member", "add", commune_a.insee, "x@y.test", "--role", "boss"])
    assert result.exit_code == 2
    assert not Membership.objects.filter(user__email="x@y.test").exists()


def test_every_command_has_help(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "serve", "check", "commune", "member", "audit"):
        assert command in result.output
        sub = runner.invoke(main, [command, "--help"])
        assert sub.exit_code == 0, (command, sub.output)


# click's own English words, which the help and the errors must not show.
ENGLISH = ("Usage:", "Options:", "Commands:", "Show this", "Show the", "[default", "[required")
ENGLISH += ("Error:", "Try '")
ENGLISH_TYPES = re.compile(r"\b(TEXT|INTEGER|FLOAT|DIRECTORY|FILE|PATH)\b( RANGE)?  ")


def _command_paths(group: click.Group, path: list[str]) -> list[list[str]]:
    paths = [path]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if isinstance(sub, click.Group):
            paths += _command_paths(sub, [*path, name])
        else:
            paths.append([*path, name])
    return paths


def test_every_help_is_in_french(runner):
    paths = _command_paths(main, [])
    assert ["vault", "usage"] in paths and ["archive", "audit"] in paths
    for path in paths:
        result = runner.invoke(main, [*path, "--help"], prog_name="clocher")
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith("Utilisation : clocher"), (path, result.output)
        assert "Affiche cette aide et quitte." in result.output, path
        for word in ENGLISH:
            assert word not in result.output, (path, word, result.output)
        assert not ENGLISH_TYPES.search(result.output), (path, result.output)


@pytest.mark.parametrize(
    ("args", "command", "message"),
    [
        (["commune", "add"], "commune add", "Option « --insee » manquante."),
        (["commune", "lst"], "commune", "Commande « lst » inconnue."),
        (["audit", "tail", "-n", "x"], "audit tail", "Valeur invalide pour « -n » : « x »"),
        (["member", "add", "21271"], "member add", "Argument « EMAIL » manquant."),
    ],
)
def test_usage_errors_are_in_french(runner, args, command, message):
    result = runner.invoke(main, args, prog_name="clocher")
    assert result.exit_code == 2
    assert f"Erreur : {message}" in result.output
    assert f"Essayez « clocher {command} --help » pour l'aide." in result.output
    for word in ENGLISH:
        assert word not in result.output, (word, result.output)


def test_a_group_without_its_command_shows_its_help(runner):
    result = runner.invoke(main, ["commune"], prog_name="clocher")
    assert "Utilisation : clocher commune [OPTIONS] COMMANDE [ARGUMENTS]..." in result.output
    assert "Commandes :" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clocher(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clocher.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_init_serve_check_end_to_end(tmp_path: Path):
    """`clocher init --demo`, `clocher serve`, then `clocher check --json` all green."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
    env.update(
        CLOCHER_DATA_DIR=str(tmp_path / "data"),
        CLOCHER_BIND=f"127.0.0.1:{port}",
        CLOCHER_FILES_BIND=f"127.0.0.1:{_free_port()}",
        CLOCHER_BASE_URL=f"http://127.0.0.1:{port}",
    )
    # The mail daemons too, on free ports, with a spool they can traverse.
    names = (
        "SMTP",
        "SUBMISSION",
        "IMAP",
        "IMAPS",
        "SIEVE",
        "LMTP",
        "AUTH",
        "QUOTA_STATUS",
        "MILTER",
    )
    env.update({f"CLOCHER_MAIL_{name}_PORT": str(_free_port()) for name in names})
    spool = Path(tempfile.mkdtemp(prefix="clocher-mail-"))
    env["CLOCHER_MAIL_DIR"] = str(spool / "mail")
    env["CLOCHER_WEBMAIL_DIR"] = str(spool / "webmail")  # PHP traverses to it, as Dovecot
    init = _clocher("init", "--demo", env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "admin@cotedor.fr" in init.stdout
    env_file = tmp_path / "data" / "clocher.env"
    assert "CLOCHER_DATABASE_URL" in env_file.read_text()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0

    down = _clocher("check", "--json", env=env)
    assert down.returncode == 1
    assert {c["component"]: c["ok"] for c in json.loads(down.stdout)}["web"] is False

    serve = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "clocher.cli", "serve", "--web-workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 150  # a loaded 2-core machine
        while True:
            check = _clocher("check", "--json", env=env)
            if check.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        components = json.loads(check.stdout)
        assert check.returncode == 0, components
        assert {c["component"] for c in components} >= {
            "base de données",
            "web",
            "fichiers (WebDAV)",
            "tâches de fond",
            "smtp (postfix)",
            "imap (dovecot)",
        }
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:  # noqa: S310
            page = html.unescape(response.read().decode())
            assert "Côte-d'Or" in page
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    assert serve.returncode == 0
