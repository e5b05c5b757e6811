"""The configuration templates say every setting, and one installation's runtime paths are
its own: a setting added to settings.py without its line in `clocher init`'s `.env` is
invisible to an operator; a key of the node template that no code reads is a typo."""

from __future__ import annotations

import re
from pathlib import Path

from clocher.core import supervisor
from clocher.core.cli import ENV_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "clocher"
# What settings.py reads: env("X"…), env_int("X"…), env_bool(…) (possibly over lines),
# and CLOCHER_X read straight from the environment anywhere in the server's code.
READ = re.compile(r"\benv(?:_\w+)?\(\s*\"([A-Z0-9_]+)\"")
DIRECT = re.compile(r"environ(?:\.get)?\(\s*\"CLOCHER_([A-Z0-9_]+)\"")
# Set by the test runner for its workers, not an operator's setting.
INTERNAL = {"TEST_RUN_DATA_DIR"}


def settings_read() -> set[str]:
    names = set(READ.findall((SRC / "settings.py").read_text()))
    for path in SRC.rglob("*.py"):
        names |= set(DIRECT.findall(path.read_text()))
    return names - INTERNAL


def keys_in(text: str) -> set[str]:
    return set(re.findall(r"^#? ?CLOCHER_([A-Z0-9_]+)=", text, re.MULTILINE))


def test_every_setting_is_in_the_env_template():
    read = settings_read()
    # The reader finds what it must (a regression of the pattern would pass vacuously).
    assert {"SHARED_DIR", "STAGING_S3_BUCKET", "SHIELD_CENTRAL_KEY_FILE", "MAIL_DIR"} <= read
    assert {"WEB_WORKERS", "ROLES"} <= read
    documented = keys_in(ENV_TEMPLATE)
    assert read - documented == set(), "absents du modèle .env de clocher init"
    assert documented - read == set(), "dans le modèle .env mais lus nulle part"


def test_node_template_has_the_shared_settings_and_no_unknown_key():
    text = (ROOT / "deploy" / "clocher-node.env.example").read_text()
    keys = keys_in(text)
    assert {"SHARED_DIR", "STAGING_S3_BUCKET", "SHIELD_CENTRAL_KEY_FILE"} <= keys
    assert keys - settings_read() == set()


def test_gunicorn_control_socket_is_per_data_dir(settings, tmp_path):
    sockets = []
    for name in ("premiere", "seconde"):
        settings.DATA_DIR = tmp_path / name
        web = supervisor.core_children("127.0.0.1:0", 1, 1, frozenset({"web"}))[0]
        assert web.name == "web"
        sockets.append(Path(web.argv[web.argv.index("--control-socket") + 1]))
    assert sockets[0] != sockets[1]
    assert sockets[0] == tmp_path / "premiere" / "run" / "gunicorn.ctl"
    # Too deep for a Unix socket path: a short name, still one per data dir.
    settings.DATA_DIR = tmp_path / ("x" * 120)
    deep = supervisor.control_socket()
    settings.DATA_DIR = tmp_path / ("y" * 120)
    assert len(str(deep)) < 100 and deep != supervisor.control_socket()
