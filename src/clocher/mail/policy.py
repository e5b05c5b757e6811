"""Dovecot's authentication policy server: brute force on IMAP and SMTP AUTH is throttled
with the same counters as the web login, and every attempt is recorded (the shield reads
them later).

Dovecot asks `command=allow` before checking a password and sends `command=report`
after; a negative status refuses the attempt.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from clocher.accounts.services import lockout_remaining, note_attempt
from clocher.core import audit
from clocher.core.audit import Actor

security_log = logging.getLogger("clocher.security")


def policy_secret() -> str:
    """Shared with Dovecot through its config (0640), kept in the data dir (0600)."""
    path = Path(settings.DATA_DIR) / "mail-policy.secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def decide(command: str, data: dict[str, object]) -> tuple[int, str]:
    login = str(data.get("login") or "").strip().lower()[:254]
    remote = str(data.get("remote") or "") or None
    protocol = str(data.get("protocol") or "mail")[:16]
    if not login:
        return 0, ""
    if command == "allow":
        if lockout_remaining(login, remote) is not None:
            security_log.warning(
                "mail auth refused (locked) login=%s ip=%s proto=%s", login, remote, protocol
            )
            return -1, "Trop d'échecs d'authentification, réessayez plus tard."
        return 0, ""
    if command == "report" and not data.get("policy_reject"):
        succeeded = bool(data.get("success"))
        was_locked = lockout_remaining(login, remote) is not None
        note_attempt(login, remote, succeeded=succeeded, service=protocol)
        if not succeeded:
            security_log.info("mail auth failed login=%s ip=%s proto=%s", login, remote, protocol)
            if not was_locked and lockout_remaining(login, remote) is not None:
                with transaction.atomic():
                    audit.record(
                        Actor(ip=remote, label=login),
                        "mail.auth_locked",
                        target=login,
                        data={"protocol": protocol},
                    )
    return 0, ""


@csrf_exempt
@require_POST
def dovecot_policy(request: HttpRequest) -> JsonResponse:
    expected = f"Bearer {policy_secret()}"
    given = request.headers.get("Authorization", "")
    if not secrets.compare_digest(given.encode(), expected.encode()):
        return JsonResponse({"status": 0, "msg": "forbidden"}, status=403)
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"status": 0, "msg": "bad request"}, status=400)
    status, message = decide(request.GET.get("command", ""), data if isinstance(data, dict) else {})
    return JsonResponse({"status": status, "msg": message})
