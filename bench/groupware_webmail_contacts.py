"""The webmail's address books as Roundcube's `clocher_addressbook` plugin reads them
(`GET /oauth/carnet`: the commune's directory and the person's own CardDAV contacts, one
JSON answer, under gunicorn as `clocher serve` runs it, token checked in the database)
vs what a CardDAV plugin would ask instead (Debian 12 packages none): an
addressbook-query REPORT of each of the same two address books to Radicale run standalone
(its own server, no authentication) on a copy of the same collections, in one run.

Each side is asked 10 times to warm its caches (each gunicorn worker builds its Radicale
application at its first request), then BENCH_RUNS times (7): median wall time
per read, and the CPU seconds of each server's processes over the timed reads (the fairer
figure on a busy machine). Ratio > 1: Clocher faster.

Size: BENCH_MEMBERS members in the directory (default 80; a commune has 100 at most),
BENCH_CONTACTS personal contacts (default 1000).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _groupware import clocher_and_radicale  # noqa: E402
from _setup import django_with_fresh_db  # noqa: E402

MEMBERS = int(os.environ.get("BENCH_MEMBERS", "80"))
CONTACTS = int(os.environ.get("BENCH_CONTACTS", "1000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
WARM = 10
QUERY = b"""<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><C:address-data/></D:prop>
</C:addressbook-query>"""
TICK = os.sysconf("SC_CLK_TCK")


def card(i: int) -> str:
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:contact-{i}\r\nFN:Contact numéro {i}\r\n"
        f"N:{i};Contact;;;\r\nEMAIL;TYPE=WORK:contact{i}@exemple.fr\r\n"
        "ORG:Entreprise\r\nEND:VCARD\r\n"
    )


def fill(data_dir: str) -> tuple[str, Path, Path]:
    """A commune of MEMBERS members, one of them with CONTACTS personal contacts and a
    webmail token; the paths of their personal book and of the commune's directory."""
    import vobject
    from radicale import item as radicale_item

    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.core.models import Role
    from clocher.groupware import dav, layout, services
    from clocher.groupware.webmail import sso
    from clocher.mail import services as mail

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Département bench", "bench.test", "bench@bench.test", "21")
    commune = core.create_commune(actor, "21271", status="active")
    users = []
    for i in range(MEMBERS):
        added = core.add_member(actor, commune, f"agent{i}@flavigny.test", Role.AGENT, invite=False)
        users.append(added.membership.user)
    member = users[0]
    box = mail.create_mailbox(actor, commune, "agent0@bench.test", user=member)
    app = dav.application().apps[dav.CARDDAV_PREFIX]
    services.prepare_home(app, dav.CARDDAV_PREFIX, member, [commune])  # and the directory
    href = f"/{member.email}/{layout.PERSONAL_ADDRESSBOOK}/"
    items = [
        radicale_item.Item(collection_path=href.strip("/"), vobject_item=vobject.readOne(card(i)))
        for i in range(CONTACTS)
    ]
    with app._storage.acquire_lock("w"):
        app._storage.create_collection(
            href, items=items, props=layout.addressbook_props("Contacts personnels")
        )
    origin = "http://bench"
    granted = sso.authorize(
        Actor(user=member), mailbox_id=box.pk, redirect_uri=origin + sso.REDIRECT_PATH,
        session_key="",
    )  # fmt: skip
    token = sso.exchange_code(granted.code, origin + sso.REDIRECT_PATH, "", origin)
    root = Path(data_dir) / "groupware" / "addressbooks" / "collection-root"
    return (
        token["access_token"],
        root / member.email / layout.PERSONAL_ADDRESSBOOK,
        root / layout.SHARED / commune.insee / "annuaire",
    )


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of `pid` and its descendants, from /proc."""
    stats: dict[int, tuple[int, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    found, total = [pid], 0.0
    for each in found:
        total += stats.get(each, (0, 0.0))[1]
        found.extend(p for p, (ppid, _) in stats.items() if ppid == each)
    return total


def timed(server: int, read) -> tuple[float, float, int]:
    """Median wall ms of one read, CPU seconds of the server over RUNS reads, contacts."""
    count = read()  # warms the caches, in each of gunicorn's two workers
    for _ in range(WARM - 1):
        assert read() == count
    times = []
    cpu = tree_cpu(server)
    for _ in range(RUNS):
        start = time.perf_counter()
        assert read() == count
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), tree_cpu(server) - cpu, count


def main() -> None:
    data_dir = django_with_fresh_db()
    token, personal, directory = fill(data_dir)
    peer_root = Path(data_dir) / "pair" / "collection-root" / "bench"
    shutil.copytree(personal, peer_root / "contacts", symlinks=True)
    shutil.copytree(directory, peer_root / "annuaire", symlinks=True)

    def ours() -> int:
        answer = requests.get(
            f"http://127.0.0.1:{port}/oauth/carnet",
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        )
        assert answer.status_code == 200, answer.text[:300]
        books = {b["id"]: b["contacts"] for b in answer.json()["carnets"]}
        return len(books["annuaire"]) + len(books["personnel"])

    def theirs() -> int:
        count = 0
        for book in ("annuaire", "contacts"):
            answer = requests.request(
                "REPORT", f"http://127.0.0.1:{peer_port}/bench/{book}/", auth=("bench", "x"),
                data=QUERY, timeout=600,
                headers={"Depth": "1", "Content-Type": "application/xml"},
            )  # fmt: skip
            assert answer.status_code == 207, (answer.status_code, answer.text[:300])
            count += answer.text.count("BEGIN:VCARD")
        return count

    try:
        with clocher_and_radicale(data_dir, peer_root.parent.parent) as (port, peer_port, servers):
            our_ms, our_cpu, found = timed(servers[0].pid, ours)
            peer_ms, peer_cpu, peer_found = timed(servers[1].pid, theirs)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    assert found == peer_found == MEMBERS + CONTACTS, (found, peer_found)
    print(
        f"Carnets du webmail : annuaire de {MEMBERS} membres + {CONTACTS} contacts personnels, "
        f"médiane de {RUNS} lectures (charge {os.getloadavg()[0]:.1f})"
    )
    print(
        f"Clocher /oauth/carnet {our_ms:7.1f} ms ({our_cpu:.2f} s CPU)   "
        f"Radicale seul, 2 REPORT {peer_ms:7.1f} ms ({peer_cpu:.2f} s CPU)"
    )
    print(
        f"ratio (Radicale / Clocher) : temps {peer_ms / our_ms:.2f}, "
        f"CPU {peer_cpu / our_cpu if our_cpu else float('inf'):.2f}"
    )


if __name__ == "__main__":
    main()
