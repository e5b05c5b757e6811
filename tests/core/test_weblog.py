"""gunicorn's access line built from the fields its format names (`core/weblog.py`,
issue 14): the same line as gunicorn's own logger, and gunicorn's way for any other
format."""

from __future__ import annotations

import base64
import datetime

from gunicorn import glogging
from gunicorn.config import Config

from clocher.core.weblog import AccessLog


class _Response:
    status = "207 Multi-Status"
    sent = 1234
    headers = [("Content-Type", "text/xml"), ("ETag", '"e"')]


class _Request:
    headers = [("USER-AGENT", 'Mozilla/5.0 "x"'), ("DEPTH", "1")]


ENVIRON = {
    "REMOTE_ADDR": "192.0.2.7",
    "REQUEST_METHOD": "PROPFIND",
    "RAW_URI": "/remote.php/dav/files/a%40b.fr/Mairie/?x=1",
    "PATH_INFO": "/remote.php/dav/files/a@b.fr/Mairie/",
    "QUERY_STRING": "x=1",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"agent@flavigny.fr:secret").decode(),
    "HTTP_USER_AGENT": 'Mozilla/5.0 "x"',
    "HTTP_DEPTH": "1",
}


def _line(logger_class: type[glogging.Logger], access_format: str) -> str:
    config = Config()
    config.set("access_log_format", access_format)
    logger = logger_class(config)
    logger.now = lambda: "[05/Dec/2026:18:00:00 +0000]"  # type: ignore[method-assign]
    elapsed = datetime.timedelta(seconds=1, microseconds=2345)
    atoms = logger.atoms(_Response(), _Request(), dict(ENVIRON), elapsed)
    return access_format % logger.atoms_wrapper_class(atoms)


def test_the_default_line_is_gunicorns():
    default = Config().access_log_format
    assert _line(AccessLog, default) == _line(glogging.Logger, default)
    every_plain_field = " ".join(f"%({k})s" for k in "hlutrsmUqHbBfaTDMLp")
    assert _line(AccessLog, every_plain_field) == _line(glogging.Logger, every_plain_field)
    assert "agent@flavigny.fr" in _line(AccessLog, default)


def test_a_format_naming_headers_or_environ_goes_through_gunicorn():
    named = '%(h)s "%({depth}i)s" %({etag}o)s %({path_info}e)s'
    assert _line(AccessLog, named) == _line(glogging.Logger, named)
    assert _line(AccessLog, named) == '192.0.2.7 "1" \\"e\\" /remote.php/dav/files/a@b.fr/Mairie/'


def test_the_time_is_formatted_once_per_second(monkeypatch):
    logger = AccessLog(Config())
    calls = []
    monkeypatch.setattr(glogging.Logger, "now", lambda self: calls.append(1) or f"[{len(calls)}]")
    monkeypatch.setattr("time.time", lambda: 1_800_000_000.25)
    assert logger.now() == logger.now() == "[1]"
    monkeypatch.setattr("time.time", lambda: 1_800_000_001.5)
    assert logger.now() == "[2]"
