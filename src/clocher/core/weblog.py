"""gunicorn's access log, with the line built from the fields its format names.

gunicorn builds, for every request, a dictionary of every request header, response
header and WSGI environ variable (`{name}i`, `{name}o`, `{name}e`), escapes each value,
and formats the line from it: about a tenth of the CPU of a small WebDAV GET
(docs/performance.md, vault small files). With a format that names none of those (the
default, which `clocher serve` uses), only the plain fields are built, as gunicorn builds
them, and the time is formatted once per second. Any other format goes through gunicorn.
"""

from __future__ import annotations

import os
import time
from typing import Any

from gunicorn import glogging


class AccessLog(glogging.Logger):
    _second = -1
    _now = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:  # two threads may both format it: same text
            self._now, self._second = super().now(), second
        return self._now

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        if "{" in self.cfg.access_log_format:
            return super().atoms(resp, req, environ, request_time)
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        micros = request_time.seconds * 1_000_000 + request_time.microseconds
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "l": "-",
            "u": self._get_user(environ) or "-",
            "t": self.now(),
            "r": f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}",
            "s": status,
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "q": environ.get("QUERY_STRING"),
            "H": environ.get("SERVER_PROTOCOL"),
            "b": sent is not None and str(sent) or "-",
            "B": sent,
            "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"),
            "T": request_time.seconds,
            "D": micros,
            "M": micros // 1000,
            "L": f"{request_time.seconds}.{request_time.microseconds:06d}",
            "p": f"<{os.getpid()}>",
        }
