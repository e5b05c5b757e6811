"""`clocher operator`: the first operator account of a production install (issue 18).

Without --demo, nothing else creates an account: the installer registers the operator,
adds its first admin, who gets a one-time link by the platform's own mail and must
enrol TOTP before reaching any page.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner
from django.core import mail
from django.test import Client
from django.urls import reverse

from clocher.accounts.models import Invitation, User
from clocher.cli import main
from clocher.core.models import AuditEntry, Membership
from tests.conftest import PASSWORD, invitation_links

NEW_PASSWORD = "Clocher-opérateur-2025!"


def _clocher(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "clocher.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_production_init_then_operator_add_end_to_end(tmp_path: Path):
    """Real processes on a fresh data dir: init says what next, add mails and prints a link."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
    data = tmp_path / "data"
    env["CLOCHER_DATA_DIR"] = str(data)
    env["COLUMNS"] = "200"  # tables not wrapped
    # The platform's own mail with no Postfix behind it: the invitation waits in the
    # outbox spool, exactly as on a server before `clocher serve` first runs.
    env["CLOCHER_SMTP_HOST"] = "127.0.0.1"
    env["CLOCHER_SMTP_PORT"] = "9"  # discard: nothing listens there, the mail is spooled
    init = _clocher("init", env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "clocher operator setup" in init.stdout
    assert "créez le premier compte opérateur : clocher operator add" in init.stdout

    early = _clocher("operator", "add", "chef@cotedor.fr", "--role", "operator_admin", env=env)
    assert early.returncode == 1 and "clocher operator setup" in early.stdout

    setup = _clocher(
        "operator", "setup", "Département de la Côte-d'Or", "--mail-domain",
        "communes.cotedor.fr", "--department", "21", env=env,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout + setup.stderr
    add = _clocher(
        "operator", "add", "Chef@CoteDor.fr", "--role", "operator_admin",
        "--name", "Claire Chef", env=env,
    )  # fmt: skip
    assert add.returncode == 0, add.stdout + add.stderr
    printed = invitation_links(add.stdout.replace("\n", ""))
    assert len(printed) == 1
    spooled = [p.read_text() for p in (data / "outbox").rglob("*") if p.is_file()]
    mailed = [text for text in spooled if "chef@cotedor.fr" in text]
    assert len(mailed) == 1 and invitation_links(mailed[0].replace("=\n", "")) == printed

    listed = _clocher("operator", "list", env=env)
    assert listed.returncode == 0
    assert "chef@cotedor.fr" in listed.stdout and "à configurer" in listed.stdout
    again = _clocher("init", env=env)
    assert "créez le premier compte" not in again.stdout  # an admin exists now


@pytest.mark.django_db
def test_operator_add_invitation_accepted_then_totp_enrolment_forced(
    operator, django_capture_on_commit_callbacks
):
    runner = CliRunner()
    with django_capture_on_commit_callbacks(execute=True):
        result = runner.invoke(
            main, ["operator", "add", "chef@cotedor.fr", "--role", "operator_admin"]
        )
    assert result.exit_code == 0, result.output
    assert [m.to for m in mail.outbox] == [["chef@cotedor.fr"]]
    (link,) = invitation_links(mail.outbox[0].body)
    assert invitation_links(result.output) == [link]
    membership = Membership.objects.get(user__email="chef@cotedor.fr", commune=None)
    assert membership.role == "operator_admin"
    assert AuditEntry.objects.filter(action="operator.member_added").count() == 1

    client = Client()
    accepted = client.post(
        link,
        {"full_name": "Claire Chef", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )
    assert accepted.status_code == 302
    assert accepted.headers["Location"] == reverse("accounts:totp_setup")
    # No page of the operator's console before the second factor is set up.
    blocked = client.get(reverse("core:operator_dashboard"))
    assert blocked.status_code == 302
    assert blocked.headers["Location"].startswith(reverse("accounts:totp_setup"))
    assert client.get(reverse("accounts:totp_setup")).status_code == 200
    user = User.objects.get(email="chef@cotedor.fr")
    code = pyotp.TOTP(user.totp_secret).now()
    client.post(reverse("accounts:totp_setup"), {"action": "confirm", "code": code})
    assert client.get(reverse("core:operator_dashboard")).status_code == 200
    # The link was burnt: a replay sets nothing.
    assert client.get(link).status_code == 410
    assert Invitation.objects.get().used_at is not None


@pytest.mark.django_db
def test_operator_add_of_an_existing_account_prints_no_link(
    operator, agent_a, django_capture_on_commit_callbacks
):
    """An account with a password (here a commune's agent) gets a notice, never a link."""
    runner = CliRunner()
    with django_capture_on_commit_callbacks(execute=True):
        result = runner.invoke(
            main, ["operator", "add", agent_a.email, "--role", "operator_support"]
        )
    assert result.exit_code == 0, result.output
    assert not invitation_links(result.output) and "sans lien" in result.output
    assert not invitation_links(mail.outbox[0].body)
    assert not Invitation.objects.exists()
    agent_a.refresh_from_db()
    assert agent_a.check_password(PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["pas-une-adresse", "--role", "operator_admin"], 1, "Adresse électronique invalide"),
        (["x@y.test", "--role", "agent"], 2, "operator_admin"),
    ],
)
def test_operator_add_refuses_bad_input(operator, args, code, message):
    result = CliRunner().invoke(main, ["operator", "add", *args])
    assert result.exit_code == code
    assert message in result.output
    assert not Membership.objects.exists()
