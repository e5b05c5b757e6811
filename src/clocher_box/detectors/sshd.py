"""Scenario `ssh-bruteforce`: failed sshd authentications per source in a window.

The parser reads syslog lines (classic `Nov 25 13:14:15 host sshd[42]: …` or ISO
timestamps) and the bare lines of sshd's own log file (`sshd -E FILE`: no time, no
program name; their time is when they are read), and keeps only the failure messages
of OpenSSH (and PAM through sshd); one compiled regular expression, tried only on lines
that name sshd or start like a failure, so that a box keeps up with a busy auth log on
a small CPU.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from clocher_box.detectors import Verdict
from clocher_box.detectors.window import DistinctWindow

SCENARIO = "ssh-bruteforce"

_IP = r"[0-9A-Fa-f:.]+"
_PORT = r" port \d+"
_FAILURE = re.compile(
    r"(?:sshd(?:-session)?\[\d+\]: |^)(?:"
    r"Failed (?:password|publickey|keyboard-interactive/pam|none) for "
    rf"(?:invalid user )?(?P<u1>.*?) from (?P<a1>{_IP}){_PORT}"
    rf"|Invalid user (?P<u2>.*?) from (?P<a2>{_IP})(?:{_PORT})?"
    r"|Connection closed by (?:authenticating|invalid) user "
    rf"(?P<u3>.*?) (?P<a3>{_IP}){_PORT} \[preauth\]"
    r"|Disconnected from (?:authenticating|invalid) user "
    rf"(?P<u4>.*?) (?P<a4>{_IP}){_PORT} \[preauth\]"
    r"|error: maximum authentication attempts exceeded for "
    rf"(?:invalid user )?(?P<u5>.*?) from (?P<a5>{_IP}){_PORT}"
    rf"|pam_unix\(sshd:auth\): authentication failure;.* rhost=(?P<a6>{_IP})"
    r")"
)
# A line sshd writes names its client's address once ("ADDRESS port N", or PAM's
# "rhost=ADDRESS"). The user name is the client's to choose and is logged verbatim (sshd
# escapes control characters, not spaces): `ssh "x from 198.51.100.7 port 22"@box` makes
# a failure line that names 198.51.100.7 before the real source, and a parser taking the
# first address would block whoever the attacker names (fail2ban's CVE-2012-5642). A
# line naming more than one address is therefore not counted: it can only be a user name
# chosen so, and guessing a real account's password never needs one.
_ADDRESS_PORT = re.compile(rf"(?:^|\s){_IP} port \d+")
# How the failures of a bare `sshd -E` line start (a syslog line starts with its time).
_BARE_FAILURES = ("Failed ", "Invalid user ", "Connection closed by ", "Disconnected from ")
_MONTHS = {
    month: index
    for index, month in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


@dataclass(frozen=True)
class Failure:
    source: str
    user: str
    at: float  # seconds (syslog time of day within the year for classic lines)


def line_time(line: str) -> float | None:
    """Seconds of the line's timestamp, comparable between lines of one log."""
    try:
        if line[4] == "-":  # 2026-11-25T13:14:15[.ffffff][+01:00]
            day = int(line[8:10]) + int(line[5:7]) * 31
            return (
                day * 86400.0 + int(line[11:13]) * 3600 + int(line[14:16]) * 60 + int(line[17:19])
            )
        month = _MONTHS[line[:3]]
        day = int(line[4:6]) + month * 31
        return day * 86400.0 + int(line[7:9]) * 3600 + int(line[10:12]) * 60 + int(line[13:15])
    except (KeyError, ValueError, IndexError):
        return None


def parse_failure(line: str) -> Failure | None:
    """The failed authentication a line reports, or None."""
    if "sshd" not in line and not line.startswith(_BARE_FAILURES):
        return None
    match = _FAILURE.search(line)
    if match is None:
        return None
    if len(_ADDRESS_PORT.findall(line)) > 1 or line.count("rhost=") > 1:
        return None  # a user name carrying an address (above)
    groups = match.groupdict()
    source = next(groups[k] for k in ("a1", "a2", "a3", "a4", "a5", "a6") if groups[k])
    user = next((groups[k] for k in ("u1", "u2", "u3", "u4", "u5") if groups[k]), "")
    at = line_time(line)
    return Failure(source, user, at if at is not None else time.time())


class SshBruteforce:
    """`failures` failed logins from one source within `window` seconds → block it."""

    def __init__(self, failures: int = 5, window: int = 60, duration: int = 14400) -> None:
        self.duration = duration
        self._counter = 0
        self._window = DistinctWindow(failures, window)

    def feed(self, line: str) -> Verdict | None:
        failure = parse_failure(line)
        if failure is None:
            return None
        self._counter += 1  # each failure is distinct, even at the same second
        count = self._window.add(failure.source, self._counter, failure.at)
        if count is None:
            return None
        return Verdict(
            failure.source,
            SCENARIO,
            self.duration,
            f"{count} échecs d'authentification SSH en {self._window.window} s",
        )
