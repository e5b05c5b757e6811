"""Awareness services: the programme, who takes part, campaigns (a template per agent at
the edge of their skill, a send time per agent in working hours), sending through the
platform's mail, and the events that move each agent's level.

Every interface (pages, public tracking routes, CLI, the periodic job) comes through here.
Nothing typed into a landing page reaches this module: `record` takes a token and a kind.
"""

from __future__ import annotations

import base64
import math
import random
import re
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, urlize
from django.utils.text import slugify

from clocher.awareness.catalogue import BUILTIN
from clocher.awareness.models import (
    Campaign,
    Enrolment,
    Event,
    EventKind,
    Outcome,
    Participant,
    Programme,
    Recipient,
    SuspectReport,
    Template,
)
from clocher.awareness.rating import Rating, update, win_chance
from clocher.core import audit, mailer
from clocher.core.audit import Actor
from clocher.core.models import Commune, Membership, Role
from clocher.governance import cputime
from clocher.governance.models import Analytic

# Messages handed to Postfix, then marked sent, together.
SEND_GROUP = 50
SEND_CONNECTIONS = 4
# Below this many participants, a commune's figures would point at a person: hidden.
MIN_GROUP = 5
# Working hours when messages are due (local time), Monday to Friday.
WINDOWS = ((time(9, 0), time(12, 0)), (time(14, 0), time(17, 0)))
# Rating update (Elo-like): how far one result moves the level at once.
K = 0.6
# Glicko-2 (rating.py): one level is 200 points; the next message is the one the agent
# has an even chance of seeing through.
LEVEL_STEP = 200.0
EDGE = 0.5
# The agent's score in the game against the template, once a campaign closes.
SCORES = {
    Outcome.REPORTED: 1.0,
    Outcome.IGNORED: 0.7,  # not fooled, but the colleagues were not warned
    Outcome.CLICKED_REPORTED: 0.3,
    Outcome.CLICKED: 0.1,
    Outcome.SUBMITTED: 0.0,
}
POINTS_FOR_IGNORED = 2
# How long results are kept: CLOCHER_RETENTION_AWARENESS_DAYS, set once for the platform
# (clocher.governance.retention lists it; the notice to agents says 12 months).
SYSTEM_ACTOR = Actor(label="conservation des résultats (12 mois)")
# A campaign closes this long after its last message was sent (late clicks still count).
CLOSE_AFTER = timedelta(days=7)
POINTS_FOR_REPORT = 10
BADGES = ((100, "Vigie d'or"), (50, "Vigie d'argent"), (10, "Vigie"))
TOKEN_PATTERN = re.compile(r"/sensibilisation/[lo]/([A-Za-z0-9_-]{20,43})")
BASE64_BLOCK = re.compile(r"(?:^[A-Za-z0-9+/]{20,}={0,2}\r?$\n?)+", re.MULTILINE)
PARTICIPATING_ROLES = (Role.AGENT, Role.COMMUNE_ADMIN)

DEFAULT_NOTICE = (
    "La commune participe au programme de sensibilisation à l'hameçonnage de Clocher.\n"
    "Vous pourrez recevoir, dans votre boîte Clocher et pendant les heures de travail, des "
    "courriels imitant des tentatives d'hameçonnage. Rien de ce que vous tapez sur les "
    "pages d'exercice n'est enregistré : seul le fait d'avoir cliqué, saisi ou signalé "
    "l'est, pour vous proposer une courte leçon et des messages adaptés à votre niveau.\n"
    "Vos résultats sont personnels : vous seul les voyez. La commune ne voit que des "
    "chiffres d'ensemble, et aucun chiffre tant que moins de 5 agents participent.\n"
    "Finalité : prévenir les attaques. Base légale : mission d'intérêt public (sécurité "
    "du système d'information). Durée de conservation : 12 mois. Vous pouvez vous "
    "opposer à tout moment depuis cette page, sans conséquence, et exercer vos droits "
    "auprès du délégué à la protection des données de la commune."
)


def programme_of(commune: Commune) -> Programme | None:
    return Programme.objects.filter(commune=commune).first()


def set_programme(
    actor: Actor, commune: Commune, *, enabled: bool, enrolment: str, notice: str
) -> Programme:
    """Switch the programme on or off; on needs a notice (what agents are told first)."""
    if enrolment not in Enrolment.values:
        raise ValidationError(f"Mode de participation inconnu : « {enrolment} ».")
    if enabled and len(notice.strip()) < 40:
        raise ValidationError("La note d'information aux agents est vide ou trop courte.")
    with transaction.atomic():
        programme, _ = Programme.objects.select_for_update().get_or_create(
            commune=commune, defaults={"notice": notice}
        )
        switched_on = enabled and not programme.enabled
        programme.enabled, programme.enrolment, programme.notice = enabled, enrolment, notice
        if switched_on:
            programme.enabled_at, programme.enabled_by_label = timezone.now(), actor.display
        programme.save()
        audit.record(
            actor,
            "awareness.programme",
            commune=commune,
            data={"enabled": enabled, "enrolment": enrolment},
        )
    return programme


def participant_for(commune: Commune, user: Any) -> Participant:
    participant, _ = Participant.objects.get_or_create(commune=commune, user=user)
    return participant


def see_notice(commune: Commune, user: Any) -> Participant:
    """The agent opened the programme page: the notice was shown, with its date (kept the
    first time; the CNIL asks that agents be informed before any exercise)."""
    participant = participant_for(commune, user)
    if participant.notice_seen_at is None:
        participant.notice_seen_at = timezone.now()
        participant.save(update_fields=["notice_seen_at"])
    return participant


def choose(actor: Actor, commune: Commune, user: Any, *, take_part: bool) -> Participant:
    with transaction.atomic():
        participant = see_notice(commune, user)
        participant.opted_in = take_part
        participant.save(update_fields=["opted_in"])
        audit.record(actor, "awareness.choice", commune=commune, data={"take_part": take_part})
    return participant


def takes_part(programme: Programme | None, participant: Participant) -> bool:
    """Opt-in: only those who said yes. By default: all who have been shown the notice and
    did not say no — nobody is tested before being informed."""
    if programme is None or not programme.enabled or participant.notice_seen_at is None:
        return False
    if programme.enrolment == Enrolment.OPT_IN:
        return participant.opted_in is True
    return participant.opted_in is not False


def eligible(commune: Commune) -> list[tuple[Participant, str]]:
    """The participants of `commune` who take part, with their Clocher mailbox address
    (active members only: someone who left the commune receives nothing)."""
    from clocher.mail.models import Mailbox

    programme = programme_of(commune)
    members = set(
        Membership.objects.filter(
            commune=commune, is_active=True, role__in=PARTICIPATING_ROLES
        ).values_list("user_id", flat=True)
    )
    boxes = dict(
        Mailbox.objects.filter(commune=commune, user_id__in=members)
        .order_by("id")
        .values_list("user_id", "address")
    )
    found = []
    for participant in Participant.objects.filter(commune=commune, user_id__in=boxes):
        if takes_part(programme, participant):
            found.append((participant, boxes[participant.user_id]))
    return found


def ensure_catalogue() -> None:
    """The operator's built-in templates, created once (an operator's edits are kept)."""
    for spec in BUILTIN:
        Template.objects.get_or_create(commune=None, slug=spec["slug"], defaults=spec)


def templates_for(commune: Commune) -> QuerySet[Template]:
    return Template.objects.filter(Q(commune=None) | Q(commune=commune))


def skill_of_level(level: float) -> float:
    """A level (1 easy … 5 hard) on the Glicko scale: 1100 … 1900, 3 = 1500."""
    return 1500.0 + LEVEL_STEP * (level - 3.0)


def level_of_skill(skill: float) -> float:
    return min(5.0, max(1.0, 3.0 + (skill - 1500.0) / LEVEL_STEP))


def template_rating(template: Template) -> Rating:
    """Learnt from results once a campaign has closed, else from its cues."""
    skill = template.skill if template.skill is not None else skill_of_level(template.level)
    return Rating(skill, template.skill_deviation, template.skill_volatility)


def pick_template(templates: list[Template], rating: float, rng: random.Random) -> Template:
    """The template the agent of `rating` (their level, which moves with each result) has
    an even chance of seeing through: the edge of their skill, where a game teaches most
    (and tells most about them). Ties drawn at random so colleagues do not all get the
    same message."""
    agent = Rating(skill_of_level(rating), 0.0)
    gaps = [(abs(win_chance(agent, template_rating(t)) - EDGE), t) for t in templates]
    best = min(gap for gap, _ in gaps)
    return rng.choice([t for gap, t in gaps if gap - best < 0.01])


def working_slots(start: date, days: int) -> list[tuple[datetime, datetime]]:
    """The working-hour windows (local time) of `days` weekdays from `start`."""
    zone = timezone.get_current_timezone()
    slots: list[tuple[datetime, datetime]] = []
    day = start
    while len(slots) < days * len(WINDOWS):
        if day.weekday() < 5:
            for begin, end in WINDOWS:
                slots.append(
                    (
                        datetime.combine(day, begin, tzinfo=zone),
                        datetime.combine(day, end, tzinfo=zone),
                    )
                )
        day += timedelta(days=1)
    return slots


def send_time(slots: list[tuple[datetime, datetime]], rng: random.Random) -> datetime:
    begin, end = rng.choice(slots)
    return begin + timedelta(seconds=rng.randrange(int((end - begin).total_seconds())))


def create_campaign(
    actor: Actor, commune: Commune, name: str, starts_on: date, days: int = 1
) -> Campaign:
    """A campaign for everyone who takes part today: each gets a template at their level
    and a send time of their own, spread over the working hours of `days` weekdays."""
    if not name.strip():
        raise ValidationError("Le nom de la campagne est vide.")
    if not 1 <= days <= 20:
        raise ValidationError("La durée d'envoi doit être de 1 à 20 jours ouvrés.")
    programme = programme_of(commune)
    if programme is None or not programme.enabled:
        raise ValidationError(f"Le programme n'est pas activé pour {commune.name}.")
    cpu = cputime.Meter()  # choosing each agent's template, for the sobriety figures
    ensure_catalogue()
    templates = list(templates_for(commune))
    rng = random.Random(secrets.randbits(64))  # noqa: S311 - spreading, not secrecy
    slots = working_slots(starts_on, days)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            commune=commune,
            name=name.strip(),
            starts_on=starts_on,
            days=days,
            created_by_label=actor.display,
        )
        people = eligible(commune)
        Recipient.objects.bulk_create(
            [
                Recipient(
                    campaign=campaign,
                    commune=commune,
                    participant=participant,
                    address=address,
                    template=pick_template(templates, participant.rating, rng),
                    token=secrets.token_urlsafe(24),
                    send_at=send_time(slots, rng),
                )
                for participant, address in people
            ],
            batch_size=500,
        )
        audit.record(
            actor,
            "awareness.campaign_created",
            commune=commune,
            target=f"campaign:{campaign.pk}",
            data={"name": campaign.name, "recipients": len(people)},
        )
        cputime.record(commune, Analytic.AWARENESS, cpu.seconds)
    return campaign


def link(recipient: Recipient) -> str:
    return settings.BASE_URL + reverse("awareness:landing", kwargs={"lure": recipient.token})


def pixel(recipient: Recipient) -> str:
    return settings.BASE_URL + reverse("awareness:open", kwargs={"lure": recipient.token})


def render_message(recipient: Recipient) -> EmailMultiAlternatives:
    """The message as the agent sees it: the template's look-alike sender in From, the
    platform's "do not answer" address as envelope sender (bounces are discarded), the
    agent's first name, a tracked link and image."""
    template, user, commune = recipient.template, recipient.participant.user, recipient.commune
    first = (user.full_name or "").split()
    values = {
        "prenom": first[0] if first else recipient.address.split(".")[0].capitalize(),
        "commune": commune.name,
        "commune_slug": slugify(commune.name)[:30],
        "lien": link(recipient),
    }
    text = template.body.format(**values)
    paragraphs = "".join(
        f"<p>{str(urlize(escape(p))).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n")
    )
    html = (
        f'<html lang="fr"><body>{paragraphs}'
        f'<img src="{pixel(recipient)}" width="1" height="1" alt=""></body></html>'
    )
    sender = f"{template.sender_name} <{template.sender_address.format(**values)}>"
    message = EmailMultiAlternatives(
        template.subject.format(**values),
        text,
        mailer.platform_sender(),
        [recipient.address],
        headers={"From": sender},
    )
    message.attach_alternative(html, "text/html")
    return message


@dataclass
class SendReport:
    sent: int = 0
    waiting: int = 0


def send_due(now: datetime | None = None, campaign: Campaign | None = None) -> SendReport:
    """Send every message whose time has come (all of `campaign`'s when `now` is far
    enough); a message is marked sent with its event once handed to the mailer (which
    keeps it in its outbox if Postfix is down).

    Groups of SEND_GROUP go to Postfix over SEND_CONNECTIONS connections side by side,
    while this thread renders the next group: Postfix accepts each message in its own
    smtpd and cleanup (a queue file written and synced), so one connection would leave it
    idle while we render, and us idle while it syncs."""
    now = now or timezone.now()
    due = Recipient.objects.filter(sent_at=None, send_at__lte=now).select_related(
        "template", "participant__user", "commune"
    )
    if campaign is not None:
        due = due.filter(campaign=campaign)
    report = SendReport()
    batch = list(due.order_by("send_at", "id")[:1000])
    connections = [get_connection() for _ in range(SEND_CONNECTIONS)]
    in_flight: tuple[list[Recipient], list[Future[int]]] | None = None
    with ThreadPoolExecutor(len(connections), thread_name_prefix="sensibilisation") as pool:
        # Marked in groups (one transaction each, not one per message): a crash between a
        # hand-over and its mark resends at most the two groups in flight.
        for first in range(0, len(batch), SEND_GROUP):
            group = batch[first : first + SEND_GROUP]
            messages = [render_message(r) for r in group]
            if in_flight is not None:
                report.sent += _mark_sent(*in_flight)
            in_flight = (
                group,
                [
                    pool.submit(backend.send_messages, messages[n :: len(connections)])
                    for n, backend in enumerate(connections)
                ],
            )
        if in_flight is not None:
            report.sent += _mark_sent(*in_flight)
    report.waiting = Recipient.objects.filter(sent_at=None).count()
    return report


def _mark_sent(group: list[Recipient], handed_over: list[Future[int]]) -> int:
    for future in handed_over:
        future.result()  # the mailer spools what Postfix refuses; a bug still surfaces here
    with transaction.atomic():
        Recipient.objects.filter(pk__in=[r.pk for r in group]).update(sent_at=timezone.now())
        Event.objects.bulk_create(
            [Event(recipient=r, commune_id=r.commune_id, kind=EventKind.SENT) for r in group]
        )
    return len(group)


def find(token: str) -> Recipient | None:
    return (
        Recipient.objects.filter(token=token, sent_at__isnull=False)
        .select_related("template", "participant", "commune")
        .first()
    )


def record_open(token: str) -> bool:
    """The tracking image was loaded. Every mail client loads it, often many times, so it
    is the busiest address of a campaign: a read finds the message and whether its open is
    recorded (the common case: a reload, no write lock taken), and only a first open
    writes, in one statement whose unique constraint drops a concurrent twin (no lock: an
    open moves no level). SQL written once rather than built by the ORM on each hit.
    False: no such message sent."""
    event, recipient = Event._meta.db_table, Recipient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "id", "commune_id", EXISTS (SELECT 1 FROM "{event}" '  # noqa: S608
            f'WHERE "recipient_id" = "{recipient}"."id" AND "kind" = %s) '
            f'FROM "{recipient}" WHERE "token" = %s AND "sent_at" IS NOT NULL',
            [EventKind.OPENED, token],
        )
        found = cursor.fetchone()
        if found is None:
            return False
        recipient_id, commune_id, opened = found
        if not opened:
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(
                f'INSERT INTO "{event}" ("recipient_id", "commune_id", "kind", "at") '  # noqa: S608
                'VALUES (%s, %s, %s, %s) ON CONFLICT ("recipient_id", "kind") DO NOTHING',
                [recipient_id, commune_id, EventKind.OPENED, now],
            )
    return True


def expected(rating: float, level: int) -> float:
    """Chance that an agent of `rating` sees through a message of `level` (logistic)."""
    return 1.0 / (1.0 + math.exp(level - rating))


def record(recipient: Recipient, kind: str) -> bool:
    """Record `kind` for `recipient`, once; the first click, submit or report moves the
    agent's level (Elo-like: a report is a win against the template's level, a click or a
    submit a loss) and a report earns points. True if it was new."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                Event.objects.create(recipient=recipient, commune=recipient.commune, kind=kind)
        except IntegrityError:
            return False
        participant = Participant.objects.select_for_update().get(pk=recipient.participant_id)
        level = recipient.template.level
        others = set(recipient.events.values_list("kind", flat=True)) - {kind}
        if kind == EventKind.REPORTED and EventKind.CLICKED not in others:
            participant.rating += K * (1 - expected(participant.rating, level))
            participant.points += POINTS_FOR_REPORT
        elif kind == EventKind.REPORTED:
            participant.points += POINTS_FOR_REPORT // 2  # clicked, then reported: still good
        elif kind == EventKind.CLICKED or (
            kind == EventKind.SUBMITTED and EventKind.CLICKED not in others
        ):
            participant.rating -= K * expected(participant.rating, level)
        elif kind == EventKind.SUBMITTED:
            participant.rating -= K * expected(participant.rating, level) / 2
        participant.rating = min(5.0, max(1.0, participant.rating))
        participant.save(update_fields=["rating", "points"])
    return True


def _token_in(text: str, depth: int = 0) -> str | None:
    """The token in `text`, or in its base64 blocks decoded (a client that forwards the
    exercise as a base64 attachment, itself holding a base64 body): the MIME parser is no
    help there, a base64 message/rfc822 part is not decoded by it."""
    found = TOKEN_PATTERN.search(re.sub(r"=\r?\n", "", text).replace("=3D", "="))
    if found or depth > 2:
        return found.group(1) if found else None
    for block in BASE64_BLOCK.finditer(text):
        try:
            decoded = base64.b64decode("".join(block.group(0).split()))
        except ValueError:
            continue
        token = _token_in(decoded.decode("utf-8", "replace"), depth + 1)
        if token:
            return token
    return None


def report_message(raw: bytes) -> Recipient | None:
    """A message forwarded to the report address: the exercise it quotes (recognised by
    the token in its links) is recorded as reported. None: not one of ours — a real
    phishing, for the operator's queue."""
    token = _token_in(raw.decode("utf-8", "replace"))
    recipient = find(token) if token else None
    if recipient is not None:
        record(recipient, EventKind.REPORTED)
    return recipient


def outcome_of(kinds: set[str]) -> Outcome:
    if EventKind.SUBMITTED in kinds:
        return Outcome.SUBMITTED
    if EventKind.CLICKED in kinds:
        return Outcome.CLICKED_REPORTED if EventKind.REPORTED in kinds else Outcome.CLICKED
    return Outcome.REPORTED if EventKind.REPORTED in kinds else Outcome.IGNORED


def close_campaign(actor: Actor, campaign: Campaign) -> dict[str, int]:
    """Settle every exercise of `campaign` (an unanswered one counts as "ignored": a small
    win, two points) and play one Glicko-2 period: each agent against the template they
    got, each template against all the agents who got it, both from the values before
    the period. Messages never sent are dropped. Returns the count of each outcome."""
    cpu = cputime.Meter()  # the rating period, for the sobriety figures
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.closed_at is not None:
            raise ValidationError(f"La campagne « {campaign.name} » est déjà close.")
        recipients = list(
            Recipient.objects.filter(campaign=campaign, sent_at__isnull=False)
            .select_related("participant", "template")
            .prefetch_related("events")
        )
        Recipient.objects.filter(campaign=campaign, sent_at=None).delete()
        counts = {str(o): 0 for o in Outcome}
        # The agents' rows locked at once, in id order, and their ratings read from them:
        # one at a time in the recipients' order, two closings sharing agents deadlocked.
        agents = {
            p.pk: p
            for p in Participant.objects.select_for_update()
            .filter(pk__in={r.participant_id for r in recipients})
            .order_by("pk")
        }
        agents_before = {
            pk: Rating(p.skill, p.skill_deviation, p.skill_volatility) for pk, p in agents.items()
        }
        templates_before = {r.template_id: template_rating(r.template) for r in recipients}
        template_games: dict[int, list[tuple[Rating, float]]] = {}
        for recipient in recipients:
            outcome = outcome_of({e.kind for e in recipient.events.all()})
            counts[outcome] += 1
            score = SCORES[outcome]
            recipient.outcome = outcome
            recipient.save(update_fields=["outcome"])
            participant = agents[recipient.participant_id]
            after = update(
                agents_before[participant.pk], [(templates_before[recipient.template_id], score)]
            )
            participant.skill, participant.skill_deviation = after.rating, after.deviation
            participant.skill_volatility = after.volatility
            participant.rating = level_of_skill(after.rating)
            if outcome == Outcome.IGNORED:
                participant.points += POINTS_FOR_IGNORED
            participant.save(
                update_fields=["skill", "skill_deviation", "skill_volatility", "rating", "points"]
            )
            template_games.setdefault(recipient.template_id, []).append(
                (agents_before[participant.pk], 1.0 - score)
            )
        for template_id, games in template_games.items():
            after = update(templates_before[template_id], games)
            Template.objects.filter(pk=template_id).update(
                skill=after.rating,
                skill_deviation=after.deviation,
                skill_volatility=after.volatility,
            )
        campaign.closed_at = timezone.now()
        campaign.save(update_fields=["closed_at"])
        cputime.record(campaign.commune, Analytic.AWARENESS, cpu.seconds)
        audit.record(
            actor,
            "awareness.campaign_closed",
            commune=campaign.commune,
            target=f"campaign:{campaign.pk}",
            data=counts,
        )
    return counts


def close_due(actor: Actor, now: datetime | None = None) -> int:
    """Close the campaigns whose messages were all sent more than CLOSE_AFTER ago (the
    periodic send job calls this)."""
    now = now or timezone.now()
    due = (
        Campaign.objects.filter(closed_at=None)
        .exclude(recipients__sent_at=None)
        .exclude(recipients__sent_at__gt=now - CLOSE_AFTER)
        .filter(recipients__isnull=False)
        .distinct()
    )
    closed = 0
    for campaign in due:
        close_campaign(actor, campaign)
        closed += 1
    return closed


def purge_expired(now: datetime | None = None) -> int:
    """Results are kept 12 months (the notice says so): older campaigns go with their
    recipients and events, older reports leave the operator's queue. Run by the periodic
    send job of `clocher serve`. Returns the number of campaigns deleted."""
    limit = (now or timezone.now()) - timedelta(days=settings.RETENTION_AWARENESS_DAYS)
    with transaction.atomic():
        old = list(Campaign.objects.filter(created_at__lt=limit).values_list("pk", "commune_id"))
        Campaign.objects.filter(pk__in=[pk for pk, _ in old]).delete()
        SuspectReport.objects.filter(received_at__lt=limit).delete()
        for commune_id in sorted({c for _, c in old}):
            audit.record(
                SYSTEM_ACTOR,
                "awareness.results_purged",
                commune=Commune.objects.get(pk=commune_id),
                data={"campaigns": sum(1 for _, c in old if c == commune_id)},
            )
    return len(old)


def badge(points: int) -> str:
    return next((name for threshold, name in BADGES if points >= threshold), "")


@dataclass
class Figures:
    participants: int
    sent: int
    rates: dict[str, float]
    hidden: bool


def aggregates(commune: Commune) -> Figures:
    """The commune's figures, never a person's: rates over everything sent; hidden
    altogether while fewer than MIN_GROUP agents take part."""
    people = len(eligible(commune))
    sent = Recipient.objects.filter(commune=commune, sent_at__isnull=False).count()
    counts = dict(
        Event.objects.filter(commune=commune)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    hidden = people < MIN_GROUP
    rates = {
        str(kind): (counts.get(kind, 0) / sent if sent and not hidden else 0.0)
        for kind in (EventKind.OPENED, EventKind.CLICKED, EventKind.SUBMITTED, EventKind.REPORTED)
    }
    return Figures(people, 0 if hidden else sent, rates, hidden)


def my_results(participant: Participant) -> list[Recipient]:
    return list(
        Recipient.objects.filter(participant=participant, sent_at__isnull=False)
        .select_related("template")
        .prefetch_related("events")
        .order_by("-sent_at")[:50]
    )


def campaigns_of(commune: Commune) -> QuerySet[Campaign]:
    return Campaign.objects.filter(commune=commune).annotate(n=Count("recipients"))


TEMPLATE_FIELDS = {
    "slug",
    "name",
    "sender_name",
    "sender_address",
    "subject",
    "body",
    "landing_title",
    "sender_credibility",
    "urgent",
    "errors",
    "personalised",
    "tells",
}
REQUIRED_TEXT = ("slug", "name", "sender_name", "sender_address", "subject", "landing_title")


def add_template(actor: Actor, commune: Commune | None, spec: dict[str, Any]) -> Template:
    """An operator template (`commune` None, offered to all) or a commune's own. The body
    must carry the `{lien}` of the exercise; the lesson needs at least one tell."""
    unknown = sorted(set(spec) - TEMPLATE_FIELDS)
    if unknown:
        raise ValidationError(f"Champ(s) inconnu(s) : {', '.join(unknown)}.")
    missing = [f for f in REQUIRED_TEXT if not str(spec.get(f, "")).strip()]
    if missing:
        raise ValidationError(f"Champ(s) manquant(s) : {', '.join(missing)}.")
    if "{lien}" not in str(spec.get("body", "")):
        raise ValidationError("Le corps du message doit contenir {lien} (le lien de l'exercice).")
    tells = spec.get("tells")
    if not isinstance(tells, list) or not tells or not all(isinstance(t, str) for t in tells):
        raise ValidationError("« tells » doit être une liste non vide des indices à enseigner.")
    if spec.get("sender_credibility", 1) not in (0, 1, 2):
        raise ValidationError("« sender_credibility » vaut 0 (grossier), 1 (imitation) ou 2.")
    sample = {"prenom": "Jean", "commune": "Commune", "commune_slug": "commune", "lien": "x"}
    for field in ("subject", "body", "sender_address"):
        try:
            str(spec[field]).format(**sample)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValidationError(
                f"« {field} » : seuls {{prenom}}, {{commune}}, {{commune_slug}} et {{lien}} "
                f"sont permis ({exc})."
            ) from exc
    if Template.objects.filter(commune=commune, slug=spec["slug"]).exists():
        raise ValidationError(f"Un modèle « {spec['slug']} » existe déjà.")
    with transaction.atomic():
        made = Template.objects.create(commune=commune, **spec)
        audit.record(
            actor,
            "awareness.template_added",
            commune=commune,
            target=f"template:{made.pk}",
            data={"slug": made.slug, "level": made.level},
        )
    return made


def demo_programme(actor: Actor, commune: Commune, admin: Any) -> None:
    """`clocher init --demo`: the programme on (volunteers only), the notice shown to the
    admin, the built-in templates in place. Idempotent."""
    ensure_catalogue()
    if programme_of(commune) is None:
        set_programme(
            actor, commune, enabled=True, enrolment=Enrolment.OPT_IN, notice=DEFAULT_NOTICE
        )
    see_notice(commune, admin)
