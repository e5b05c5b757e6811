"""Recurrence rules a calendar accepts: what Radicale could spend minutes of a worker on.

Radicale (through vobject and dateutil) walks a recurrence from its start, occurrence by
occurrence, when it stores an event and when a client asks for a period: dateutil's
`between` ignores the count Radicale passes, and walks on until the period's end. A rule
every second or minute (a few bytes in a PUT) then costs minutes of CPU per request
(measured: a PUT of `FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30`, a rule that never falls,
held its worker over a minute; an expansion over ten years of a minutely rule, 12 s). Radicale
itself bounds COUNT and UNTIL (`max_vevent_rrule_occurrence`), not a rule without end.

Refused, with the reason, before Radicale reads the object:
- a rule by the second or the minute (no meeting, rota or reminder of a town hall needs
  one; RFC 5545 allows them);
- an hourly rule without COUNT or UNTIL (an end lets Radicale's own bound apply);
- EXRULE, deprecated by RFC 5545: an exclusion that removes every occurrence makes
  dateutil walk to the year 9999 (dateutil issue 1094).
Daily and coarser rules stay accepted as written: walking one to its worst case (a rule
that never falls, 8,000 years of days) costs dateutil about two seconds.
"""

from __future__ import annotations

import re

# A property line, once unfolded: its name (parameters and value follow).
_UNFOLD = re.compile(rb"\r?\n[ \t]")
TOO_FINE = ("SECONDLY", "MINUTELY")


def refusal(body: bytes) -> str | None:
    """Why an iCalendar object's recurrence rules are refused, or None."""
    if b"RULE" not in body.upper():
        return None
    for line in _UNFOLD.sub(b"", body).decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        name = name.partition(";")[0].strip().upper()
        if name == "EXRULE":
            return (
                "Règle d'exclusion (EXRULE) refusée : abandonnée par la RFC 5545, "
                "utilisez des dates d'exception (EXDATE)."
            )
        if name != "RRULE":
            continue
        parts = dict(p.partition("=")[::2] for p in value.upper().split(";"))
        frequency = parts.get("FREQ", "").strip()
        if frequency in TOO_FINE:
            return (
                "Récurrence refusée : une répétition à la seconde ou à la minute "
                f"({frequency}) n'est pas acceptée ; choisissez au plus une par heure."
            )
        if frequency == "HOURLY" and "COUNT" not in parts and "UNTIL" not in parts:
            return (
                "Récurrence refusée : une répétition toutes les heures doit avoir une fin "
                "(un nombre d'occurrences ou une date)."
            )
    return None
