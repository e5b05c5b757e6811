"""Awareness without the mail servers (Django's in-memory outbox): who takes part, when
messages are due, the events and what they do to the level, the landing page that keeps
nothing typed, the report, the aggregates that hide people."""

from __future__ import annotations

import json
import logging
import re
from datetime import date, timedelta
from email.message import EmailMessage

import pytest
from click.testing import CliRunner
from django.apps import apps
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import models
from django.test import Client
from django.utils import timezone

from clocher.awareness import results, services
from clocher.awareness.models import Campaign, Enrolment, Event, EventKind, Participant, Recipient
from clocher.cli import main
from clocher.core.audit import Actor
from tests.awareness.conftest import ACTOR
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 3, 2)
FAR = timezone.now() + timedelta(days=3650)
LINK = re.compile(r"https?://[^\s\"<>]+/sensibilisation/l/[A-Za-z0-9_-]+/")


def sent_links() -> dict[str, str]:
    return {m.to[0]: LINK.search(m.body).group(0) for m in mail.outbox}


def launch(commune, days: int = 1):
    campaign = services.create_campaign(ACTOR, commune, "Exercice de printemps", MONDAY, days)
    services.send_due(FAR, campaign=campaign)
    return campaign


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_opt_in_and_objection_decide_who_receives(enrolled, commune_a):
    boxes = enrolled(3)
    services.choose(ACTOR, commune_a, boxes[0].user, take_part=False)  # objects
    unseen = Participant.objects.get(user=boxes[1].user)
    unseen.notice_seen_at = None  # not yet informed: never tested
    unseen.save()
    launch(commune_a)
    assert [m.to for m in mail.outbox] == [[boxes[2].address]]

    mail.outbox.clear()
    services.set_programme(
        ACTOR, commune_a, enabled=True, enrolment=Enrolment.OPT_IN, notice=services.DEFAULT_NOTICE
    )
    launch(commune_a)
    assert mail.outbox == []  # opt-in: nobody said yes yet
    services.choose(ACTOR, commune_a, boxes[0].user, take_part=True)
    launch(commune_a)
    assert [m.to for m in mail.outbox] == [[boxes[0].address]]


def test_send_times_fall_in_working_hours_of_weekdays(enrolled, commune_a):
    enrolled(6)
    campaign = services.create_campaign(ACTOR, commune_a, "Semaine", MONDAY, days=5)
    windows = [(9 * 60, 12 * 60), (14 * 60, 17 * 60)]
    for at in Recipient.objects.filter(campaign=campaign).values_list("send_at", flat=True):
        local = timezone.localtime(at)
        minute = local.hour * 60 + local.minute
        assert local.weekday() < 5 and local.date() < MONDAY + timedelta(days=7)
        assert any(begin <= minute < end for begin, end in windows), local
    # Nothing is due before its time; everything is once the week is over.
    assert services.send_due(timezone.make_aware(timezone.datetime(2026, 3, 1))).sent == 0
    assert services.send_due(FAR).sent == 6


def test_message_is_personal_with_look_alike_sender_and_tracking(enrolled, commune_a):
    (box,) = enrolled(1)
    launch(commune_a)
    (message,) = mail.outbox
    recipient = Recipient.objects.get()
    assert message.extra_headers["From"].endswith(".example>")
    assert recipient.token in message.body
    html = message.alternatives[0][0]
    assert f"/sensibilisation/o/{recipient.token}/image.gif" in html
    # A mail client loads the image again and again: one open, the GIF every time.
    for _ in range(3):
        answer = Client().get(path_of(services.pixel(recipient)))
        assert answer.status_code == 200 and answer["Content-Type"] == "image/gif"
    (opened,) = Event.objects.filter(kind=EventKind.OPENED)
    assert (opened.recipient, opened.commune) == (recipient, commune_a)
    # A message not sent yet has no image to load.
    Recipient.objects.update(sent_at=None)
    assert Client().get(path_of(services.pixel(recipient))).status_code == 404


def all_stored_text() -> str:
    """Every text value of every row of every table."""
    chunks = []
    for model in apps.get_models():
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        if fields:
            chunks.extend(str(row) for row in model.objects.values_list(*fields))
    return "\n".join(chunks)


def test_landing_submit_records_the_fact_and_teaches_but_stores_nothing_typed(
    enrolled, commune_a, caplog
):
    (box,) = enrolled(1)
    launch(commune_a)
    url = path_of(sent_links()[box.address])
    client = Client()
    assert client.head(url).status_code == 200
    page = client.get(url)
    assert page.status_code == 200
    # A link scanner's HEAD or GET is no click: the page's script tells it, once shown.
    assert not Event.objects.filter(kind=EventKind.CLICKED).exists()
    (beacon,) = re.findall(r'data-clic="([^"]+)"', page.content.decode())
    assert client.get(beacon).status_code == 405
    assert client.post(beacon).status_code == 204
    assert Event.objects.filter(kind=EventKind.CLICKED).count() == 1
    assert client.post(beacon.replace(Recipient.objects.get().token, "x" * 32)).status_code == 404
    # The fake form's fields have no name: a browser sends nothing of what is typed.
    assert re.findall(r"<input[^>]*\bname=", page.content.decode()) == []
    before = Participant.objects.get().rating
    secret_id, secret_pw = "jean.secret.identifiant", "MotDePasse-Tres-Secret-9731"
    with caplog.at_level(logging.DEBUG):
        lesson = client.post(url, {"identifiant": secret_id, "motdepasse": secret_pw})
    assert lesson.status_code == 200
    text = lesson.content.decode()
    assert "C'était un exercice" in text
    template = Recipient.objects.get().template
    assert all(tell.replace("'", "&#x27;") in text for tell in template.tells)
    kinds = set(Event.objects.values_list("kind", flat=True))
    assert kinds == {EventKind.SENT, EventKind.CLICKED, EventKind.SUBMITTED}
    assert Participant.objects.get().rating < before  # the level went down
    stored = all_stored_text()
    for secret in (secret_id, secret_pw):
        assert secret not in stored
        assert secret not in caplog.text


def test_report_earns_points_and_raises_the_level(enrolled, commune_a):
    (box,) = enrolled(1)
    launch(commune_a)
    (message,) = mail.outbox
    forwarded = f"---------- Message transféré ----------\n{message.message()}".encode()
    before = Participant.objects.get().rating
    assert services.report_message(forwarded) is not None
    assert services.report_message(forwarded) is not None  # counted once
    participant = Participant.objects.get()
    assert participant.rating > before and participant.points == services.POINTS_FOR_REPORT
    assert Event.objects.filter(kind=EventKind.REPORTED).count() == 1
    page = logged_in(box.user).get(f"/c/{commune_a.insee}/sensibilisation/")
    assert f"Points : <strong>{services.POINTS_FOR_REPORT}</strong>" in page.content.decode()
    assert "Vigie" in page.content.decode()
    # A real phishing (no token of ours) is not an exercise.
    assert services.report_message(b"Subject: Gagnez un iPhone\n\nhttp://x.example/") is None


def test_report_found_in_a_base64_attachment(enrolled, commune_a):
    """A client that forwards the exercise as a base64 message/rfc822 attachment: the
    token is not in the raw text, only in the decoded part."""
    enrolled(1)
    launch(commune_a)
    forward = EmailMessage()
    forward["Subject"] = "TR: suspect"
    forward.set_content("Regardez.")
    forward.add_attachment(
        mail.outbox[0].message().as_bytes(), maintype="message", subtype="rfc822"
    )
    raw = forward.as_bytes()
    assert b"/sensibilisation/l/" not in raw
    assert services.report_message(raw) == Recipient.objects.get()
    assert Event.objects.filter(kind=EventKind.REPORTED).count() == 1


def test_the_next_template_follows_the_level(enrolled, commune_a):
    (box,) = enrolled(1)
    participant = Participant.objects.get()
    participant.rating = 1.0
    participant.save()
    first = launch(commune_a).recipients.get()
    assert first.template.level == 1
    participant.rating = 4.6
    participant.save()
    harder = launch(commune_a).recipients.get()
    assert harder.template.level == 5


def test_notice_shown_with_its_date_and_choice_on_the_agent_page(enrolled, commune_a):
    (box,) = enrolled(1)
    client = logged_in(box.user)
    page = client.get(f"/c/{commune_a.insee}/sensibilisation/").content.decode()
    assert "Note présentée le" in page and "Base légale" in page
    client.post(f"/c/{commune_a.insee}/sensibilisation/", {"action": "choice", "take_part": "0"})
    assert Participant.objects.get().opted_in is False


def test_admin_sees_aggregates_only_from_five_agents(enrolled, commune_a, admin_a):
    boxes = enrolled(4)
    launch(commune_a)
    Client().get(path_of(sent_links()[boxes[0].address]))
    client = logged_in(admin_a)
    page = client.get(f"/c/{commune_a.insee}/sensibilisation/").content.decode()
    assert "Moins de 5 agents participent" in page and "Taux de clic" not in page
    assert services.aggregates(commune_a).hidden
    enrolled(1, prefix="cinquieme")
    page = client.get(f"/c/{commune_a.insee}/sensibilisation/").content.decode()
    assert "Taux de clic" in page
    # Aggregates, never a person: no agent's address on the admin's page.
    assert not any(box.address in page for box in boxes)


def test_a_token_reveals_nothing_of_another_commune(enrolled, commune_a, commune_b):
    enrolled(1)
    enrolled(1, commune=commune_b, prefix="voisin")
    launch(commune_a)
    (link_a,) = sent_links().values()
    page = Client().get(path_of(link_a)).content.decode()
    assert commune_b.name not in page and "voisin" not in page
    lesson = Client().post(path_of(link_a)).content.decode()
    assert commune_b.name not in lesson and "voisin" not in lesson
    # An unknown or unsent token is a plain 404.
    assert Client().get("/sensibilisation/l/" + "x" * 32 + "/").status_code == 404
    assert Client().get("/sensibilisation/o/" + "x" * 32 + "/image.gif").status_code == 404
    assert not Event.objects.filter(commune=commune_b).exists()


def test_cli_create_send_report(enrolled, commune_a, tmp_path):
    enrolled(2)
    runner = CliRunner()
    made = runner.invoke(main, ["awareness", "campaign", "create", commune_a.insee, "CLI"])
    assert made.exit_code == 0, made.output
    assert "2 agent(s)" in made.output
    campaign_id = Recipient.objects.values_list("campaign_id", flat=True).first()
    sent = runner.invoke(main, ["awareness", "campaign", "send", "--maintenant", str(campaign_id)])
    assert "Messages envoyés : 2" in sent.output
    eml = tmp_path / "signalement.eml"
    eml.write_bytes(mail.outbox[0].message().as_bytes())
    reported = runner.invoke(main, ["awareness", "campaign", "report", str(eml)])
    assert reported.exit_code == 0, reported.output
    assert Event.objects.filter(kind=EventKind.REPORTED).count() == 1
    refused = runner.invoke(main, ["awareness", "campaign", "create", "99999", "X"])
    assert refused.exit_code == 1 and "Commune 99999 inconnue" in refused.output


def test_a_commune_adds_its_own_template_checked_and_offered_to_it_only(
    enrolled, commune_a, commune_b, tmp_path
):
    spec = {
        "slug": "cantine",
        "name": "Menu de la cantine",
        "sender_name": "Restauration scolaire",
        "sender_address": "menus@cantine-{commune_slug}.example",
        "subject": "{prenom}, le menu de la semaine",
        "body": "Bonjour {prenom},\n\nLe menu : {lien}",
        "landing_title": "Portail cantine",
        "sender_credibility": 2,
        "urgent": False,
        "errors": False,
        "personalised": True,
        "tells": ["L'adresse n'est pas celle du prestataire."],
    }
    path = tmp_path / "cantine.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(
        main, ["awareness", "template", "add", str(path), "--commune", commune_a.insee]
    )
    assert added.exit_code == 0, added.output
    assert "niveau 5" in added.output
    assert "cantine" in {t.slug for t in services.templates_for(commune_a)}
    assert "cantine" not in {t.slug for t in services.templates_for(commune_b)}
    path.write_text(json.dumps({**spec, "slug": "autre", "body": "Pas de lien {mot_de_passe}"}))
    refused = runner.invoke(main, ["awareness", "template", "add", str(path)])
    assert refused.exit_code == 1 and "{lien}" in refused.output


def test_demo_switches_the_programme_on_for_volunteers(commune_a, admin_a):
    services.demo_programme(ACTOR, commune_a, admin_a)
    services.demo_programme(ACTOR, commune_a, admin_a)  # idempotent
    programme = services.programme_of(commune_a)
    assert programme.enabled and programme.enrolment == Enrolment.OPT_IN
    assert Participant.objects.get(user=admin_a).notice_seen_at is not None


def test_operator_tile_counts_programmes_campaigns_reports(enrolled, commune_a):
    from clocher.awareness.hooks import awareness_tile

    enrolled(1)
    launch(commune_a)
    services.report_message(mail.outbox[0].message().as_bytes())
    figures = {f.label: f.value for f in awareness_tile().figures}
    assert figures == {"Communes engagées": "1", "Campagnes": "1", "Signalements": "1"}


def test_report_endpoint_needs_the_mail_servers_secret_and_queues_real_phishing(
    enrolled, commune_a, client_operator
):
    from clocher.awareness.models import SuspectReport
    from clocher.mail.policy import policy_secret

    (box,) = enrolled(1)
    phishing = (
        b"From: Support <escroc@example.org>\r\nSubject: Compte bloque\r\n\r\nhttp://x.example/\r\n"
    )
    url = "/interne/sensibilisation/signalement"
    headers = {"HTTP_X_CLOCHER_REPORTER": box.address, "HTTP_X_CLOCHER_CHANNEL": "folder"}
    post = Client().post
    refused = post(url, phishing, content_type="message/rfc822", **headers)
    assert refused.status_code == 403 and SuspectReport.objects.count() == 0
    auth = {"HTTP_AUTHORIZATION": f"Bearer {policy_secret()}", **headers}
    answer = post(url, phishing, content_type="message/rfc822", **auth)
    assert answer.content == b"file"
    stranger = {**auth, "HTTP_X_CLOCHER_REPORTER": "inconnu@example.org"}
    assert (
        post(url, phishing, content_type="message/rfc822", **stranger).content == "ignoré".encode()
    )
    (queued,) = SuspectReport.objects.all()
    assert (queued.commune, queued.subject, queued.reporter) == (
        commune_a,
        "Compte bloque",
        box.address,
    )

    page = client_operator.get("/operateur/sensibilisation/")
    assert "Compte bloque" in page.content.decode()
    listed = CliRunner().invoke(main, ["awareness", "queue", "list"])
    assert "Compte bloque" in listed.output and box.address in listed.output
    done = client_operator.post("/operateur/sensibilisation/", {"suspect": queued.pk}, follow=True)
    assert "Aucun signalement en attente" in done.content.decode()
    assert SuspectReport.objects.get().handled_at is not None


def test_close_counts_ignored_and_plays_a_glicko_period(enrolled, commune_a):
    """Three agents get the same template: one reports, one ignores, one submits. At the
    close, the reporter rises most, the ignorer a little (and earns the small points),
    the one who typed falls; the template, beaten twice out of three, gets easier; every
    deviation narrows. The next campaign picks for each the template at even odds."""
    boxes = enrolled(3)
    services.ensure_catalogue()
    template = services.templates_for(commune_a).get(slug="colis")
    for participant in Participant.objects.all():
        participant.rating = float(template.level)
        participant.skill = services.skill_of_level(template.level)
        participant.save()
    campaign = launch(commune_a)
    Recipient.objects.update(template=template)
    by_address = {r.address: r for r in campaign.recipients.all()}
    reporter, ignorer, victim = (by_address[b.address] for b in boxes)
    services.record(reporter, EventKind.REPORTED)
    services.record(victim, EventKind.CLICKED)
    services.record(victim, EventKind.SUBMITTED)

    counts = services.close_campaign(ACTOR, campaign)
    assert counts["reported"] == counts["ignored"] == counts["submitted"] == 1
    after = {p.user_id: p for p in Participant.objects.all()}
    start = services.skill_of_level(template.level)
    up_most, up, down = (after[r.participant.user_id] for r in (reporter, ignorer, victim))
    assert up_most.skill > up.skill > start > down.skill
    assert all(p.skill_deviation < 350 for p in after.values())
    assert up.points == services.POINTS_FOR_IGNORED
    assert Recipient.objects.get(pk=ignorer.pk).outcome == "ignored"
    template.refresh_from_db()
    assert template.skill < start and template.skill_deviation < 200
    with pytest.raises(ValidationError):
        services.close_campaign(ACTOR, campaign)


def test_campaigns_close_by_themselves_a_week_after_the_last_message(enrolled, commune_a):
    enrolled(1)
    campaign = launch(commune_a)
    sent = Recipient.objects.get().sent_at
    assert services.close_due(ACTOR, sent + timedelta(days=6)) == 0
    assert services.close_due(ACTOR, sent + timedelta(days=8)) == 1
    campaign.refresh_from_db()
    assert campaign.closed_at is not None
    assert Recipient.objects.get().outcome == "ignored"


def test_results_older_than_twelve_months_are_deleted_by_the_periodic_job(enrolled, commune_a):
    """`clocher serve` runs `awareness campaign send --every 60`; each round also deletes
    what is past the 12 months the notice promises."""
    from clocher.awareness.hooks import send_job

    (argv,) = [child.argv for child in send_job()]
    assert argv[-5:] == ["awareness", "campaign", "send", "--every", "60"]
    enrolled(1)
    old, recent = launch(commune_a), launch(commune_a)
    Campaign.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=366))
    result = CliRunner().invoke(main, argv[-5:-2])
    assert result.exit_code == 0, result.output
    assert list(Campaign.objects.values_list("pk", flat=True)) == [recent.pk]
    assert Event.objects.filter(recipient__campaign=old).count() == 0
    assert Event.objects.filter(recipient__campaign=recent).exists()


def test_monthly_trends_risk_and_exports_for_the_council(
    enrolled, commune_a, admin_a, client_operator
):
    """Five agents: one reports (30 minutes after the message), one clicks, one types,
    two ignore. Rates 2/5 clicks, 1/5 submissions, 1/5 reports; risk
    = 100 × (1 + ½·1)/5 × (1 − ½·1/5) = 27.0."""
    boxes = enrolled(5)
    launch(commune_a)
    by_address = {r.address: r for r in Recipient.objects.all()}
    reporter, clicker, typist = (by_address[b.address] for b in boxes[:3])
    services.record(reporter, EventKind.REPORTED)
    Event.objects.filter(recipient=reporter, kind=EventKind.REPORTED).update(
        at=reporter.sent_at + timedelta(minutes=30)
    )
    services.record(clicker, EventKind.CLICKED)
    services.record(typist, EventKind.CLICKED)
    services.record(typist, EventKind.SUBMITTED)

    (month,) = results.trends([commune_a])
    assert (month.sent, month.clicked, month.submitted, month.reported) == (5, 0.4, 0.2, 0.2)
    assert month.minutes_to_report == 30.0 and month.risk == 27.0
    admin = logged_in(admin_a)
    csv_text = admin.get(f"/c/{commune_a.insee}/sensibilisation/resultats.csv").content.decode()
    assert csv_text.splitlines()[1].endswith(";5;0.400;0.200;0.200;30.0;27.0")
    pdf = admin.get(f"/c/{commune_a.insee}/sensibilisation/resultats.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    page = admin.get(f"/c/{commune_a.insee}/sensibilisation/").content.decode()
    assert "Évolution mensuelle" in page and boxes[0].address not in page
    department = client_operator.get("/operateur/sensibilisation/resultats.csv").content.decode()
    assert department.splitlines()[1].endswith(";27.0")


def test_no_export_for_a_commune_under_five_agents(enrolled, commune_a, admin_a):
    enrolled(4)
    launch(commune_a)
    answer = logged_in(admin_a).get(f"/c/{commune_a.insee}/sensibilisation/resultats.csv")
    assert answer.status_code == 403
    assert "Moins de 5 agents" in answer.content.decode()


def test_no_commune_may_take_the_report_address(commune_a, admin_a):
    """signalement@ of the shared domain goes to the relay (main.cf): a mailbox of that
    name would never receive anything."""
    from clocher.mail import services as mail_services

    with pytest.raises(ValidationError, match="signalement"):
        mail_services.create_mailbox(
            Actor(user=admin_a), commune_a, "signalement@communes.cotedor.fr"
        )


def test_template_pages_add_operator_and_commune_templates(
    commune_a, commune_b, admin_a, agent_a, client_operator
):
    """The operator's template is offered to every commune; a commune's own only to it;
    a template without {lien} is refused by name; an agent may not add one."""
    fields = {
        "slug": "elections",
        "name": "Procurations",
        "sender_name": "Service élections",
        "sender_address": "elections@interieur-gouv.example",
        "subject": "Procurations à valider avant vendredi",
        "body": "Bonjour {prenom},\n\nValidez les procurations : {lien}",
        "landing_title": "Portail des élections",
        "sender_credibility": "1",
        "urgent": "on",
        "tells": "Adresse en .example\nUrgence inhabituelle",
    }
    client_operator.post("/operateur/sensibilisation/modeles/", fields)
    admin = logged_in(admin_a)
    page = f"/c/{commune_a.insee}/sensibilisation/modeles/"
    refused = admin.post(page, {**fields, "slug": "sans-lien", "body": "Pas de lien."})
    assert refused.status_code == 400 and "{lien}" in refused.content.decode()
    admin.post(page, {**fields, "slug": "elections-flavigny", "name": "Procurations Flavigny"})
    names_a = set(services.templates_for(commune_a).values_list("name", flat=True))
    names_b = set(services.templates_for(commune_b).values_list("name", flat=True))
    assert {"Procurations", "Procurations Flavigny"} <= names_a
    assert "Procurations" in names_b and "Procurations Flavigny" not in names_b
    own = services.templates_for(commune_a).get(slug="elections-flavigny")
    assert own.tells == ["Adresse en .example", "Urgence inhabituelle"] and own.urgent
    assert not own.errors
    assert logged_in(agent_a).post(page, fields).status_code in (403, 404)
