"""The webmail's pieces that need no mail server: the configuration `clocher serve`
writes (checked by php-fpm and PHP themselves) and what `/webmail/` serves from disk.
The whole path, browser to Dovecot, is tests/mail/test_webmail.py."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from django.db import connection

from clocher.core import supervisor
from clocher.groupware.webmail import hooks, roundcube, sso
from clocher.groupware.webmail.front import WebmailFront

MAIL = SimpleNamespace(imap_port=10143, submission_port=10587, sieve_port=14190)


def use_webmail_dir(settings, tmp_path) -> Path:
    """In the data dir, which PHP (www-data) may traverse, unlike pytest's tmp_path."""
    settings.WEBMAIL_DIR = Path(settings.DATA_DIR) / f"webmail-{tmp_path.name}"
    return settings.WEBMAIL_DIR


@pytest.fixture
def webmail_dir(settings, tmp_path):
    use_webmail_dir(settings, tmp_path)
    roundcube.prepare(MAIL, "http://127.0.0.1:8000")  # type: ignore[arg-type]
    return settings.WEBMAIL_DIR


def call(
    app: WebmailFront, path: str, query: str = "", host: str = "localhost"
) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(
        app(
            {
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": "GET",
                "wsgi.input": io.BytesIO(),
                "wsgi.url_scheme": "http",
                "HTTP_HOST": host,
                "REMOTE_ADDR": "127.0.0.1",
            },
            start_response,
        )
    )
    return answer["status"], answer["headers"], body


def test_configuration_is_valid_for_php_fpm_and_php(webmail_dir):
    fpm = subprocess.run(roundcube.fpm_argv() + ["--test"], capture_output=True, text=True)  # noqa: S603
    assert fpm.returncode == 0, fpm.stderr
    config = webmail_dir / "config" / "config.inc.php"
    lint = subprocess.run(["php", "-l", str(config)], capture_output=True, text=True)  # noqa: S603, S607
    assert lint.returncode == 0, lint.stdout
    text = config.read_text()
    for expected in (
        "$config['language'] = 'fr_FR';",
        "$config['imap_host'] = '127.0.0.1:10143';",
        "$config['oauth_provider'] = 'generic';",
        "$config['oauth_token_uri'] = 'http://127.0.0.1:8000/oauth/jeton';",
        f"$config['oauth_client_secret'] = '{sso.secret('client')}';",
        "'clocher'",  # the colours' plugin
    ):
        assert expected in text
    assert oct(config.stat().st_mode & 0o777) == "0o640"  # secrets inside


def test_static_files_only_from_public_html(webmail_dir):
    app = WebmailFront(roundcube.public_html(), str(webmail_dir / "run" / "absent.sock"))
    status, headers, body = call(app, "/webmail/plugins/clocher/clocher.css")
    assert status == "200 OK" and headers["Content-Type"] == "text/css"
    assert b"#000091" in body  # the platform's blue
    assert call(app, "/webmail/skins/elastic/styles/styles.min.css")[0] == "200 OK"
    for path in (
        "/webmail/../config/config.inc.php",
        "/webmail/plugins/clocher/clocher.php",  # PHP is never sent as a file
        "/webmail/plugins/../../config/config.inc.php",
        "/webmail/program/include/iniset.php",
    ):
        status, _, body = call(app, path)
        assert status == "404 Not Found", path
        assert b"oauth_client_secret" not in body
    # PHP goes to php-fpm; when it is not there, a French answer says so.
    status, _, body = call(app, "/webmail/", "_task=mail")
    assert status == "503 Service Unavailable"
    assert "ne répond pas" in body.decode()
    assert call(app, "/webmail")[1]["Location"] == "/webmail/"


@pytest.mark.django_db
def test_serve_starts_php_fpm_and_roundcube_sends_the_browser_to_clocher(settings, tmp_path):
    use_webmail_dir(settings, tmp_path)
    (child,) = hooks.webmail_daemons()  # what `clocher serve` supervises
    process = subprocess.Popen(child.argv, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        app = WebmailFront(roundcube.public_html(), str(roundcube.socket_path()))
        deadline = time.monotonic() + 120
        while True:  # php-fpm starting on a loaded machine
            status, headers, _ = call(app, "/webmail/", "_task=login&_action=oauth", "mairie.test")
            if not status.startswith("503") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status.startswith("302"), status
        location = headers["Location"]
        assert location.startswith("http://mairie.test/oauth/autoriser?response_type=code")
        assert "redirect_uri=http%3A%2F%2Fmairie.test%2Fwebmail%2Findex.php%2Flogin%2Foauth" in (
            location
        )
        assert "roundcube_sessid=" in headers.get("Set-Cookie", "")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _database_url() -> str:
    """The test database, for a node started beside the test."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the node writes too (the shield's key check)
def test_a_web_role_node_serves_the_webmail(settings, tmp_path):
    """`clocher serve --roles web`, a node without Postfix and Dovecot, starts php-fpm
    beside its web server: its /webmail/ is Roundcube, sending the browser to Clocher's
    login, not a 503; its Roundcube reaches the mail node named by
    CLOCHER_WEBMAIL_MAIL_HOST, in STARTTLS."""
    assert hooks.webmail_daemons in supervisor._web_factories
    assert hooks.webmail_daemons not in supervisor._factories
    port = _free_port()
    data = Path(settings.DATA_DIR) / f"noeud-web-{tmp_path.name}"  # not tmp_path: see above
    data.mkdir()
    data.chmod(0o711)  # PHP (www-data) traverses to the node's webmail directory
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
    env.update(
        CLOCHER_DATA_DIR=str(data),
        CLOCHER_DATABASE_URL=_database_url(),
        CLOCHER_BIND=f"127.0.0.1:{port}",
        CLOCHER_FILES_BIND=f"127.0.0.1:{_free_port()}",
        CLOCHER_BASE_URL=f"http://127.0.0.1:{port}",
        CLOCHER_SMTP_HOST="file",
        CLOCHER_WEBMAIL_MAIL_HOST="192.0.2.25",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        node = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "clocher.cli", "serve", "--roles", "web", "--web-workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/webmail/?_task=login&_action=oauth"
    try:
        deadline = time.monotonic() + 180  # Django, then php-fpm, on a loaded machine
        answer = None
        while time.monotonic() < deadline and node.poll() is None:
            try:
                answer = requests.get(url, allow_redirects=False, timeout=60)
                if answer.status_code != 503:
                    break
            except requests.RequestException:  # not listening yet
                pass
            time.sleep(0.5)
        assert answer is not None, log.read_text()[-3000:]
        assert answer.status_code == 302, (answer.status_code, log.read_text()[-3000:])
        assert answer.headers["Location"].startswith(
            f"http://127.0.0.1:{port}/oauth/autoriser?response_type=code"
        )
        children = json.loads((data / "run" / "state.json").read_text())["children"]
        assert "webmail (php-fpm)" in children
        assert not any("postfix" in n.lower() or "dovecot" in n.lower() for n in children)
        config = (data / "webmail" / "config" / "config.inc.php").read_text()
        assert "$config['imap_host'] = 'tls://192.0.2.25:" in config
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(timeout=30)
