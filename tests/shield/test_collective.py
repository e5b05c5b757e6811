"""Collective defence across communes, the allowlist winning over everything, feeds, and
the central's brute-force detector fed by real failed logins."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from typing import Any

import pytest
from click.testing import CliRunner
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clocher.core.models import AuditEntry
from clocher.shield import detect, feeds, services
from clocher.shield.models import BlockEntry, Box, Feed, FeedChange, PolicyVersion
from clocher_box import protocol
from tests.concurrency import at_once
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"


def _sources(policy: dict, scenario: str | None = None) -> set[str]:
    return {e["source"] for e in policy["blocklist"] if scenario in (None, e["scenario"])}


def test_a_source_that_attacked_one_commune_is_pushed_to_every_box(commune_a, commune_b, make_box):
    box_a, box_b = make_box(commune_a, "a"), make_box(commune_b, "b")
    version = services.policy_version()
    scan = box_a.event(kind="decision", source=ATTACKER, scenario="port-scan", duration=14400)
    box_a.send([scan])
    assert services.policy_version() > version  # boxes learn it at their next heartbeat
    policy_b = box_b.policy()
    entry = next(e for e in policy_b["blocklist"] if e["source"] == "203.0.113.7/32")
    assert entry["scenario"] == "collective"
    assert entry["expires"] is not None
    assert commune_a.name not in entry["reason"]  # B's box does not learn who was attacked
    expires = dt.datetime.fromisoformat(entry["expires"].replace("Z", "+00:00"))
    assert dt.timedelta(hours=23) < expires - timezone.now() <= dt.timedelta(hours=24)
    assert "203.0.113.7/32" in _sources(box_a.policy())
    assert (
        AuditEntry.objects.filter(action="shield.collective_block", target="203.0.113.7/32").count()
        == 1
    )
    # Reported again by B's box: one entry, two reports.
    box_b.send([box_b.event(kind="decision", source=ATTACKER, scenario="ssh-bruteforce")])
    stored = BlockEntry.objects.get(scenario="collective")
    assert stored.reports == 2 and stored.origin_commune == commune_a


@pytest.mark.parametrize(
    "event",
    [
        {"kind": "decision", "scenario": "country-policy"},  # no attack, only a country
        {"kind": "decision", "scenario": "blocklist"},
        {"kind": "decision", "scenario": "manual"},
        {"kind": "decision", "scenario": "collective"},  # the box applying the central's list
        {"kind": "decision", "scenario": "mail-bruteforce"},  # idem
        {"kind": "drops", "scenario": "port-scan"},  # flows dropped, not a new decision
        {"kind": "decision", "scenario": "port-scan", "source": "192.168.1.20"},  # local
        {"kind": "decision", "scenario": "port-scan", "source": "203.0.0.0/16"},  # too broad
    ],
)
def test_what_does_not_become_collective(commune_a, make_box, event):
    box = make_box(commune_a)
    box.send([box.event(**event)])
    assert not BlockEntry.objects.exists()


def test_allowlist_wins_over_collective_and_feeds(commune_a, commune_b, make_box, tmp_path):
    box_a, box_b = make_box(commune_a, "a"), make_box(commune_b, "b")
    # Département allowlist: never collective at all.
    services.add_allow(SYSTEM, "198.51.100.0/24", "liaison du central")
    box_a.send([box_a.event(kind="decision", source="198.51.100.9", scenario="port-scan")])
    assert not BlockEntry.objects.exists()
    # Commune B's allowlist: collective for everyone but B.
    services.add_allow(SYSTEM, "203.0.113.8", "prestataire de Vougeot", commune=commune_b)
    box_a.send([box_a.event(kind="decision", source="203.0.113.8", scenario="ssh-bruteforce")])
    assert "203.0.113.8/32" in _sources(box_a.policy())
    policy_b = box_b.policy()
    assert "203.0.113.8/32" not in _sources(policy_b)
    assert "203.0.113.8/32" in policy_b["allowlist"] and "198.51.100.0/24" in policy_b["allowlist"]
    assert "203.0.113.8/32" not in box_a.policy()["allowlist"]
    # A feed that would block the allowlist: those entries refused and reported.
    listed = tmp_path / "liste.txt"
    listed.write_text("198.51.100.0/25\n192.0.2.0/24\n")
    report = feeds.import_feed(SYSTEM, "liste", str(listed))
    assert [r[1] for r in report.refused] == ["198.51.100.0/25"]
    assert "touche la liste d'autorisation" in report.problems()[0]
    assert _sources(box_a.policy(), "blocklist") == {"192.0.2.0/24"}
    # Allowlisting later removes an entry already pushed, at the next policy.
    services.add_allow(SYSTEM, "192.0.2.128/25", "serveur de la préfecture")
    assert "192.0.2.0/24" not in _sources(box_a.policy())
    with pytest.raises(Exception, match="liste d'autorisation"):
        services.add_manual_block(SYSTEM, "198.51.100.1", "essai", None)


SPAMHAUS_DROP = """\
; Spamhaus DROP List 2026/11/25 - (c) 2026 The Spamhaus Project SLC
; Last-Modified: Wed, 25 Nov 2026 10:00:00 GMT
1.10.16.0/20 ; SBL256894
2.56.192.0/22 ; SBL459831
999.1.2.0/24 ; SBL000001
"""

FIREHOL = """\
#
# firehol_level1
#
192.0.2.0/24
203.0.113.15
bogus-line
203.0.113.0/33
0.0.0.0/1
"""


def test_feed_formats_malformed_lines_counted_with_their_number(tmp_path):
    drop = tmp_path / "drop.txt"
    drop.write_text(SPAMHAUS_DROP)
    report = feeds.import_feed(SYSTEM, "spamhaus-drop", str(drop))
    assert report.added == 2 and [m[0] for m in report.malformed] == [5]
    assert "999.1.2.0/24" in report.malformed[0][2]
    netset = tmp_path / "firehol_level1.netset"
    netset.write_text(FIREHOL)
    report = feeds.import_feed(SYSTEM, "firehol", str(netset))
    assert report.added == 2
    assert [m[0] for m in report.malformed] == [6, 7, 8]
    assert "trop large" in report.malformed[2][2]
    feed = Feed.objects.get(name="firehol")
    assert (feed.entries_count, feed.malformed_count, feed.kind) == (2, 3, "file")
    assert set(feed.entries.values_list("source", flat=True)) == {"192.0.2.0/24", "203.0.113.15/32"}
    # Spamhaus JSON-lines edition.
    jsonl = tmp_path / "drop_v4.json"
    jsonl.write_text(
        '{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}\n{"type":"metadata","timestamp":1}\n'
    )
    assert feeds.import_feed(SYSTEM, "drop-json", str(jsonl)).added == 1


def test_the_fast_ipv4_parse_reads_lines_as_the_full_parser_does():
    """IPv4 lines go through one compiled regular expression and keep their interval for
    the allowlist check (issue 14); whatever it accepts, `services.parse_prefix` reads
    the same way, and what it does not accept goes to that parser for its message."""
    lines = [
        "192.0.2.7/24",
        "192.0.2.7",
        "192.0.2.0/32 ; SBL1",
        "  10.0.0.0/8",
        "010.0.0.1",
        "192.0.2.256",
        "1.2.3.4/7",
        "1.2.3.4/33",
        "1.2.3.4/",
        "١.2.3.4",
        "2001:db8::/48",
    ]
    parsed = feeds.parse(lines)
    expected: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        try:
            expected.setdefault(str(services.parse_prefix(feeds._candidate(line))), number)
        except ValueError:
            continue
    assert parsed.prefixes == expected
    assert [n for n, _, _ in parsed.malformed] == [5, 6, 7, 8, 9, 10]
    assert parsed.v4 == {
        "192.0.2.0/24": (0xC0000200, 0xC00002FF),
        "192.0.2.7/32": (0xC0000207, 0xC0000207),
        "192.0.2.0/32": (0xC0000200, 0xC0000200),
        "10.0.0.0/8": (0x0A000000, 0x0AFFFFFF),
    }


def test_reimport_applies_a_delta_and_a_bad_location_keeps_the_list(tmp_path):
    listed = tmp_path / "l.txt"
    listed.write_text("192.0.2.1\n192.0.2.2\n")
    feeds.import_feed(SYSTEM, "l", str(listed))
    listed.write_text("192.0.2.2\n192.0.2.3\n")
    report = feeds.import_feed(SYSTEM, "l", str(listed))
    assert (report.added, report.removed, report.kept) == (1, 1, 1)
    with pytest.raises(Exception, match="impossible"):
        feeds.import_feed(SYSTEM, "l", str(tmp_path / "absent.txt"))
    assert set(BlockEntry.objects.values_list("source", flat=True)) == {
        "192.0.2.2/32",
        "192.0.2.3/32",
    }


@pytest.fixture
def http_feed(tmp_path):
    (tmp_path / "c2.txt").write_text("203.0.113.66\n# commentaire\nnope\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/c2.txt"
    server.shutdown()
    server.server_close()


def test_cli_imports_a_c2_feed_from_a_url(http_feed, commune_a, make_box):
    from clocher.cli import main

    result = CliRunner().invoke(main, ["shield", "feed", "import", "c2-list", http_feed, "--c2"])
    assert result.exit_code == 0, result.output
    assert "1 ajout(s)" in result.output and "ligne 3" in result.output
    assert Feed.objects.get(name="c2-list").kind == "url"
    policy = make_box(commune_a).policy()
    assert policy["c2"] == ["203.0.113.66/32"] and not policy["blocklist"]


def test_operator_imports_a_feed_from_the_page(client_operator, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("liste.txt", b"192.0.2.0/24\nmauvais\n")
    response = client_operator.post(
        reverse("shield:feed_import"), {"name": "depuis-la-page", "file": upload}, follow=True
    )
    body = response.content.decode()
    assert "1 ajout(s)" in body and "ligne 2" in body
    assert Feed.objects.get(name="depuis-la-page").entries_count == 1


def test_failed_logins_become_mail_bruteforce_blocks(settings, commune_a, make_box):
    """Password spraying on the web login and on IMAP (through Dovecot's policy server)."""
    from clocher.mail.policy import decide

    settings.SHIELD_BRUTEFORCE_FAILURES = 6
    client = Client(REMOTE_ADDR="203.0.113.50")
    for n in range(4):
        response = client.post(
            reverse("accounts:login"), {"email": f"agent{n}@flavigny.test", "password": "devine"}
        )
        assert response.status_code == 401
    for n in range(2):
        decide(
            "report",
            {
                "login": f"mairie{n}@communes.cotedor.fr",
                "remote": "203.0.113.50",
                "protocol": "imap",
                "success": False,
            },
        )
    # Below the threshold elsewhere; allowlisted even above it.
    services.add_allow(SYSTEM, "198.51.100.2", "relais de la préfecture")
    for n in range(7):
        decide(
            "report",
            {
                "login": f"x{n}@communes.cotedor.fr",
                "remote": "198.51.100.2",
                "protocol": "imap",
                "success": False,
            },
        )
    found, spared = detect.detect_bruteforce()
    assert [(d.source, d.failures, d.services, d.new) for d in found] == [
        ("203.0.113.50/32", 6, ["imap", "web"], True)
    ]
    assert spared and "198.51.100.2" in spared[0]
    policy = make_box(commune_a).policy()
    entry = next(e for e in policy["blocklist"] if e["source"] == "203.0.113.50/32")
    assert entry["scenario"] == "mail-bruteforce" and "6 échecs" in entry["reason"]
    again, _ = detect.detect_bruteforce()
    assert (
        again[0].new is False and BlockEntry.objects.filter(scenario="mail-bruteforce").count() == 1
    )


def test_expired_entries_leave_the_policy_and_are_purged(commune_a, make_box):
    box = make_box(commune_a)
    services.upsert_block(
        SYSTEM,
        "192.0.2.9/32",
        "collective",
        "essai",
        expires_at=timezone.now() - dt.timedelta(minutes=1),
    )
    assert "192.0.2.9/32" not in _sources(box.policy())
    assert services.purge_expired() == 1


def test_cli_token_enrol_fleet_block_allow_revoke(commune_a):
    from clocher.cli import main
    from tests.shield.conftest import FakeBox

    runner = CliRunner()
    assert "Liste d'autorisation vide." in runner.invoke(main, ["shield", "allow", "list"]).output
    assert "Aucune liste importée" in runner.invoke(main, ["shield", "feed", "list"]).output
    issued = runner.invoke(main, ["shield", "token", commune_a.insee])
    assert issued.exit_code == 0, issued.output
    token = next(line for line in issued.output.splitlines() if line.startswith("clb_"))
    box = FakeBox(commune_a, "boitier-cli")
    assert box.enroll(token).status_code == 201
    fleet = runner.invoke(main, ["shield", "boxes"])
    assert "boitier-cli" in fleet.output and "en ligne" in fleet.output
    allowed = runner.invoke(
        main, ["shield", "allow", "add", "198.51.100.0/24", "--reason", "central"]
    )
    assert allowed.exit_code == 0
    listed = runner.invoke(main, ["shield", "allow", "list"]).output
    assert "198.51.100.0/24 — département — central" in listed
    refused = runner.invoke(main, ["shield", "block", "198.51.100.7", "--reason", "essai"])
    assert refused.exit_code == 1 and "liste d'autorisation" in refused.output
    blocked = runner.invoke(
        main, ["shield", "block", "192.0.2.0/24", "--reason", "essai", "--hours", "2"]
    )
    assert blocked.exit_code == 0, blocked.output
    assert "192.0.2.0/24" in _sources(box.policy(), "manual")
    assert runner.invoke(main, ["shield", "revoke", box.box_id]).exit_code == 0
    assert box.signed("GET", "/api/shield/policy").status_code == 401
    assert runner.invoke(main, ["shield", "revoke", box.box_id]).exit_code == 1
    assert runner.invoke(main, ["shield", "token", "99999"]).exit_code == 1


def test_feed_refresh_reimports_url_feeds(http_feed, tmp_path):
    from clocher.cli import main

    feeds.import_feed(SYSTEM, "c2-list", http_feed, "c2")
    (tmp_path / "c2.txt").write_text("203.0.113.67\n")
    result = CliRunner().invoke(main, ["shield", "feed", "refresh"])
    assert result.exit_code == 0, result.output
    assert set(BlockEntry.objects.values_list("source", flat=True)) == {"203.0.113.67/32"}


def _get_feed(box: Any, since: object, **query: str) -> Any:
    """The box's policy with its bulk list apart, holding the list as of `since`."""
    # The box signs the path; the query (which version it holds) only selects the form.
    headers = protocol.sign_request(box.key, box.box_id, "GET", "/api/shield/policy", b"")
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return box.client.get("/api/shield/policy", {"feed": since, **query}, **extra)


def _fetch_feed(box: Any, since: int) -> dict:
    return protocol.open_envelope(box.central_key, _get_feed(box, since).json())["feed"]


def test_boxes_get_the_feeds_union_as_signed_deltas_from_the_version_they_hold(commune_a, make_box):
    """First contact: the whole union of the blocklist feeds; then only the changes
    since the version the box holds (a prefix another feed still lists is no change);
    a version the journal does not cover gets the whole list again."""
    box = make_box(commune_a)

    def get(since: object) -> Any:
        return _get_feed(box, since)

    def fetch(since: int) -> dict:
        return protocol.open_envelope(box.central_key, get(since).json())

    feeds.import_feed(SYSTEM, "un", "m", lines=["192.0.2.0/24", "198.51.100.7"])
    feeds.import_feed(SYSTEM, "deux", "m", lines=["198.51.100.7/32"])
    first = fetch(0)
    assert first["box"] == box.box_id and not _sources(first)  # not inside blocklist
    assert first["feed"]["full"] == ["192.0.2.0/24", "198.51.100.7/32"]
    held = first["feed"]["version"]
    feeds.import_feed(SYSTEM, "un", "m", lines=["192.0.2.0/25", "192.0.2.128/25"])
    delta = fetch(held)["feed"]
    assert (delta["since"], delta["add"]) == (held, ["192.0.2.0/25", "192.0.2.128/25"])
    assert delta["remove"] == ["192.0.2.0/24"]  # 198.51.100.7/32 stays: "deux" has it
    assert delta["version"] > held
    PolicyVersion.objects.update(feed_floor=delta["version"])  # journal pruned
    assert "full" in fetch(held)["feed"]
    assert "full" in fetch(delta["version"] + 5)["feed"]  # newer than the central: restored
    assert get(-1).status_code == 400
    # Boxes that ask get the whole list as one text, a prefix a line; a delta is the same.
    as_text = _get_feed(box, 0, format="text")
    whole = protocol.open_envelope(box.central_key, as_text.json())["feed"]
    assert whole == {
        "version": delta["version"],
        "text": "192.0.2.0/25\n192.0.2.128/25\n198.51.100.7/32",
    }
    assert "text" not in fetch(0)["feed"]  # a box that does not ask: the array, as before
    again = protocol.open_envelope(box.central_key, _get_feed(box, held, format="text").json())
    assert "text" in again["feed"]  # the journal no longer reaches `held`: whole
    assert _get_feed(box, 0, format="xml").status_code == 400


def test_the_feed_journal_keeps_only_what_enrolled_boxes_still_need(commune_a, make_box):
    """`clocher shield feed refresh` (every 6 hours under `clocher serve`) deletes the
    journal's changes at or below the oldest list version a box said it holds; a box
    silent for 30 days no longer holds it back and gets the whole list when it returns."""
    from clocher.cli import main

    box, late = make_box(commune_a, "a"), make_box(commune_a, "b")
    feeds.import_feed(SYSTEM, "un", "m", lines=["192.0.2.0/24"])
    v1 = _fetch_feed(box, 0)["version"]
    _fetch_feed(late, 0)
    assert _fetch_feed(late, v1)["add"] == []  # late now says it holds v1
    feeds.import_feed(SYSTEM, "un", "m", lines=["192.0.2.0/24", "198.51.100.7"])
    v2 = _fetch_feed(box, v1)["version"]
    _fetch_feed(box, v2)  # box holds v2
    feeds.import_feed(SYSTEM, "un", "m", lines=["198.51.100.7"])

    def journal() -> list[int]:
        return list(FeedChange.objects.values_list("version", flat=True))

    assert min(journal()) <= v1 < v2 < max(journal())

    def refresh() -> str:
        result = CliRunner().invoke(main, ["shield", "feed", "refresh"])
        assert result.exit_code == 0, result.output
        return result.output

    assert "retiré" in refresh()
    assert min(journal()) > v1 and PolicyVersion.objects.get().feed_floor == v1
    assert _fetch_feed(late, v1)["add"] == ["198.51.100.7/32"]  # still a delta
    assert "retiré" not in refresh()  # nothing more to prune
    Box.objects.filter(pk=late.box_id).update(
        last_seen=timezone.now() - feeds.JOURNAL_SILENCE - dt.timedelta(hours=1)
    )
    refresh()
    assert PolicyVersion.objects.get().feed_floor == v2 and min(journal()) > v2
    assert _fetch_feed(late, v1)["full"] == ["198.51.100.7/32"]
    assert _fetch_feed(box, v2)["remove"] == ["192.0.2.0/24"]


@pytest.mark.django_db(transaction=True)
def test_two_boxes_reporting_the_same_sources_at_once_do_not_deadlock():
    """Two boxes' batches naming the same sources in opposite orders, at the same moment:
    each took (or inserted) the rows in its own order and could wait on the other's
    (PostgreSQL: « deadlock detected », a box's report refused)."""
    from clocher.core.audit import Actor
    from clocher.shield.services import collective

    def report(reverse: bool):
        def one(round_: int) -> int:
            sources = [f"203.0.{round_ // 2}.{host}" for host in range(1, 120)]
            ordered = reversed(sources) if reverse == bool(round_ % 2) else sources
            batch = dict.fromkeys(ordered, "ssh")
            return len(collective.upsert_blocks(Actor(label="box"), "ssh-bf", batch))

        return one

    assert at_once([report(False), report(True)], rounds=16) == [[119] * 16] * 2
    assert BlockEntry.objects.filter(feed__isnull=True, scenario="ssh-bf").count() == 8 * 119


@pytest.mark.django_db(transaction=True)
def test_a_feed_import_and_a_policy_change_at_once_do_not_deadlock(commune_a):
    """A feed import held the version's row and then wanted the audit journal's lock; a
    policy change held the journal's lock and then wanted the version's row."""

    def import_feed(round_: int) -> int:
        lines = [f"198.{round_}.{host}.0/24" for host in range(200)]
        return feeds.import_feed(SYSTEM, "liste", "liste.txt", lines=lines).added

    def set_countries(round_: int) -> list[str]:
        return services.set_countries(SYSTEM, commune_a, ["CN"] if round_ % 2 else ["RU"])

    imported, countries = at_once([import_feed, set_countries], rounds=15)
    assert imported == [200] * 15
    assert countries == [["CN"] if r % 2 else ["RU"] for r in range(15)]
    assert Feed.objects.get(name="liste").entries_count == 200
