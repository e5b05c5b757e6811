"""Awareness app: a commune's programme, its participants (agents, with their personal
level and points), the message templates, campaigns and, per recipient, the GoPhish
event model (sent, opened, clicked, submitted, reported).

Nothing an agent types into a landing page is a field here: only the fact of a submit.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clocher.core.models import Commune


class Enrolment(models.TextChoices):
    OPT_IN = "opt_in", "Sur volontariat (l'agent s'inscrit)"
    DEFAULT_IN = "default_in", "Par défaut (l'agent peut refuser)"


class Programme(models.Model):
    """One commune's programme, switched on by its admin once the notice is written."""

    commune = models.OneToOneField(
        Commune, on_delete=models.CASCADE, related_name="awareness_programme"
    )
    enabled = models.BooleanField("actif", default=False)
    enrolment = models.CharField(
        "participation", max_length=12, choices=Enrolment.choices, default=Enrolment.OPT_IN
    )
    notice = models.TextField("note d'information aux agents")
    enabled_at = models.DateTimeField(null=True, blank=True)
    enabled_by_label = models.CharField(max_length=254, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(enrolment__in=Enrolment.values), name="awareness_enrolment_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"programme {self.commune_id}"


class Participant(models.Model):
    """An agent in their commune's programme: when they saw the notice, their choice,
    their level (a rating between 1 and 5) and their points. Personal data: shown to the
    agent only; the commune sees aggregates."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    notice_seen_at = models.DateTimeField(null=True, blank=True)
    # None: no choice made yet (the programme's default applies).
    opted_in = models.BooleanField(null=True, blank=True)
    rating = models.FloatField(default=2.0)
    points = models.PositiveIntegerField(default=0)
    # Glicko-2 (awareness.rating), updated when a campaign closes; `rating` shows it as a
    # level (and moves at once between closes, so that the agent sees each result).
    skill = models.FloatField(default=1300.0)
    skill_deviation = models.FloatField(default=350.0)
    skill_volatility = models.FloatField(default=0.06)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["commune", "user"], name="awareness_participant_once"),
            models.CheckConstraint(
                condition=Q(rating__gte=1.0, rating__lte=5.0), name="awareness_rating_range"
            ),
        ]

    def __str__(self) -> str:
        return f"participant {self.pk}"


class Template(models.Model):
    """A simulated phishing message and its landing page. `commune` empty: the operator's
    (offered to every commune); set: that commune's own. The cues make the level."""

    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    slug = models.SlugField(max_length=60)
    name = models.CharField("nom", max_length=120)
    sender_name = models.CharField("nom affiché de l'expéditeur", max_length=120)
    sender_address = models.CharField("adresse affichée de l'expéditeur", max_length=254)
    subject = models.CharField("objet", max_length=200)
    # Plain text with {prenom}, {commune} and {lien}.
    body = models.TextField("corps")
    landing_title = models.CharField("titre de la fausse page", max_length=120)
    # Cues: 0 obvious fake sender, 1 look-alike, 2 plausible; then the giveaways.
    sender_credibility = models.PositiveSmallIntegerField(default=1)
    urgent = models.BooleanField("urgence", default=True)
    errors = models.BooleanField("fautes", default=False)
    personalised = models.BooleanField("personnalisé", default=False)
    # What gave it away, shown in the lesson (one line each).
    tells = models.JSONField("indices", default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    # Learnt from results (Glicko-2, awareness.rating); empty: from the cues' level.
    skill = models.FloatField(null=True, blank=True)
    skill_deviation = models.FloatField(default=200.0)
    skill_volatility = models.FloatField(default=0.06)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["commune", "slug"], name="awareness_template_slug_unique"
            ),
            models.UniqueConstraint(
                fields=["slug"],
                condition=Q(commune__isnull=True),
                name="awareness_operator_template_slug_unique",
            ),
            models.CheckConstraint(
                condition=Q(sender_credibility__lte=2), name="awareness_credibility_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def level(self) -> int:
        """1 (easy to spot) to 5: a credible sender, no errors, the agent's name and no
        obvious urgency each make the message harder to see through."""
        return min(
            5,
            1
            + self.sender_credibility
            + (not self.errors)
            + self.personalised
            + (not self.urgent and self.sender_credibility == 2),
        )


class Campaign(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    name = models.CharField("nom", max_length=120)
    starts_on = models.DateField("premier jour")
    days = models.PositiveSmallIntegerField("jours ouvrés d'envoi", default=1)
    created_by_label = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    # Closed: outcomes settled ("ignored" counted), ratings updated (one Glicko period).
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Recipient(models.Model):
    """One agent in one campaign (GoPhish's "result"): the template chosen for their level,
    the secret token of their links, when their message is due, and what happened."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=254)
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="+")
    token = models.CharField(max_length=43, unique=True)
    send_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # Settled when the campaign closes (Outcome); empty before.
    outcome = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "participant"], name="awareness_recipient_once"
            ),
        ]

    def __str__(self) -> str:
        return f"destinataire {self.pk}"


class Outcome(models.TextChoices):
    """How an exercise ended, settled at the campaign's close; the agent's score in the
    Glicko-2 game against the template (awareness.services.SCORES)."""

    REPORTED = "reported", "Signalé sans clic"
    IGNORED = "ignored", "Ignoré"
    CLICKED_REPORTED = "clicked_reported", "Cliqué puis signalé"
    CLICKED = "clicked", "Cliqué"
    SUBMITTED = "submitted", "Saisie sur la fausse page"


class EventKind(models.TextChoices):
    """GoPhish's event model, under its names."""

    SENT = "sent", "Email Sent"
    OPENED = "opened", "Email Opened"
    CLICKED = "clicked", "Clicked Link"
    SUBMITTED = "submitted", "Submitted Data"
    REPORTED = "reported", "Email Reported"


class Event(models.Model):
    """Something a recipient did, once per kind. No payload: a submit is only a fact."""

    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="events")
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "kind"], name="awareness_event_once"),
            models.CheckConstraint(
                condition=Q(kind__in=EventKind.values), name="awareness_event_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.recipient_id}"


class Channel(models.TextChoices):
    ADDRESS = "address", "Transféré à l'adresse de signalement"
    FOLDER = "folder", "Déplacé dans le dossier « Signaler »"


class SuspectReport(models.Model):
    """A message an agent reported that is not one of our exercises: perhaps a real
    phishing, queued for the operator's team (who sees every commune's). The message is
    kept as received (capped) so that the team can look at its headers and links."""

    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    reporter = models.CharField("signalé par", max_length=254)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    sender = models.CharField("expéditeur", max_length=254, blank=True)
    subject = models.CharField("objet", max_length=300, blank=True)
    message = models.BinaryField()
    received_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by_label = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="awareness_suspect_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"signalement {self.pk}"
