"""Awareness tracking image over HTTP: Clocher's web server as `clocher serve` runs it
(gunicorn, its workers and threads, access log) answering `/sensibilisation/o/<token>/image.gif`
for a sent campaign, vs two peers: the same server's health probe `/healthz` (same stack,
no database) and nginx's `empty_gif` (the classic pixel server: a static answer in C, no
record kept, as many workers as Clocher), with `wrk` as the load generator (C, two
threads, BENCH_CONNECTIONS keep-alive connections, 32 by default) for BENCH_SECONDS (10)
per side.

Each image request picks one of the campaign's tokens at random (a Lua script given to wrk),
so the first hits of a token record its open (one INSERT … SELECT … ON CONFLICT) and the
later ones, as mail clients reload the image, find it recorded. Goal: ≥ 1,000 hits/s.

What is measured is the server: the CPU seconds of gunicorn's master and workers and of
wrk are read around each run and printed with the rates (hits per server CPU second is the
fair figure on a shared machine; if wrk took as much CPU as the server, it would be the
limit). BENCH_ROUNDS (3) rounds alternate which side goes first; each figure is its side's
best. The opens recorded in the database are checked against the tokens wrk reached.

Usage: python bench/awareness_tracking.py [AGENTS]   (1,000 agents by default)
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mail import free_ports, wait_port  # noqa: E402
from _setup import django_with_fresh_db  # noqa: E402
from awareness_send import populate  # noqa: E402
from vault_small_files import cpu_seconds  # noqa: E402

AGENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WRK_THREADS = 2
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """
worker_processes %(workers)d;
daemon off;
pid %(run)s/nginx.pid;
error_log %(run)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log %(run)s/access.log;
    client_body_temp_path %(run)s/body;
    proxy_temp_path %(run)s/proxy;
    fastcgi_temp_path %(run)s/fastcgi;
    uwsgi_temp_path %(run)s/uwsgi;
    scgi_temp_path %(run)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location / { empty_gif; }
    }
}
"""

RANDOM_PATH = """
paths = {%s}
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def wrk_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def hammer(port: int, path: str, script: Path | None, master: int) -> dict[str, float]:
    """Run wrk against `path` (or the script's random paths); requests/s and CPU of each side."""
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    server_before, client_before = cpu_seconds(master), wrk_children_cpu()
    out = subprocess.run(  # noqa: S603 - our own command line
        [*argv, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    server, client = cpu_seconds(master) - server_before, wrk_children_cpu() - client_before
    match = re.search(r"^\s*(\d+) requests in ([\d.]+)s", out, re.MULTILINE)
    if match is None or "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk: unexpected answers\n{out}")
    requests = int(match.group(1))
    p99 = re.search(r"99%\s+(\S+)", out)
    return {
        "rate": requests / float(match.group(2)),
        "per_cpu": requests / server if server else float("inf"),
        "server_cpu": server,
        "client_cpu": client,
        "p99": p99.group(1) if p99 else "?",  # type: ignore[dict-item]
    }


def wait_ready(port: int, seconds: float = 120) -> None:
    """The socket is bound before the workers have imported Django (slow on a busy machine)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk absent : make install")
    data_dir = django_with_fresh_db()
    from django.utils import timezone

    from clocher.awareness import services as awareness
    from clocher.awareness.models import Event, EventKind, Recipient
    from clocher.core.supervisor import core_children

    began = time.perf_counter()
    actor, commune = populate(AGENTS)
    campaign = awareness.create_campaign(actor, commune, "Bench", timezone.localdate())
    # Sending is awareness_send.py's measure; here the messages only need to count as sent.
    Recipient.objects.filter(campaign=campaign).update(sent_at=timezone.now() - timedelta(hours=1))
    tokens = list(Recipient.objects.filter(campaign=campaign).values_list("token", flat=True))
    print(f"{len(tokens)} messages sent to {AGENTS} agents in {time.perf_counter() - began:.0f} s")

    script = Path(tempfile.mkdtemp(prefix="clocher-wrk-")) / "random.lua"
    script.write_text(RANDOM_PATH % ",".join(f'"/sensibilisation/o/{t}/image.gif"' for t in tokens))
    port, nginx_port = free_ports(2)
    workers = int(os.environ.get("CLOCHER_WEB_WORKERS", "2"))  # as `clocher serve`
    web = core_children(f"127.0.0.1:{port}", web_workers=workers)[0]
    run = script.parent
    (run / "nginx.conf").write_text(
        NGINX_CONF % {"workers": workers, "run": run, "port": nginx_port}
    )
    servers = {
        "clocher": subprocess.Popen(  # noqa: S603
            web.argv, env={**os.environ, "CLOCHER_DATA_DIR": data_dir},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ),
        "nginx": subprocess.Popen(  # noqa: S603
            [NGINX, "-c", str(run / "nginx.conf"), "-p", str(run)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ),
    }  # fmt: skip
    best: dict[str, dict[str, float]] = {}
    try:
        wait_port(port)
        wait_port(nginx_port)
        wait_ready(port)
        clocher, nginx = servers["clocher"].pid, servers["nginx"].pid
        hammer(port, "/healthz", None, clocher)  # warm both workers up
        sides = [
            ("image", port, "/", script, clocher),
            ("healthz", port, "/healthz", None, clocher),
            ("nginx", nginx_port, "/pixel.gif", None, nginx),
        ]
        for round_ in range(ROUNDS):
            for name, on, path, lua, pid in sides if round_ % 2 == 0 else sides[::-1]:
                figures = hammer(on, path, lua, pid)
                if figures["rate"] > best.get(name, {"rate": 0.0})["rate"]:
                    best[name] = figures
    finally:
        for server in servers.values():
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    opened = Event.objects.filter(recipient__campaign=campaign, kind=EventKind.OPENED).count()
    load = os.getloadavg()
    print(
        f"opens recorded: {opened} of {len(tokens)} messages (one per message, however many hits)"
    )
    if opened == 0 or opened > len(tokens):
        raise SystemExit("the opens recorded do not match the hits")
    for name, label in (
        ("image", "tracking image"),
        ("healthz", "health probe (peer, same stack, no database)"),
        ("nginx", "nginx empty_gif (peer, static, no record)"),
    ):
        f = best[name]
        print(
            f"{label}: {f['rate']:,.0f} hits/s, {f['per_cpu']:,.0f} per server CPU second, "
            f"p99 {f['p99']}; server {f['server_cpu']:.1f} s CPU, wrk {f['client_cpu']:.1f} s CPU "
            f"over {SECONDS} s"
        )
    image = best["image"]
    for name in ("healthz", "nginx"):
        peer = best[name]
        print(
            f"ratio image/{name}: {image['rate'] / peer['rate']:.2f} "
            f"(per server CPU second: {image['per_cpu'] / peer['per_cpu']:.2f})"
        )
    print(
        "goal ≥ 1,000 hits/s: "
        f"{'met' if image['rate'] >= 1000 else 'not met'} in wall time, "
        f"{'met' if image['per_cpu'] >= 1000 else 'not met'} per server CPU second"
    )
    print(
        f"{workers} workers × {os.environ.get('CLOCHER_WEB_THREADS', '4')} threads, "
        f"{CONNECTIONS} connections, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


if __name__ == "__main__":
    main()
