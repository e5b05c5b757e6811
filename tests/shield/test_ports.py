"""Inbound ports a commune's boxes close (issue 21, « bloquer ce port »): the rule at the
central (who may, journal, policy), the box applying it from the signed policy, its
drops reported and counted in the monthly report; the CLI and the API."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from clocher.api.services import create_token
from clocher.cli import main
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry
from clocher.shield import report, services
from clocher.shield.models import PortRule
from clocher_box import nft
from clocher_box.agent import Agent
from tests.conftest import SYSTEM, logged_in

pytestmark = pytest.mark.django_db


def test_admin_closes_a_port_journalled_and_sent_to_the_boxes(commune_a, admin_a, make_box):
    box = make_box(commune_a)
    before = services.policy_version()
    rule = services.block_port(
        Actor(user=admin_a), commune_a, "3389", "TCP", ["198.51.100.7, 198.51.100.0/30"],
        origin="e-services : constat PORT_OPEN_3389",
    )  # fmt: skip
    assert (rule.port, rule.proto, rule.allowed) == (
        3389,
        "tcp",
        ["198.51.100.7/32", "198.51.100.0/30"],
    )
    assert rule.reason == "port 3389/tcp exposé sur Internet"
    assert services.policy_version() == before + 1
    entry = AuditEntry.objects.get(action="shield.port_blocked")
    assert entry.commune == commune_a and entry.data["origine"].startswith("e-services")

    policy = box.policy()  # signed, bound to the box, the new field inside
    assert policy["ports_blocked"] == [
        {"proto": "tcp", "port": 3389, "allow": ["198.51.100.7/32", "198.51.100.0/30"],
         "reason": "port 3389/tcp exposé sur Internet"}
    ]  # fmt: skip

    with pytest.raises(ValidationError, match="déjà fermé"):
        services.block_port(SYSTEM, commune_a, 3389)
    services.unblock_port(Actor(user=admin_a), rule)
    assert not PortRule.objects.exists()
    assert AuditEntry.objects.filter(action="shield.port_unblocked").count() == 1
    assert box.policy()["ports_blocked"] == []


@pytest.mark.parametrize(
    ("port", "proto", "allow", "message"),
    [
        ("0", "tcp", [], "n'est pas un numéro de port"),
        ("65536", "tcp", [], "n'est pas un numéro de port"),
        ("rdp", "tcp", [], "n'est pas un numéro de port"),
        ("3389", "icmp", [], "Protocole « icmp » inconnu"),
        ("3389", "tcp", ["pas-une-adresse"], "Source autorisée invalide"),
        ("3389", "tcp", ["10.0.0.0/4"], "trop large"),
    ],
)
def test_bad_input_is_refused_by_name_nothing_written(commune_a, port, proto, allow, message):
    with pytest.raises(ValidationError, match=message):
        services.block_port(SYSTEM, commune_a, port, proto, allow)
    assert (
        not PortRule.objects.exists()
        and not AuditEntry.objects.filter(action="shield.port_blocked").exists()
    )


def test_only_the_communes_admin_and_the_operator_may(
    commune_a, admin_a, agent_a, admin_b, operator_admin
):
    for outsider in (agent_a, admin_b):
        with pytest.raises(PermissionDenied):
            services.block_port(Actor(user=outsider), commune_a, 445)
    rule = services.block_port(Actor(user=operator_admin), commune_a, 445)
    for outsider in (agent_a, admin_b):
        with pytest.raises(PermissionDenied):
            services.unblock_port(Actor(user=outsider), rule)
    assert PortRule.objects.filter(pk=rule.pk).exists()
    services.unblock_port(Actor(user=admin_a), rule)
    assert not PortRule.objects.exists()


def test_the_box_keeps_the_rule_reports_it_and_ignores_what_it_cannot_read(tmp_path: Path):
    agent = Agent(tmp_path, nft.Layout(), enforce=False)
    try:
        agent.apply_policy({"allowlist": [], "blocklist": []})  # a central without the field
        assert agent.health()["ports_blocked"] == []
        agent.apply_policy(
            {
                "allowlist": [],
                "blocklist": [],
                "ports_blocked": [
                    {"proto": "tcp", "port": 3389, "allow": ["198.51.100.7"]},
                    {"proto": "udp", "port": 161},
                    {"proto": "icmp", "port": 1},  # skipped, logged
                    {"proto": "tcp", "port": 70000},
                    {"port": 22},
                    {"proto": "tcp", "port": 445, "allow": ["pas-une-adresse"]},
                ],
            }
        )
        assert agent.health()["ports_blocked"] == ["161/udp", "3389/tcp"]
        assert agent.state.get("ports_blocked")[1] == {
            "proto": "tcp",
            "port": 3389,
            "allow": ["198.51.100.7/32"],
        }
    finally:
        agent.close()


def test_port_drops_are_stored_and_the_report_counts_them_per_port(commune_a, make_box):
    box = make_box(commune_a)
    events = [
        box.event(source="203.0.113.7", scenario="port-block", detail="port 3389/tcp", flows=40),
        box.event(source="198.51.100.9", scenario="port-block", detail="port 3389/tcp", flows=2),
        box.event(source="203.0.113.7", scenario="port-block", detail="port 161/udp", flows=1),
        box.event(source="203.0.113.8", scenario="port-scan", flows=5),
    ]
    assert box.send(events).status_code == 200
    built = report.build(dt.date(2026, 11, 1), commune_a)
    assert [line.label for line in built.by_port] == [
        "port 3389 bloqué : 42 tentatives",
        "port 161/udp bloqué : 1 tentatives",
    ]
    assert "Port fermé par le boîtier" in [line.label for line in built.by_scenario]
    assert "port fermé;port 3389/tcp;port 3389 bloqué : 42 tentatives;42" in report.to_csv(built)


def test_cli_block_list_unblock(commune_a):
    runner = CliRunner()
    done = runner.invoke(main, ["shield", "port", "block", commune_a.insee, "3389"])
    assert done.exit_code == 0, done.output
    assert "Port 3389/tcp fermé" in done.output
    listed = runner.invoke(main, ["shield", "port", "list", commune_a.insee, "--json"])
    rows = json.loads(listed.output)
    assert [(r["port"], r["proto"], r["applied"]) for r in rows] == [(3389, "tcp", False)]
    again = runner.invoke(main, ["shield", "port", "block", commune_a.insee, "3389"])
    assert again.exit_code != 0 and "déjà fermé" in again.output
    gone = runner.invoke(main, ["shield", "port", "unblock", commune_a.insee, "3389"])
    assert gone.exit_code == 0 and "rouvert" in gone.output
    missing = runner.invoke(main, ["shield", "port", "unblock", commune_a.insee, "3389"])
    assert missing.exit_code != 0 and "n'est pas fermé" in missing.output


def test_api_lists_creates_and_deletes(commune_a, admin_a, make_box):
    box = make_box(commune_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {create_token(SYSTEM, admin_a, 't')[1]}")
    url = f"/api/v1/communes/{commune_a.insee}/shield/ports/"
    made = client.post(url, {"port": 3389, "allow": ["198.51.100.7"]}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["allow"] == ["198.51.100.7/32"] and made.json()["origin"] == "API"
    refused = client.post(url, {"port": 3389}, format="json")
    assert refused.status_code == 400 and "déjà fermé" in json.dumps(
        refused.json(), ensure_ascii=False
    )
    assert client.post(url, {"port": "x"}, format="json").status_code == 400
    assert client.get(url).json()["results"][0]["applied"] is False
    # Once the box says it drops the port (its heartbeat), the API shows it applied.
    box.signed(
        "POST", "/api/shield/heartbeat", {"version": "1", "health": {"ports_blocked": ["3389/tcp"]}}
    )
    assert client.get(url).json()["results"][0]["applied"] is True
    assert client.delete(f"{url}{made.json()['id']}/").status_code == 204
    assert client.get(url).json()["results"] == []


def test_shield_page_closes_and_reopens_a_port(commune_a, admin_a, admin_b):
    client = logged_in(admin_a)
    base = f"/c/{commune_a.insee}/bouclier/"
    assert "Aucun port fermé" in client.get(base).content.decode()
    refused = client.post(f"{base}ports/fermer", {"port": "rdp"}, follow=True)
    assert "n&#x27;est pas un numéro de port" in refused.content.decode()
    client.post(f"{base}ports/fermer", {"port": "3389", "allow": "198.51.100.7"})
    rule = PortRule.objects.get(commune=commune_a)
    page = client.get(base).content.decode()
    assert "3389/tcp" in page and "198.51.100.7/32" in page and "en attente du boîtier" in page
    assert logged_in(admin_b).post(f"{base}ports/{rule.pk}/rouvrir").status_code == 404
    client.post(f"{base}ports/{rule.pk}/rouvrir")
    assert not PortRule.objects.exists()


def test_departure_exports_then_purges_the_closed_ports(commune_a, tmp_path: Path):
    import zipfile

    from clocher.shield.hooks import export_shield, purge_shield

    services.block_port(SYSTEM, commune_a, 3389, allow=["198.51.100.7"])
    with zipfile.ZipFile(tmp_path / "depart.zip", "w") as archive:
        export_shield(commune_a, archive)
    with zipfile.ZipFile(tmp_path / "depart.zip") as archive:
        exported = json.loads(archive.read("bouclier/bouclier.json"))["ports_fermes"]
    assert [(p["port"], p["proto"], p["allow"]) for p in exported] == [
        (3389, "tcp", ["198.51.100.7/32"])
    ]
    purge_shield(commune_a)
    assert not PortRule.objects.exists()
