"""Mail traffic per day, read from Postfix's own log: messages delivered to mailboxes,
messages sent by agents, and rejections (spam by rspamd, policy by Postfix).

The log is read incrementally: a cursor keeps the file's inode and the offset reached, so
each line is counted once, and a rotated or truncated log is read again from its start.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clocher.mail.models import MailLogCursor, MailTrafficDay

# A bounded read per call, so a page that triggers the ingestion never stalls on a huge
# backlog; the next call goes on from there.
MAX_BYTES_PER_CALL = 32 * 1024 * 1024

# Postfix writes English month abbreviations whatever the locale.
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, 1)}
LINE_RE = re.compile(
    r"^(?P<month>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) \d\d:\d\d:\d\d \S+ (?P<rest>.*)$"
)
RULES = (
    # (counter, pattern): the first that matches classifies the line.
    ("received", re.compile(r"postfix/lmtp\[\d+\]: \w+: to=<[^>]*>,.* status=sent ")),
    ("sent", re.compile(r"postfix/submission/smtpd\[\d+\]: \w+: client=.*, sasl_username=")),
    ("rejected_spam", re.compile(r": milter-reject: ")),
    ("rejected_policy", re.compile(r"postfix/[\w/]*smtpd\[\d+\]: (NOQUEUE|\w+): reject: ")),
)
COUNTERS = tuple(name for name, _ in RULES)


def classify(line: str, today: dt.date) -> tuple[dt.date, str] | None:
    """The day and counter of a log line, or None when it is not one we count."""
    match = LINE_RE.match(line)
    if not match or match.group("month") not in MONTHS:
        return None
    rest = match.group("rest")
    for name, pattern in RULES:
        if pattern.search(rest):
            # Syslog stamps carry no year: a date after today belongs to last year.
            month, day = MONTHS[match.group("month")], int(match.group("day"))
            try:
                when = dt.date(today.year, month, day)
                if when > today + dt.timedelta(days=1):
                    when = dt.date(today.year - 1, month, day)
            except ValueError:
                return None
            return when, name
    return None


def ingest(log_path: Path) -> int:
    """Count the lines added to `log_path` since the last call; returns how many counted."""
    try:
        stat = log_path.stat()
    except FileNotFoundError:
        return 0
    with transaction.atomic():
        cursor, _ = MailLogCursor.objects.select_for_update().get_or_create(path=str(log_path))
        if cursor.inode != stat.st_ino or stat.st_size < cursor.offset:
            cursor.inode, cursor.offset = stat.st_ino, 0
        with log_path.open("rb") as log:
            log.seek(cursor.offset)
            chunk = log.read(MAX_BYTES_PER_CALL)
        end = chunk.rfind(b"\n") + 1  # only whole lines; a partial one waits for its end
        today = timezone.localdate()
        counts: Counter[tuple[dt.date, str]] = Counter()
        for raw in chunk[:end].splitlines():
            found = classify(raw.decode("utf-8", errors="replace"), today)
            if found:
                counts[found] += 1
        for day in {day for day, _ in counts}:
            MailTrafficDay.objects.get_or_create(day=day)
            MailTrafficDay.objects.filter(day=day).update(
                **{name: F(name) + counts[(day, name)] for name in COUNTERS if counts[(day, name)]}
            )
        cursor.offset += end
        cursor.save(update_fields=["inode", "offset"])
    return sum(counts.values())


def postfix_log() -> Path:
    from django.conf import settings

    return Path(settings.MAIL_DIR) / "log" / "postfix.log"


@dataclass
class Traffic:
    days: list[MailTrafficDay]

    def total(self, name: str) -> int:
        return sum(getattr(day, name) for day in self.days)


def recent(days: int = 30, log_path: Path | None = None) -> Traffic:
    """The last `days` days, oldest first, with the log read up to now (days without
    traffic appear with zeros so a chart has no holes)."""
    path = log_path or postfix_log()
    if os.access(path, os.R_OK):
        ingest(path)
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    stored = {d.day: d for d in MailTrafficDay.objects.filter(day__gte=start)}
    return Traffic(
        [
            stored.get(start + dt.timedelta(days=i))
            or MailTrafficDay(day=start + dt.timedelta(days=i))
            for i in range(days)
        ]
    )
