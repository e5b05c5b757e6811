"""Invitations by mail (iTIP over iMIP, RFC 5546 and 6047) through the platform's Postfix.

Radicale does not schedule (no RFC 6638 inbox/outbox): when an organiser saves an event
with attendees, this hook sends them a REQUEST (a CANCEL when it is deleted or they are
removed); when an attendee saves their copy with a new participation status, the
organiser gets a REPLY. Every attendee gets the mail, in Clocher or outside: their own
mail client (Thunderbird, Outlook, a phone) shows the invitation and its buttons.

The hook runs inside Radicale's storage lock: it only builds the messages, which
`GroupwareApp` sends once the request is over (`send_pending`), through
`core.mailer.SpoolingEmailBackend`, so a Postfix that is down delays them without losing
them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import vobject
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from radicale.hook import BaseHook

log = logging.getLogger(__name__)

# What makes a change worth a new invitation (a client rewriting its copy for an alarm
# or a colour sends nothing).
MATERIAL = ("dtstart", "dtend", "duration", "summary", "location", "rrule", "sequence")


def _address(value: str) -> str:
    value = value.strip()
    return value[7:].lower() if value.lower().startswith("mailto:") else value.lower()


def _event(text: str | None) -> Any:
    if not text:
        return None
    try:
        calendar = vobject.readOne(text)
    except Exception:  # noqa: BLE001 - a stored item Radicale accepted but we cannot read
        return None
    for component in getattr(calendar, "vevent_list", []):
        if not hasattr(component, "recurrence_id"):
            return calendar, component
    return None


def _attendees(event: Any) -> dict[str, str]:
    """address → PARTSTAT."""
    found: dict[str, str] = {}
    for attendee in getattr(event, "attendee_list", []):
        status = attendee.params.get("PARTSTAT", ["NEEDS-ACTION"])[0].upper()
        found[_address(attendee.value)] = status
    return found


def _organizer(event: Any) -> str:
    return _address(event.organizer.value) if hasattr(event, "organizer") else ""


def _material(event: Any) -> list[str]:
    return [
        f"{name}:{getattr(event, name).value}" if hasattr(event, name) else name
        for name in MATERIAL
    ] + sorted(_attendees(event))


def messages_for_change(
    actor_addresses: set[str], old_text: str | None, new_text: str | None
) -> list[EmailMultiAlternatives]:
    """The mails one saved or deleted event calls for, seen from the person who did it."""
    old, new = _event(old_text), _event(new_text)
    current = new or old
    if current is None:
        return []
    event = current[1]
    organizer = _organizer(event)
    if not organizer:
        return []
    found: list[EmailMultiAlternatives] = []
    if organizer in actor_addresses:
        before = _attendees(old[1]) if old else {}
        if new is None:
            targets = set(before) - {organizer}
            if targets:
                found.append(_message("CANCEL", organizer, sorted(targets), old[0], old[1]))
            return found
        after = _attendees(new[1])
        removed = set(before) - set(after) - {organizer}
        if removed and old is not None:
            found.append(_message("CANCEL", organizer, sorted(removed), old[0], old[1]))
        invited = set(after) - {organizer}
        if invited and (old is None or _material(old[1]) != _material(new[1])):
            found.append(_message("REQUEST", organizer, sorted(invited), new[0], new[1]))
        return found
    if new is None:
        return []
    after = _attendees(new[1])
    before = _attendees(old[1]) if old else {}
    for address in sorted(actor_addresses & set(after)):
        if after[address] != before.get(address) and after[address] != "NEEDS-ACTION":
            found.append(_reply(address, organizer, new[0], new[1]))
    return found


@dataclass(frozen=True)
class LocalReply:
    """An attendee's answer to an organiser who is a Clocher user: written straight into
    the organiser's copy of the event (as Nextcloud does) instead of a REPLY mail."""

    organizer: str
    uid: str
    attendee: str
    partstat: str


def local_reply(message: EmailMultiAlternatives, ics: str) -> LocalReply | None:
    """The REPLY `message` as a `LocalReply` if its organiser has a Clocher account."""
    from clocher.accounts.models import User
    from clocher.mail.models import Mailbox

    found = _event(ics)
    if found is None:
        return None
    event = found[1]
    organizer = _organizer(event)
    user = User.objects.filter(email__iexact=organizer, is_active=True).first()
    if user is None:
        box = Mailbox.objects.filter(address__iexact=organizer, user__is_active=True).first()
        user = box.user if box is not None else None
    if user is None or not hasattr(event, "attendee"):
        return None
    attendee = event.attendee
    status = attendee.params.get("PARTSTAT", ["NEEDS-ACTION"])[0].upper()
    return LocalReply(user.email, str(event.uid.value), _address(attendee.value), status)


def apply_reply(event_text: str, reply: LocalReply) -> str | None:
    """The organiser's event with the attendee's new status, or None if unchanged."""
    found = _event(event_text)
    if found is None:
        return None
    calendar, _ = found
    changed = False
    for component in calendar.vevent_list:
        for attendee in getattr(component, "attendee_list", []):
            current = attendee.params.get("PARTSTAT", [""])[0].upper()
            if _address(attendee.value) == reply.attendee and current != reply.partstat:
                attendee.params["PARTSTAT"] = [reply.partstat]
                attendee.params.pop("RSVP", None)
                changed = True
    return str(calendar.serialize()) if changed else None


def _message(
    method: str, sender: str, recipients: list[str], calendar: Any, event: Any
) -> EmailMultiAlternatives:
    itip = vobject.iCalendar()
    itip.add("method").value = method
    for timezone in getattr(calendar, "vtimezone_list", []):
        itip.add(timezone)
    copy = itip.add(event.duplicate(event))
    if method == "CANCEL":
        status = copy.status if hasattr(copy, "status") else copy.add("status")
        status.value = "CANCELLED"
    summary = event.summary.value if hasattr(event, "summary") else "(sans titre)"
    when = event.dtstart.value if hasattr(event, "dtstart") else ""
    subject = {
        "REQUEST": f"Invitation : {summary}",
        "CANCEL": f"Annulé : {summary}",
    }[method]
    body = (
        f"{subject}\nQuand : {when}\nOrganisateur : {sender}\n\n"
        "Votre logiciel d'agenda propose d'accepter ou de refuser cette invitation.\n"
    )
    return _mail(subject, body, sender, recipients, itip.serialize(), method)


def _reply(attendee: str, organizer: str, calendar: Any, event: Any) -> EmailMultiAlternatives:
    itip = vobject.iCalendar()
    itip.add("method").value = "REPLY"
    copy = itip.add(event.duplicate(event))
    copy.attendee_list = [a for a in copy.attendee_list if _address(a.value) == attendee]
    status = copy.attendee_list[0].params.get("PARTSTAT", [""])[0].upper()
    words = {"ACCEPTED": "Accepté", "DECLINED": "Refusé", "TENTATIVE": "Peut-être"}
    summary = event.summary.value if hasattr(event, "summary") else "(sans titre)"
    subject = f"{words.get(status, status.capitalize())} : {summary}"
    body = f"{attendee} a répondu « {words.get(status, status)} » à « {summary} ».\n"
    return _mail(subject, body, attendee, [organizer], itip.serialize(), "REPLY")


def _mail(
    subject: str, body: str, sender: str, recipients: list[str], ics: str, method: str
) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(subject, body, sender, recipients)
    message.attach_alternative(ics, f"text/calendar; method={method}; charset=utf-8")
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    return message


class Hook(BaseHook):
    """Radicale's hook for the calendars store: queues the iMIP mails of the request."""

    @property
    def enabled(self) -> bool:
        return bool(getattr(settings, "GROUPWARE_IMIP", True))

    def notify(self, notification_item: Any) -> None:
        from clocher.groupware.dav import _request

        if not notification_item.is_calendar_item or not notification_item.actor:
            return
        addresses = getattr(_request, "addresses", None) or {notification_item.actor.lower()}
        try:
            found = messages_for_change(
                addresses, notification_item.old_content, notification_item.new_content
            )
        except Exception:  # noqa: BLE001 - a mail not built never refuses the change
            log.exception("invitation non construite pour %s", notification_item.point)
            return
        pending = getattr(_request, "pending", None)
        if pending is None:
            pending = _request.pending = []
        pending.extend(found)


def send_pending(messages: list[EmailMultiAlternatives]) -> list[LocalReply]:
    """Send the mails; a REPLY to a Clocher organiser is returned to be applied to their
    calendar instead."""
    local: list[LocalReply] = []
    for message in messages:
        ics = next((str(c) for c, kind in message.alternatives if "method=REPLY" in kind), "")
        reply = local_reply(message, ics) if ics else None
        if reply is not None:
            local.append(reply)
            continue
        try:
            message.send()
        except Exception:  # noqa: BLE001 - the spooling backend keeps what it can
            log.exception("invitation non envoyée : %s", message.subject)
    return local
