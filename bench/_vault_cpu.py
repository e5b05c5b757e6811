"""CPU per small-file request inside one process (the WSGI application called directly,
no sockets): the figure to work on before `vault_small_files.py` measures the servers.
Not a bench of its own (no peer): `python bench/_vault_cpu.py [N]`; BENCH_PROFILE=1
prints cProfile's top functions of the GET and PUT phases."""

from __future__ import annotations

import base64
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vault_webdav import SMALL_BYTES, prepare  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300


def call(app: Any, method: str, path: str, token: str, body: bytes = b"") -> tuple[str, bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "HTTP_AUTHORIZATION": f"Basic {token}",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    status: list[str] = []
    answer = app(environ, lambda s, h, *a: status.append(s))
    data = b"".join(answer)
    getattr(answer, "close", lambda: None)()
    return status[0], data


def main() -> None:
    bench = prepare()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clocher.wsgi import application

    token = base64.b64encode(f"{bench.login}:{bench.password}".encode()).decode()
    base = f"/remote.php/dav/files/{bench.login}/{bench.commune.name}"  # PATH_INFO: unquoted
    made = call(application, "MKCOL", base + "/t", token)
    assert made[0].startswith("201"), made
    contents = [os.urandom(SMALL_BYTES) for _ in range(N)]
    call(application, "PUT", base + "/t/warm.txt", token, b"x")  # login verified once
    for method in ("PUT", "GET"):
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        with CaptureQueriesContext(connection) as queries:
            call(application, method, base + "/t/q.txt", token, b"q" if method == "PUT" else b"")
        start = time.process_time()
        if profile:
            profile.enable()
        for i, content in enumerate(contents):
            body = content if method == "PUT" else b""
            status, data = call(application, method, f"{base}/t/f{i:05d}.txt", token, body)
            assert status[:3] in ("200", "201", "204"), (method, status)
            assert method == "PUT" or data == content
        if profile:
            profile.disable()
        cpu = time.process_time() - start
        print(f"{method}: {cpu / N * 1000:.2f} ms CPU/request, {len(queries)} queries")
        if profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    main()
