"""The demo installation `clocher init --demo` creates: the Côte-d'Or and three communes.

Passwords are random, generated on this machine and kept (0600) in the data dir, never in
the code; `make run` prints them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from clocher.accounts.models import User
from clocher.accounts.services import get_or_create_user
from clocher.core import services
from clocher.core.audit import Actor
from clocher.core.models import Commune, CommuneStatus, Membership, Role

OPERATOR_NAME = "Département de la Côte-d'Or"
MAIL_DOMAIN = "communes.cotedor.fr"
DEPARTMENT = "21"
OPERATOR_ADMIN = "admin@cotedor.fr"
DEMO_COMMUNES = [
    ("21271", "secretariat@flavigny-sur-ozerain.demo"),
    ("21716", "mairie@vougeot.demo"),
    ("21603", "dgs@semur-en-auxois.demo"),
]


# Services add their demo data per commune (e.g. the town hall's function mailbox).
DEMO_HOOKS: list[Callable[[Actor, Commune, User], None]] = []


@dataclass
class DemoLogin:
    role: str
    email: str
    password: str
    where: str
    totp_secret: str = ""


def logins_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-logins.json"


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(12)


def _set_password(user: User, logins: dict[str, str]) -> str:
    password = logins.get(user.email) or _password()
    if not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return password


def seed(actor: Actor) -> list[DemoLogin]:
    """Idempotent: a second run keeps what exists and the passwords already issued."""
    previous: dict[str, str] = {}
    if logins_file().exists():
        previous = {d["email"]: d["password"] for d in json.loads(logins_file().read_text())}
    result: list[DemoLogin] = []
    with transaction.atomic():
        services.ensure_operator(actor, OPERATOR_NAME, MAIL_DOMAIN, OPERATOR_ADMIN, DEPARTMENT)
        membership = services.add_operator_member(
            actor, OPERATOR_ADMIN, Role.OPERATOR_ADMIN, "Équipe numérique du Département"
        )
        admin = membership.user
        if not admin.totp_secret:
            import pyotp
            from django.utils import timezone

            admin.totp_secret = pyotp.random_base32()
            admin.totp_confirmed_at = timezone.now()
            admin.save(update_fields=["totp_secret", "totp_confirmed_at"])
        result.append(
            DemoLogin(
                "opérateur",
                admin.email,
                _set_password(admin, previous),
                OPERATOR_NAME,
                admin.totp_secret,
            )
        )
        for insee, admin_email in DEMO_COMMUNES:
            commune = Commune.objects.filter(insee=insee).first()
            if commune is None:
                commune = services.create_commune(actor, insee, status=CommuneStatus.ACTIVE)
            elif commune.status != CommuneStatus.ACTIVE:
                services.set_commune_status(actor, commune, CommuneStatus.ACTIVE, "démo")
            if not Membership.objects.filter(commune=commune, user__email=admin_email).exists():
                services.add_member(
                    actor,
                    commune,
                    admin_email,
                    Role.COMMUNE_ADMIN,
                    full_name=f"Secrétaire de mairie de {commune.name}",
                    invite=False,
                )
            user, _ = get_or_create_user(admin_email)
            for hook in DEMO_HOOKS:
                hook(actor, commune, user)
            result.append(
                DemoLogin(
                    "admin commune",
                    user.email,
                    _set_password(user, previous),
                    f"{commune.name} ({commune.insee})",
                )
            )
    path = logins_file()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump([asdict(d) for d in result], fh, ensure_ascii=False, indent=1)
    os.replace(tmp, path)
    return result
