"""`clocher serve --roles`: what one node runs (issue 18, more than one node)."""

from __future__ import annotations

from click.testing import CliRunner

from clocher.cli import main
from clocher.core import supervisor


def test_an_extra_node_runs_web_and_tasks_only():
    names = [c.name for c in supervisor.core_children("127.0.0.1:0", 1, 2, frozenset({"web"}))]
    assert names == ["web", "courriels en attente"]
    both = supervisor.parse_roles("web, tasks")
    names = [c.name for c in supervisor.core_children("127.0.0.1:0", 1, 2, both)]
    assert names == ["web", "tâches 1", "tâches 2", "courriels en attente"]
    assert supervisor.parse_roles("all") == frozenset(supervisor.ROLES)


def test_an_unknown_role_is_refused_by_name():
    result = CliRunner().invoke(main, ["serve", "--roles", "web,mail"])
    assert result.exit_code == 1
    assert "rôle(s) inconnu(s) : mail" in result.output
    assert "web, tasks, daemons" in result.output


def test_behind_the_proxy_gunicorn_takes_the_client_address_from_it(settings):
    settings.PROXY_FROM = "192.0.2.10,192.0.2.11"
    (web,) = supervisor.core_children("127.0.0.1:0", 1, 1, frozenset({"web"}))[:1]
    assert web.argv[-3:] == ["--proxy-protocol", "--proxy-allow-from", "192.0.2.10,192.0.2.11"]
    settings.PROXY_FROM = ""
    (web,) = supervisor.core_children("127.0.0.1:0", 1, 1, frozenset({"web"}))[:1]
    assert "--proxy-protocol" not in web.argv
