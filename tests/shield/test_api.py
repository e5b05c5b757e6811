"""The boxes' API against docs/shield.md: enrolment, signed requests, events exactly
once, signed policies."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from django.utils import timezone

from clocher.core import staging
from clocher.core.models import AuditEntry
from clocher.shield import services
from clocher.shield.models import Box, EnrolmentToken, ShieldEvent
from clocher_box import protocol
from clocher_box.spool import OVERFLOW_SOURCE
from tests.conftest import SYSTEM, logged_in
from tests.shield.conftest import FakeBox

pytestmark = pytest.mark.django_db


def test_enrolment_token_works_once_and_is_audited(commune_a):
    issued = services.issue_token(SYSTEM, commune_a)
    assert EnrolmentToken.objects.get().token_hash != issued.token  # only its hash is kept
    first = FakeBox(commune_a, "boitier-flavigny")
    answer = first.enroll(issued.token)
    assert answer.status_code == 201
    body = answer.json()
    assert body["commune"] == {"insee": commune_a.insee, "name": commune_a.name}
    assert body["central_public_key"] == services.central_public_key()
    box = Box.objects.get(pk=body["box_id"])
    assert box.commune == commune_a and box.hostname == "boitier-flavigny"
    assert AuditEntry.objects.filter(action="shield.box_enrolled", target=str(box.pk)).exists()

    again = FakeBox(commune_a, "second").enroll(issued.token)
    assert again.status_code == 403
    assert "déjà utilisé" in again.json()["error"]
    assert Box.objects.count() == 1


def test_expired_wrong_and_cancelled_tokens_are_refused(commune_a):
    expired = services.issue_token(SYSTEM, commune_a)
    EnrolmentToken.objects.filter(pk=expired.record.pk).update(
        created_at=timezone.now() - dt.timedelta(days=8),
        expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    assert "expiré" in FakeBox(commune_a, "b").enroll(expired.token).json()["error"]
    assert FakeBox(commune_a, "b").enroll("clb_nimportequoi").status_code == 403
    older = services.issue_token(SYSTEM, commune_a)
    services.issue_token(SYSTEM, commune_a)  # a new token cancels the unused one
    assert "annulé" in FakeBox(commune_a, "b").enroll(older.token).json()["error"]
    assert not Box.objects.exists()


def test_enrolment_refuses_a_bad_key(commune_a):
    issued = services.issue_token(SYSTEM, commune_a)
    box = FakeBox(commune_a, "b")
    response = box.client.post(
        "/api/shield/enroll",
        {"token": issued.token, "public_key": "pas-une-clé", "hostname": "b"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert FakeBox(commune_a, "b").enroll(issued.token).status_code == 201  # token not burnt


def test_signed_requests_bad_signature_stale_unknown_revoked(commune_a, make_box):
    box = make_box(commune_a)
    assert (
        box.signed("POST", "/api/shield/heartbeat", {"version": "0.1.1", "health": {}}).status_code
        == 200
    )
    # Signed by another key.
    impostor = FakeBox(commune_a, "x", box_id=box.box_id)
    assert impostor.signed("POST", "/api/shield/heartbeat", {"version": "9"}).status_code == 401
    # Body changed after signing.
    body = json.dumps({"version": "0.1.1", "health": {}}).encode()
    headers = protocol.sign_request(box.key, box.box_id, "POST", "/api/shield/heartbeat", body)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    tampered = box.client.post(
        "/api/shield/heartbeat",
        body.replace(b"0.1.1", b"6.6.6"),
        content_type="application/json",
        **extra,
    )
    assert tampered.status_code == 401
    # Signed for another path.
    headers = protocol.sign_request(box.key, box.box_id, "GET", "/api/shield/events", b"")
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    assert box.client.get("/api/shield/policy", **extra).status_code == 401
    # Stale timestamp (replay of an old request): properly signed, 10 minutes old.
    old = str(int(time.time()) - 600)
    signature = protocol.b64(
        box.key.sign(protocol.request_message("GET", "/api/shield/policy", old, b""))
    )
    stale = box.signed(
        "GET", "/api/shield/policy", X_Clocher_Timestamp=old, X_Clocher_Signature=signature
    )
    assert stale.status_code == 401 and "ancienne" in stale.json()["error"]
    unknown = FakeBox(commune_a, "u", box_id="6d0f1c1e-0000-4000-8000-000000000000")
    assert unknown.signed("GET", "/api/shield/policy").status_code == 401
    assert (
        FakeBox(commune_a, "u", box_id="pas-un-uuid")
        .signed("GET", "/api/shield/policy")
        .status_code
        == 401
    )
    # Revoked: the same key opens nothing any more.
    services.revoke_box(SYSTEM, Box.objects.get(pk=box.box_id))
    assert box.signed("GET", "/api/shield/policy").status_code == 401
    assert AuditEntry.objects.filter(action="shield.box_revoked", target=box.box_id).exists()


def test_session_users_get_nothing_from_the_box_api(commune_a, make_box, operator_admin, admin_a):
    make_box(commune_a)
    for client in (logged_in(operator_admin), logged_in(admin_a)):
        assert client.get("/api/shield/policy").status_code == 401
        assert (
            client.post(
                "/api/shield/events", {"events": []}, content_type="application/json"
            ).status_code
            == 401
        )
        assert (
            client.post("/api/shield/heartbeat", {}, content_type="application/json").status_code
            == 401
        )


def test_heartbeat_records_version_and_health(commune_a, make_box):
    box = make_box(commune_a)
    answer = box.signed(
        "POST",
        "/api/shield/heartbeat",
        {"version": "0.2.0", "health": {"nft": "ok", "blocked": 12}},
    )
    assert answer.json() == {"policy_version": 1}  # the first policy this box will get
    stored = Box.objects.get(pk=box.box_id)
    assert stored.version == "0.2.0" and stored.health == {"nft": "ok", "blocked": 12}
    assert box.signed("POST", "/api/shield/heartbeat", {"version": 3}).status_code == 400


def test_events_exactly_once_across_retries_and_overlaps(commune_a, make_box):
    box = make_box(commune_a)
    batch = [box.event(seq=s, flows=s) for s in range(1, 6)]
    first = box.send(batch)
    assert first.json() == {"accepted": 5, "duplicates": 0, "last_seq": 5}
    retried = box.send(batch)  # the answer was lost: the box sends the same batch again
    assert retried.json() == {"accepted": 0, "duplicates": 5, "last_seq": 5}
    overlapping = box.send(batch[3:] + [box.event(seq=s, flows=s) for s in range(6, 9)])
    assert overlapping.json() == {"accepted": 3, "duplicates": 2, "last_seq": 8}
    stored = ShieldEvent.objects.filter(box_id=box.box_id)
    assert sorted(stored.values_list("seq", flat=True)) == list(range(1, 9))
    assert sum(stored.values_list("flows", flat=True)) == sum(range(1, 9))
    assert Box.objects.get(pk=box.box_id).last_seq == 8


def test_the_database_decides_what_is_new_with_no_lookup_first(commune_a, make_box):
    """Exactly once rests on the (box, seq) unique constraint alone: the events table is
    never read (a lookup of the seqs first cost half the throughput, issue 14); a batch
    of 1,000 is two INSERT … ON CONFLICT DO NOTHING statements on SQLite (500 rows
    each), one on PostgreSQL (one JSON document, through psycopg's own cursor, which
    Django does not see)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    box = make_box(commune_a)
    box.send([box.event(seq=s) for s in range(1, 11)])
    batch = [box.event(seq=s, flows=s) for s in range(1, 1001)]
    with CaptureQueriesContext(connection) as queries:
        answer = box.send(batch).json()
    assert answer == {"accepted": 990, "duplicates": 10, "last_seq": 1000}
    table = ShieldEvent._meta.db_table
    touching = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert all(q.startswith("INSERT") and "ON CONFLICT" in q for q in touching)
    assert len(touching) == (0 if connection.vendor == "postgresql" else 2)
    stored = ShieldEvent.objects.filter(box_id=box.box_id)
    assert stored.count() == 1000 and stored.get(seq=1).flows == 1  # the first one stays


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7/32", "203.0.113.7"),
        ("203.0.113.7/24", "203.0.113.0/24"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("2001:db8::7", "2001:db8::7"),
        ("2001:db8::7/48", "2001:db8::/48"),
        ("203.000.113.7", None),
        ("203.0.113.7/", None),
        ("203.0.113", None),
        ("203.0.113.7/33", None),
        ("", None),
    ],
)
def test_event_sources_are_read_as_ipaddress_reads_them(sent, stored):
    assert services._source(sent) == stored


def test_events_are_stored_as_sent_whatever_their_text_and_numbers(commune_a, make_box):
    """The batch reaches the database as one document (JSON on PostgreSQL): text that
    means something to JSON, SQL or arrays, offsets and large counters come back as
    sent; a NUL, which PostgreSQL's text cannot hold, is dropped on both databases."""
    box = make_box(commune_a)
    awkward = "a \"b\" \\c {d,e} NULL 'f' é 🛡 \x00g" + "h" * 600
    sent = [
        box.event(seq=1, detail=awkward, at="2026-11-10T12:30:00.250000+02:00"),
        box.event(seq=2, flows=2**63 - 1, duration=2**31 - 1, count=2**31 - 1)
        | {"last_at": "2026-11-10T11:00:00+01:00"},
    ]
    assert box.send(sent).json() == {"accepted": 2, "duplicates": 0, "last_seq": 2}
    first, second = ShieldEvent.objects.filter(box_id=box.box_id).order_by("seq")
    assert first.detail == awkward.replace("\x00", "")[:500]
    assert first.at == dt.datetime(2026, 11, 10, 10, 30, 0, 250000, tzinfo=dt.UTC)
    assert (first.last_at, first.count, first.commune) == (None, 1, commune_a)
    assert (second.flows, second.duration, second.count) == (2**63 - 1, 2**31 - 1, 2**31 - 1)
    assert second.last_at == dt.datetime(2026, 11, 10, 10, tzinfo=dt.UTC)
    too_far = box.send([box.event(seq=2**63)])
    assert too_far.status_code == 400 and "« seq »" in too_far.json()["error"]


def test_two_boxes_may_use_the_same_sequence_numbers(commune_a, commune_b, make_box):
    one, two = make_box(commune_a, "un"), make_box(commune_b, "deux")
    assert one.send([one.event(seq=1)]).json()["accepted"] == 1
    assert two.send([two.event(seq=1)]).json()["accepted"] == 1
    assert ShieldEvent.objects.get(box_id=two.box_id).commune == commune_b


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"kind": "boum"}, "kind"),
        ({"at": "hier"}, "at"),
        ({"at": "2026-11-10T10:00:00"}, "fuseau"),
        ({"source": "pas-une-ip"}, "source"),
        ({"country": "france"}, "country"),
        ({"scenario": "inconnu"}, "scénario"),
        ({"flows": -3}, "flows"),
        ({"flows": 2**63}, "flows"),  # beyond the column: refused by name, not a 500
        ({"duration": 2**31}, "duration"),
        ({"count": 2**31}, "count"),
        ({"duration": "long"}, "duration"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_event_refuses_the_whole_batch_naming_its_seq(
    commune_a, make_box, bad, message
):
    box = make_box(commune_a)
    batch = [box.event(seq=1), box.event(seq=2, **bad), box.event(seq=3)]
    response = box.send(batch)
    assert response.status_code == 400
    assert "seq=2" in response.json()["error"] and message in response.json()["error"]
    assert not ShieldEvent.objects.exists()


def test_batch_limits(commune_a, make_box):
    box = make_box(commune_a)
    too_many = box.send([box.event(seq=s) for s in range(1, 1002)])
    assert too_many.status_code == 400 and "1000" in too_many.json()["error"]
    twice = box.send([box.event(seq=1), box.event(seq=1)])
    assert twice.status_code == 400 and "seq=1" in twice.json()["error"]
    assert box.send([{"seq": 0}]).status_code == 400
    huge = box.signed("POST", "/api/shield/events", {"events": [], "pad": "x" * (3 * 1024 * 1024)})
    assert huge.status_code == 413
    assert not ShieldEvent.objects.exists()
    assert box.send([box.event(seq=s) for s in range(1, 1001)]).json()["accepted"] == 1000


def test_policy_is_signed_and_a_tampered_one_does_not_verify(commune_a, make_box):
    box = make_box(commune_a)
    services.set_countries(SYSTEM, commune_a, ["kp", "IR"])
    services.add_sinkhole(SYSTEM, "Phish.Example.")
    envelope = box.signed("GET", "/api/shield/policy").json()
    policy = protocol.open_envelope(box.central_key, envelope)
    assert policy["commune"] == commune_a.insee
    assert (policy["box"], policy["version"]) == (box.box_id, 1)
    assert policy["countries_blocked"] == ["IR", "KP"]
    assert policy["sinkhole_domains"] == ["phish.example"]
    assert policy["scenarios"]["port-scan"]["ports"] == 10
    payload = json.loads(protocol.unb64(envelope["payload"]))
    payload["countries_blocked"] = []
    forged = {
        "payload": protocol.b64(protocol.canonical_json(payload)),
        "signature": envelope["signature"],
    }
    with pytest.raises(protocol.SignatureError):
        protocol.open_envelope(box.central_key, forged)
    other_key = protocol.sign_envelope(protocol.new_private_key(), payload)
    with pytest.raises(protocol.SignatureError):
        protocol.open_envelope(box.central_key, other_key)


def test_signing_key_is_private_and_stable(settings):
    path = services.signing_key_path()
    first = services.central_public_key()
    assert path.stat().st_mode & 0o777 == 0o600
    assert services.central_public_key() == first


def test_departure_exports_then_purges_the_shield(commune_a, make_box, settings):
    import zipfile

    from clocher.onboarding import services as onboarding

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    box = make_box(commune_a, "boitier-partant")
    box.send([box.event(seq=1, flows=7)])
    services.set_countries(SYSTEM, commune_a, ["KP"])
    export = onboarding.depart(SYSTEM, commune_a)
    with staging.local_copy(export.path, commune_a) as copy, zipfile.ZipFile(copy) as archive:
        settings_json = json.loads(archive.read("bouclier/bouclier.json"))
        events_csv = archive.read("bouclier/evenements.csv").decode()
    assert settings_json["boitiers"][0]["hostname"] == "boitier-partant"
    assert settings_json["pays_bloques"] == ["KP"]
    assert ",203.0.113.7,CN,port-scan,0,7" in events_csv
    assert not Box.objects.exists() and not ShieldEvent.objects.exists()
    assert box.signed("GET", "/api/shield/policy").status_code == 401


def test_policy_is_compressed_for_clients_that_accept_gzip(commune_a, make_box, tmp_path):
    import gzip

    from clocher.shield import feeds

    listed = tmp_path / "liste.txt"
    listed.write_text("".join(f"198.18.{i // 256}.{i % 256}\n" for i in range(3000)))
    feeds.import_feed(SYSTEM, "grande", str(listed))
    box = make_box(commune_a)
    response = box.signed("GET", "/api/shield/policy", **{"Accept-Encoding": "gzip"})
    assert response["Content-Encoding"] == "gzip"
    envelope = json.loads(gzip.decompress(response.content))
    assert len(protocol.open_envelope(box.central_key, envelope)["blocklist"]) == 3000
    assert len(response.content) * 3 < len(json.dumps(envelope))


def _hint(box: Any) -> int:
    """What the box's heartbeat is told: the version of the policy it would be served."""
    answer = box.signed("POST", "/api/shield/heartbeat", {"version": "0.2.0", "health": {}})
    return int(answer.json()["policy_version"])


def test_each_box_gets_policies_bound_to_it_with_its_own_counter(commune_a, make_box):
    first, second = make_box(commune_a, "premier"), make_box(commune_a, "second")
    assert _hint(first) == 1
    assert [first.policy()["version"] for _ in range(2)] == [1, 1]  # nothing new: same
    assert _hint(first) == 1
    services.add_sinkhole(SYSTEM, "phish.example")
    assert _hint(first) == 2
    policy = first.policy()
    assert (policy["box"], policy["version"]) == (first.box_id, 2)
    assert policy["sinkhole_domains"] == ["phish.example"]
    assert _hint(first) == 2
    assert Box.objects.get(pk=first.box_id).policy_version == 2
    assert (second.policy()["box"], second.policy()["version"]) == (second.box_id, 1)


def test_boxes_enrolled_before_the_upgrade_continue_above_the_central_version(commune_a, make_box):
    """A box that applied policies numbered by the central's counter (v5 here) must be
    told of a newer one after the upgrade, and the next it fetches must be above v5."""
    import importlib

    from django.apps import apps

    box = make_box(commune_a)
    for name in ("a.example", "b.example", "c.example", "d.example"):
        services.add_sinkhole(SYSTEM, name)
    assert services.policy_version() == 5
    Box.objects.filter(pk=box.box_id).update(policy_version=0, policy_built_from=0)
    migration = importlib.import_module(
        "clocher.shield.migrations.0003_events_count_and_policy_per_box"
    )
    migration.start_at_the_central_version(apps, None)
    assert _hint(box) == 6
    assert box.policy()["version"] == 6


def test_aggregated_events_count_as_their_count_in_the_report(commune_a, make_box):
    from clocher.shield import report

    box = make_box(commune_a)
    repeated = box.event(scenario="dns-sinkhole", flows=40, count=40, detail="phish.example") | {
        "last_at": "2026-11-10T11:00:00Z"
    }
    overflow = box.event(kind="decision", source=OVERFLOW_SOURCE, count=3, detail="spool plein")
    assert box.send([repeated, overflow]).json()["accepted"] == 2
    stored = ShieldEvent.objects.get(box_id=box.box_id, seq=1)
    assert (stored.count, stored.flows) == (40, 40)
    assert stored.last_at == dt.datetime(2026, 11, 10, 11, tzinfo=dt.UTC)
    figures = report.build(dt.date(2026, 11, 1), commune_a)
    assert (figures.flows, figures.blocks) == (40, 3)
    for bad, why in (({"count": 0}, "count"), ({"last_at": "2026-11-10T09:00:00Z"}, "précède")):
        answer = box.send([box.event(seq=3) | bad])
        assert answer.status_code == 400 and why in answer.json()["error"]
