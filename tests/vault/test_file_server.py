"""The file server beside gunicorn (`clocher.vault.dav.server`): where it listens, how
`clocher serve` starts it, and whose address it believes. Served for real, with rclone
and Nextcloud's headers: tests/vault/test_dav_clients.py."""

from __future__ import annotations

from typing import Any

from clocher.vault.dav import server
from clocher.vault.hooks import file_server


def test_it_listens_beside_the_web_port_unless_told(settings):
    settings.FILES_BIND = ""
    settings.BIND = "127.0.0.1:8000"
    assert server.files_bind() == "127.0.0.1:8001"
    settings.BIND = "[::1]:9000"
    assert server.files_bind() == "[::1]:9001"
    settings.FILES_BIND = "0.0.0.0:8443"
    assert server.files_bind() == "0.0.0.0:8443"


def test_clocher_serve_starts_granian_with_the_platform_application(settings, monkeypatch):
    settings.FILES_BIND = "[::1]:18001"
    monkeypatch.setenv("CLOCHER_WEB_WORKERS", "3")
    monkeypatch.delenv("CLOCHER_FILES_WORKERS", raising=False)
    writer, child = file_server()
    assert writer.argv[1:] == ["-m", "clocher.cli", "vault", "writer"]
    argv = child.argv
    assert argv[1:4] == ["-m", "granian", "--interface"]
    assert "clocher.files_wsgi:application" in argv
    assert argv[argv.index("--host") + 1] == "::1" and argv[argv.index("--port") + 1] == "18001"
    assert argv[argv.index("--workers") + 1] == "3"


def _seen(app: Any, environ: dict[str, Any]) -> str:
    seen: list[str] = []

    def platform(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(env["REMOTE_ADDR"])
        return []

    server.behind_proxy(platform, app)(environ, lambda *a: None)
    return seen[0]


def test_only_the_proxy_names_the_client():
    proxies = frozenset({"10.0.0.2"})
    forwarded = {"HTTP_X_FORWARDED_FOR": "198.51.100.7, 203.0.113.9"}
    # HAProxy appends the client it saw: its last hop is the one to believe.
    assert _seen(proxies, {"REMOTE_ADDR": "10.0.0.2", **forwarded}) == "203.0.113.9"
    # Anyone else naming an address keeps their own.
    assert _seen(proxies, {"REMOTE_ADDR": "192.0.2.50", **forwarded}) == "192.0.2.50"
    assert _seen(frozenset(), {"REMOTE_ADDR": "10.0.0.2", **forwarded}) == "10.0.0.2"
    assert _seen(proxies, {"REMOTE_ADDR": "10.0.0.2"}) == "10.0.0.2"
