"""nginx from Debian in a network namespace, serving the audit's weak and strong sites.

The namespace is joined to the root namespace (where the audit runs) by one veth pair,
on a /29 of the shared address space (RFC 6598, 100.64.0.0/10) chosen from the pid, so
that two pytest-xdist workers or a bench never pick the same names or addresses.
nftables counters in the namespace count every connection attempt (TCP SYN) and every
other packet (UDP, ICMP) from the root side: the proof that a target not confirmed was
never contacted at all.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.box.netns import Lab

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

WEAK_PAGE = (
    "<!doctype html><html><head>"
    '<meta name="generator" content="WordPress 5.0">'
    '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Open+Sans">'
    '<script async src="https://www.google-analytics.com/analytics.js"></script>'
    "</head><body><h1>Mairie</h1>"
    '<img src="http://{host}/logo.png"></body></html>'
)
WP_README = "<h1>WordPress</h1><p>Version 5.0</p>"
STRONG_PAGE = (
    "<!doctype html><html><head>"
    '<link rel="stylesheet" href="/static/site.css"><script src="/static/site.js"></script>'
    '</head><body><h1>Mairie</h1><img src="/static/logo.png"></body></html>'
)

# The weak site: TLS 1.0 to 1.2 (OpenSSL's security level 0, or this OpenSSL refuses
# TLS 1.0/1.1 and their SHA-1 signatures), anonymous and NULL suites (Debian's OpenSSL 3
# has no RC4, 3DES or export suite left to offer), no security header, a loose cookie.
WEAK_SERVER = """
server {{
    listen {address}:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ssl_ciphers ALL:eNULL:@SECLEVEL=0;
    location = / {{
        add_header Set-Cookie "PHPSESSID=abc; path=/";
        return 200 '{page}';
    }}
    location = /readme.html {{ return 200 '{readme}'; }}
    location / {{ return 404; }}
}}
"""
# Remote desktop's port left open on the town hall's address (any listener will do).
RDP_SERVER = """
server {{
    listen {address}:3389;
    return 444;
}}
"""

STRONG_SERVER = """
server {{
    listen {address}:443 ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
    add_header Content-Security-Policy "default-src 'self'" always;
    add_header X-Content-Type-Options nosniff always;
    add_header Referrer-Policy strict-origin-when-cross-origin always;
    location = / {{
        add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
        add_header Content-Security-Policy "default-src 'self'" always;
        add_header X-Content-Type-Options nosniff always;
        add_header Referrer-Policy strict-origin-when-cross-origin always;
        add_header Set-Cookie "sessionid=abc; Path=/; Secure; HttpOnly; SameSite=Lax";
        return 200 '{page}';
    }}
    location / {{ return 404; }}
}}
"""

MAIN = """
daemon off;
master_process on;
worker_processes 1;
user root;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {run}/access.log;
    default_type text/html;
    server_tokens off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
{servers}
}}
"""


def subnet_for(pid: int) -> ipaddress.IPv4Network:
    """A /29 of 100.64.0.0/10 of this process's own."""
    base = ipaddress.ip_network("100.64.0.0/10")
    return ipaddress.ip_network(f"{base[(pid % (base.num_addresses // 8)) * 8]}/29")


@dataclass
class WebLab:
    lab: Lab
    ns: str
    root: str  # the root namespace's address (where the audit runs from)
    addresses: list[str]  # the namespace's addresses, one per site
    run: Path

    def packets_from_root(self) -> int:
        """Connection attempts and non-TCP packets from the audit's side."""
        listed = json.loads(self.lab.exec(self.ns, "nft", "-j", "list", "table", "inet", "es"))
        return sum(
            expr["counter"]["packets"]
            for item in listed["nftables"]
            if "rule" in item
            for expr in item["rule"]["expr"]
            if isinstance(expr.get("counter"), dict)
        )

    def requests(self) -> list[str]:
        log = self.run / "access.log"
        return log.read_text().splitlines() if log.exists() else []


@contextmanager
def web_lab(sites: int) -> Iterator[WebLab]:
    """A namespace with `sites` addresses (at most 5 in the /29) reachable from here."""
    pid = os.getpid()
    net = subnet_for(pid)
    lab = Lab(f"ces{pid % 100000}")
    try:
        ns = lab.ns("web")
        lab.link(None, f"{lab.prefix}w", ns, "eth0")
        hosts = [str(h) for h in net.hosts()]
        root, addresses = hosts[0], hosts[1 : 1 + sites]
        lab.address(None, f"{lab.prefix}w", f"{root}/29")
        lab.address(ns, "eth0", *(f"{a}/29" for a in addresses))
        # New TCP connections (SYN without ACK) and anything not TCP (UDP, ICMP): a late
        # ACK or FIN of an earlier, confirmed audit's connection is not a new contact.
        rules = (
            "table inet es {\n chain input {\n type filter hook input priority 0;\n"
            f" ip saddr {root} tcp flags & (syn | ack) == syn counter\n"
            f" ip saddr {root} ip protocol != tcp counter\n }}\n}}\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "-f", "-"],
            input=rules, text=True, check=True, capture_output=True,
        )  # fmt: skip
        yield WebLab(lab, ns, root, addresses, Path())
    finally:
        lab.close()


@contextmanager
def nginx(web: WebLab, run: Path, servers: str) -> Iterator[subprocess.Popen[str]]:
    """nginx (master and one worker) in the namespace until the block ends."""
    run.mkdir(parents=True, exist_ok=True)
    web.run = run
    conf = run / "nginx.conf"
    conf.write_text(MAIN.format(run=run, servers=servers))
    checked = subprocess.run(
        ["ip", "netns", "exec", web.ns, NGINX, "-t", "-q", "-c", str(conf), "-p", str(run)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if checked.returncode != 0:
        raise RuntimeError(f"configuration nginx refusée : {checked.stderr}")
    proc = web.lab.popen(
        web.ns, [NGINX, "-c", str(conf), "-p", str(run)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_listening(web, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _wait_listening(web: WebLab, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until nginx's master has written its pid (it listens before), on a loaded machine."""
    deadline = time.monotonic() + timeout
    pidfile = web.run / "nginx.pid"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx s'est arrêté : {proc.stderr.read() if proc.stderr else ''}")
        if pidfile.exists() and pidfile.read_text().strip():
            return
        time.sleep(0.1)
    raise RuntimeError("nginx n'a pas démarré à temps")
