"""Schemathesis (the schema-driven fuzzer, from PyPI) against a live server, with a
commune admin's token, over every operation of the OpenAPI document: no server error,
no status or body the document does not list, no invalid input accepted.

The run is reproducible: fixed seed, deterministic generation, bounded examples per
operation. Path parameters are pinned to commune A and its real objects so that the
operations are exercised, not only answered 404.

The live server runs in a thread of this process on the test's own database connection
(as Django's LiveServerTestCase does for in-memory SQLite, here for PostgreSQL too), one
request at a time: what the fuzzer creates is rolled back with the test, and nothing
needs a flush (the archive's journal and seals refuse deletion by trigger).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.servers.basehttp import ThreadedWSGIServer
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections
from django.test.testcases import LiveServerThread

from clocher.accounts.services import create_app_password
from clocher.api.services import create_token
from clocher.archive import services as archive
from clocher.archive.models import RetentionRule
from clocher.core.audit import Actor
from clocher.core.models import Membership
from clocher.energy.demo import seed_demo_energy
from clocher.energy.models import Building
from clocher.eservices import services as eservices
from clocher.finance import services as finance
from clocher.forecast import services as forecast
from clocher.forecast.models import Forecast
from clocher.mail import services as mail
from clocher.shield import services as shield
from clocher.vault import services as vault
from clocher.vault import sharing

ACTOR = Actor(label="tests")
SEED = 20261205
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


def commune_objects(commune, admin, agent) -> dict[str, object]:
    """One object of each kind the API serves, in commune A, by path parameter name."""
    from clocher_box import protocol

    mailbox = mail.create_mailbox(ACTOR, commune, "fuzz.a@communes.cotedor.fr", user=agent)
    alias = mail.create_alias(ACTOR, commune, "conseil.fuzz@communes.cotedor.fr", [mailbox.address])
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune))
    node = vault.write_bytes(ACTOR, root, "compte-rendu.txt", b"conseil du 5 mai")
    share = sharing.create_share(ACTOR, node)
    rule = RetentionRule.objects.get(code="contrats-conventions")
    sealed = archive.deposit(
        ACTOR,
        commune,
        archive.DepositInput(
            "Contrat", rule.label, date(2024, 1, 2), "Le maire", rule, "contrat.pdf", b"%PDF-1.4 A"
        ),
    ).obj
    book = (
        "reference;preteur;nominal;date_debut;nombre_echeances;periodicite;taux\n"
        "E-2020-1;Banque;100000;01/01/2020;20;annuelle;3\n"
    )
    finance.import_loans(ACTOR, commune, book.encode(), "dette.csv")
    seed_demo_energy(ACTOR, commune)  # buildings with two years of readings, models, drifts
    school = Building.objects.get(commune=commune, name__startswith="École")
    eservices.add_target(ACTOR, commune, "mairie-fuzz.fr", "sel1")
    key = protocol.public_key_b64(protocol.new_private_key())
    box = shield.enroll(shield.issue_token(ACTOR, commune).token, key, "boitier-a", "0.1.0")
    return {
        "insee": commune.insee,
        "membership_id": Membership.objects.get(user=agent, commune=commune).pk,
        "mailbox_id": mailbox.pk,
        "alias_id": alias.pk,
        "node_id": node.pk,
        "share_id": share.link.pk,
        "object_id": sealed.pk,
        "box_id": str(box.pk),
        "port_rule_id": shield.block_port(ACTOR, commune, 3389).pk,
        "app_password_id": create_app_password(ACTOR, admin, "Téléphone").record.pk,
        "loan_id": finance.loans_of(commune).get().pk,
        "building_id": school.pk,
        "meter_id": school.meters.get(kind="gaz").pk,
    }


# The fuzzer's command line, run by this interpreter. With urllib3-future in the
# environment (niquests brings it; it replaces urllib3's modules), a pool manager's
# `pools` has no `keys()`, which Schemathesis reads to tell a dropped keep-alive
# connection: without that count it simply does not resend such a request.
RUNNER = """
import sys
import schemathesis.transport.requests as transport
from schemathesis.cli import schemathesis

counted = getattr(transport, "_count_opened_connections", None)


def tolerant(session):
    try:
        return counted(session)
    except AttributeError:
        return 0


if counted is not None:
    transport._count_opened_connections = tolerant
sys.argv[0] = "schemathesis"
sys.exit(schemathesis())
"""


def forecast_objects(commune) -> dict[str, dict[str, object]]:
    """A series and a queued forecast of it, pinned for the two operations that read them
    only: a run (`…/run/`) computes a forecast, seconds each, so its `series_id` is left
    to the fuzzer (404 but for a lucky draw)."""
    from tests.forecast.test_services import monthly_points

    series = forecast.series_from_points(
        ACTOR, commune, "fuzz:eau", "Eau", monthly_points(36), unit="m³"
    ).series
    queued = Forecast.objects.create(
        commune=commune, series=series, data_version=series.data_version, horizon=6
    )
    return {
        "communes_forecast_series_retrieve": {"series_id": series.pk},
        "communes_forecast_forecasts_retrieve": {"forecast_id": queued.pk},
    }


def _toml(values: dict[str, object]) -> str:
    """An inline table's content: `series_id = 12, …`."""
    return ", ".join(f"{name} = {value!r}" for name, value in values.items())


def config(
    parameters: dict[str, object],
    max_examples: int,
    coverage: bool,
    by_operation: dict[str, dict[str, object]] | None = None,
) -> str:
    pinned = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    operations = "".join(
        f"\n[[operations]]\ninclude-operation-id = {operation!r}\n"
        f"parameters = {{ {_toml(values)} }}\n"
        for operation, values in (by_operation or {}).items()
    )
    return f"""
seed = {SEED}
workers = 1
request-timeout = 120

[generation]
deterministic = true
max-examples = {max_examples}
mode = "all"

[phases.examples]
enabled = false

[phases.coverage]
enabled = {str(coverage).lower()}

[phases.stateful]
enabled = false

[parameters]
{pinned}
{operations}""".replace("'", '"')


class _KeepingServer(ThreadedWSGIServer):
    """Leaves the shared connection open after each request (its transaction is the
    test's)."""

    def _close_connections(self) -> None:
        pass


class _ServerThread(LiveServerThread):
    server_class = _KeepingServer


@pytest.fixture
def server_on_test_connection(db) -> Iterator[str]:
    """A live HTTP server (free port) answering on this test's connection and transaction;
    like Django's test client, requests do not close it at their start or end."""
    connection = connections["default"]
    connection.inc_thread_sharing()
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    thread = _ServerThread(
        "127.0.0.1", StaticFilesHandler, connections_override={"default": connection}, port=0
    )
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    try:
        if thread.error:
            raise thread.error
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        connection.dec_thread_sharing()


# Operations the commune admin may not use (403 to their token), fuzzed again with an
# operator admin's token once the admin's run is done.
OPERATOR_ONLY = (
    "communes_create",
    "communes_partial_update",
    "shield_boxes_list",
    "shield_report_retrieve",
)


def run_fuzzer(
    tmp_path: Path, name: str, url: str, token: str, settings: str, *selection: str
) -> None:
    """One Schemathesis run over the document written in `tmp_path`; its report stays
    there (`<name>.txt`) and its failures are the assertion's message."""
    config_file = tmp_path / f"{name}.toml"
    config_file.write_text(settings)
    command = [
        sys.executable,
        "-c",
        RUNNER,
        "--config-file",
        str(config_file),
        "--no-color",
        "run",
        str(tmp_path / "openapi.yaml"),
        "--url",
        url,
        "--checks",
        ",".join(CHECKS),
        "--header",
        f"Authorization: Bearer {token}",
        "--suppress-health-check",
        "all",
        *selection,
    ]
    report = tmp_path / f"{name}.txt"
    with report.open("w") as out:
        done = subprocess.run(  # noqa: S603 - our own command line
            command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False
        )
    text = report.read_text()
    failures = text[text.find("FAILURES") :] if "FAILURES" in text else text[-20000:]
    assert done.returncode == 0, f"{report}:\n{failures[:30000]}"


@pytest.mark.slow
def test_fuzzer_finds_no_error_with_a_commune_admin_token(
    server_on_test_connection: str, commune_a, admin_a, agent_a, operator_admin, tmp_path: Path
) -> None:
    parameters = commune_objects(commune_a, admin_a, agent_a)
    # The document /api/v1/schema/ serves, written here: generating it takes seconds, more
    # than the fuzzer's fixed 10 s timeout for fetching it on a loaded machine.
    call_command("spectacular", "--file", str(tmp_path / "openapi.yaml"))
    settings = config(
        parameters,
        int(os.environ.get("CLOCHER_FUZZ_EXAMPLES", "6")),
        coverage=os.environ.get("CLOCHER_FUZZ_COVERAGE") == "1",
        by_operation=forecast_objects(commune_a),
    )
    url = server_on_test_connection
    _, token = create_token(ACTOR, admin_a, "schemathesis")
    run_fuzzer(tmp_path, "commune-admin", url, token, settings)
    _, token = create_token(ACTOR, operator_admin, "schemathesis")
    only = [arg for operation in OPERATOR_ONLY for arg in ("--include-operation-id", operation)]
    run_fuzzer(tmp_path, "operator-admin", url, token, settings, *only)
