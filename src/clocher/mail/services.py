"""Mail services: domains, mailboxes, aliases. Postfix and Dovecot read the result
straight from the database, so a change here takes effect at the next lookup."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from clocher.accounts.models import User
from clocher.accounts.services import get_or_create_user
from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune, CommuneStatus, Membership, Role
from clocher.core.services import add_member, lock_commune
from clocher.mail import reserved, sharing
from clocher.mail.models import GIB, Alias, Mailbox, MailboxKind, MailDomain

LOCAL_PART_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$")
SIZE_RE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([kmgt]?)i?[bo]?\s*$", re.IGNORECASE)
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
DEFAULT_QUOTA = 2 * GIB


def parse_size(text: str) -> int:
    """'2G', '500M', '1.5 Go' → bytes."""
    match = SIZE_RE.match(text or "")
    if not match:
        raise ValidationError(f"Taille illisible « {text} » (exemples : 2G, 500M).")
    number = float(match.group(1).replace(",", "."))
    return int(number * UNITS[match.group(2).lower()])


def split_address(address: str) -> tuple[str, str]:
    address = (address or "").strip().lower()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ValidationError(f"Adresse invalide « {address} ».") from exc
    local, _, domain = address.rpartition("@")
    if not LOCAL_PART_RE.match(local) or ".." in local:
        raise ValidationError(
            f"Partie locale « {local} » refusée : lettres minuscules non accentuées, chiffres, "
            "point, tiret, plus ou souligné, sans point au début ni à la fin."
        )
    return local, domain


def shared_domain() -> MailDomain:
    """The operator's shared domain (created on first use from the Operator row)."""
    operator = scoping.get_operator()
    if operator is None:
        raise ValidationError("Aucun opérateur : lancez `clocher init`.")
    domain, _ = MailDomain.objects.get_or_create(
        name=operator.mail_domain.lower(), defaults={"commune": None}
    )
    return domain


def domain_for(commune: Commune, name: str) -> MailDomain:
    """The domain `name` if `commune` may use it (the shared one, or its own)."""
    domain = MailDomain.objects.filter(name=name).first()
    if domain is None:
        operator = scoping.get_operator()
        if operator is not None and operator.mail_domain.lower() == name:
            return shared_domain()
        raise ValidationError(f"Le domaine « {name} » n'est pas hébergé ici.")
    if domain.commune_id is not None and domain.commune_id != commune.pk:
        raise ValidationError(f"Le domaine « {name} » appartient à une autre commune.")
    return domain


def _check_free(address: str) -> None:
    if (
        Mailbox.objects.filter(address=address).exists()
        or Alias.objects.filter(address=address).exists()
    ):
        raise ValidationError(f"L'adresse {address} est déjà prise.")


def create_mailbox(
    actor: Actor,
    commune: Commune,
    address: str,
    *,
    kind: str = MailboxKind.PERSONAL,
    user: User | None = None,
    quota_bytes: int = DEFAULT_QUOTA,
) -> Mailbox:
    local, domain_name = split_address(address)
    if commune.status != CommuneStatus.ACTIVE:
        raise ValidationError(f"{commune.name} n'est pas active.")
    with transaction.atomic():
        lock_commune(commune)  # the quota of mailboxes, counted below
        domain = domain_for(commune, domain_name)
        reserved.check(actor, commune, local, domain)
        address = f"{local}@{domain.name}"
        _check_free(address)
        if Mailbox.objects.filter(commune=commune).count() >= commune.quota_mailboxes:
            raise ValidationError(
                f"Quota de boîtes atteint ({commune.quota_mailboxes}) pour {commune.name}."
            )
        try:
            with transaction.atomic():
                mailbox = Mailbox.objects.create(
                    commune=commune,
                    domain=domain,
                    local_part=local,
                    address=address,
                    kind=kind,
                    user=user,
                    quota_bytes=quota_bytes,
                )
        except IntegrityError as exc:
            raise ValidationError(f"L'adresse {address} est déjà prise.") from exc
        audit.record(
            actor,
            "mail.mailbox_created",
            commune=commune,
            target=address,
            data={"kind": kind, "user": user.email if user else None, "quota": quota_bytes},
        )
    return mailbox


def open_mailbox(
    actor: Actor,
    commune: Commune,
    address: str,
    *,
    owner_email: str | None = None,
    kind: str = MailboxKind.PERSONAL,
    quota_bytes: int = DEFAULT_QUOTA,
    invite: bool = True,
    invite_to: str | None = None,
) -> Mailbox:
    """The mailbox and the account that opens it (`owner_email`, else the address's own):
    the page's and the CLI's one way to make a mailbox.

    IMAP and submission let in only active members of the mailbox's commune, so a
    personal mailbox made without an owner makes its address an agent of the commune
    (`add_member`: quota, audit entry, invitation or notice by mail when `invite`; a new
    account's invitation goes to `invite_to` when given, the person's current address,
    since the new mailbox cannot be read before its account has a password); an
    account already a member there is left as it is. Shared and function mailboxes are
    opened by their delegates. One transaction: a refused member or mailbox leaves no
    account, membership or mail behind.
    """
    with transaction.atomic():
        if owner_email is None and kind == MailboxKind.PERSONAL:
            user = _member_for(actor, commune, address, invite=invite, invite_to=invite_to)
        else:
            user, _ = get_or_create_user(owner_email or address)
        return create_mailbox(
            actor, commune, address, kind=kind, user=user, quota_bytes=quota_bytes
        )


def _member_for(
    actor: Actor, commune: Commune, address: str, *, invite: bool, invite_to: str | None = None
) -> User:
    """The account of `address`, made an agent of `commune` unless it is a member already."""
    local, domain_name = split_address(address)  # its words for a bad address, first
    address = f"{local}@{domain_name}"
    membership = (
        Membership.objects.select_related("user")
        .filter(commune=commune, user__email__iexact=address)
        .first()
    )
    if membership is not None:
        return membership.user
    added = add_member(actor, commune, address, Role.AGENT, invite=invite, invite_to=invite_to)
    return added.membership.user


def set_mailbox_active(actor: Actor, mailbox: Mailbox, active: bool) -> Mailbox:
    with transaction.atomic():
        mailbox.is_active = active
        mailbox.save(update_fields=["is_active"])
        audit.record(
            actor,
            "mail.mailbox_enabled" if active else "mail.mailbox_disabled",
            commune=mailbox.commune,
            target=mailbox.address,
        )
    return mailbox


def set_quota(actor: Actor, mailbox: Mailbox, quota_bytes: int) -> Mailbox:
    with transaction.atomic():
        mailbox.quota_bytes = quota_bytes
        mailbox.save(update_fields=["quota_bytes"])
        audit.record(
            actor,
            "mail.mailbox_quota",
            commune=mailbox.commune,
            target=mailbox.address,
            data={"quota": quota_bytes},
        )
    return mailbox


def create_alias(actor: Actor, commune: Commune, address: str, destinations: list[str]) -> Alias:
    local, domain_name = split_address(address)
    cleaned = []
    for destination in destinations:
        destination = destination.strip().lower()
        try:
            validate_email(destination)
        except ValidationError as exc:
            raise ValidationError(f"Destination invalide « {destination} ».") from exc
        cleaned.append(destination)
    if not cleaned:
        raise ValidationError("Un alias a besoin d'au moins une destination.")
    with transaction.atomic():
        domain = domain_for(commune, domain_name)
        reserved.check(actor, commune, local, domain)
        address = f"{local}@{domain.name}"
        _check_free(address)
        alias = Alias.objects.create(
            commune=commune,
            domain=domain,
            local_part=local,
            address=address,
            destinations=",".join(cleaned),
        )
        audit.record(
            actor,
            "mail.alias_created",
            commune=commune,
            target=address,
            data={"destinations": cleaned},
        )
    return alias


def function_address(commune: Commune) -> str:
    return f"mairie.{commune.slug}@{shared_domain().name}"


def ensure_function_mailbox(actor: Actor, commune: Commune) -> Mailbox:
    """The town hall's function mailbox `mairie.<slug>@<shared domain>` (idempotent)."""
    address = function_address(commune)
    existing = Mailbox.objects.filter(address=address).first()
    if existing is not None:
        if existing.commune_id != commune.pk:
            raise ValidationError(f"{address} appartient déjà à une autre commune.")
        return existing
    return create_mailbox(actor, commune, address, kind=MailboxKind.FUNCTION)


@dataclass
class MailStats:
    domains: int
    mailboxes: int
    active_mailboxes: int
    aliases: int
    storage_bytes: int


def stats() -> MailStats:
    mailboxes = Mailbox.objects.select_related("domain").only("storage_key", "domain__name")
    return MailStats(
        MailDomain.objects.count(),
        Mailbox.objects.count(),
        Mailbox.objects.filter(is_active=True).count(),
        Alias.objects.count(),
        sum(mailbox_usage(m) or 0 for m in mailboxes),
    )


def domains_for(commune: Commune) -> list[str]:
    """The shared domain first, then the commune's own."""
    own = list(MailDomain.objects.filter(commune=commune).values_list("name", flat=True))
    return [shared_domain().name, *own]


def delete_alias(actor: Actor, alias: Alias) -> None:
    with transaction.atomic():
        address = alias.address
        alias.delete()
        audit.record(actor, "mail.alias_deleted", commune=alias.commune, target=address)


def mailboxes_of(commune: Commune) -> list[Mailbox]:
    return list(Mailbox.objects.filter(commune=commune).select_related("user"))


def aliases_of(commune: Commune) -> list[Alias]:
    return list(Alias.objects.filter(commune=commune))


def mailboxes_of_user(user: User) -> list[Mailbox]:
    return list(Mailbox.objects.filter(user=user, is_active=True).select_related("commune"))


def _sieve_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sieve_script(mailbox: Mailbox) -> str:
    """The mailbox's Sieve rules: out-of-office (one answer per sender and per day, never
    to lists or bots — the vacation extension itself skips those) and forwarding."""
    extensions, rules = [], []
    if mailbox.vacation_enabled:
        extensions.append('"vacation"')
        subject = mailbox.vacation_subject or "Absence"
        rules.append(
            f"vacation :days 1 :subject {_sieve_string(subject)} "
            f":addresses [{_sieve_string(mailbox.address)}] "
            f"{_sieve_string(mailbox.vacation_body)};"
        )
    if mailbox.forward_to:
        if mailbox.forward_keep_copy:
            extensions.append('"copy"')
            rules.append(f"redirect :copy {_sieve_string(mailbox.forward_to)};")
        else:
            rules.append(f"redirect {_sieve_string(mailbox.forward_to)};")
    if not rules:
        return ""
    header = f"require [{', '.join(extensions)}];\n" if extensions else ""
    return header + "\n".join(rules) + "\n"


def mailbox_home(mailbox: Mailbox, vmail_dir: Path) -> Path:
    return vmail_dir / mailbox.domain.name / mailbox.storage_key


def mailbox_usage(mailbox: Mailbox, vmail_dir: Path | None = None) -> int | None:
    """Bytes used, from Dovecot's own quota accounting (Maildir++ `maildirsize`: a header
    line, then one `bytes count` line per change). None when not readable or not yet made."""
    path = mailbox_home(mailbox, vmail_dir or default_vmail_dir()) / "Maildir" / "maildirsize"
    try:
        lines = path.read_text(errors="replace").splitlines()[1:]
    except OSError:
        return None
    total = 0
    for line in lines:
        parts = line.split()
        if parts and parts[0].lstrip("-").isdigit():
            total += int(parts[0])
    return max(total, 0)


def default_vmail_dir() -> Path:
    from django.conf import settings

    return Path(settings.MAIL_DIR) / "vmail"


def write_sieve(mailbox: Mailbox, vmail_dir: Path) -> None:
    """Install or remove the mailbox's active Sieve script, atomically, owned by vmail."""
    from clocher.mail.engines.config import vmail_ids

    home = mailbox_home(mailbox, vmail_dir)
    target = home / ".dovecot.sieve"
    script = sieve_script(mailbox)
    if not script:
        target.unlink(missing_ok=True)
        return
    uid, gid = vmail_ids()
    vmail_dir.mkdir(parents=True, exist_ok=True)
    for directory in (home.parent, home):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chown(directory, uid, gid)
    tmp = home / ".dovecot.sieve.tmp"
    tmp.write_text(script, encoding="utf-8")
    os.chown(tmp, uid, gid)
    os.replace(tmp, target)


def set_out_of_office(
    actor: Actor,
    mailbox: Mailbox,
    enabled: bool,
    subject: str = "",
    body: str = "",
    vmail_dir: Path | None = None,
) -> Mailbox:
    if enabled and not body.strip():
        raise ValidationError("Écrivez le texte de la réponse d'absence.")
    with transaction.atomic():
        mailbox.vacation_enabled = enabled
        mailbox.vacation_subject = subject.strip()[:200]
        mailbox.vacation_body = body.strip()
        mailbox.save(update_fields=["vacation_enabled", "vacation_subject", "vacation_body"])
        write_sieve(mailbox, vmail_dir or default_vmail_dir())
        audit.record(
            actor,
            "mail.out_of_office_on" if enabled else "mail.out_of_office_off",
            commune=mailbox.commune,
            target=mailbox.address,
        )
    return mailbox


def set_forwarding(
    actor: Actor,
    mailbox: Mailbox,
    forward_to: str,
    keep_copy: bool = True,
    vmail_dir: Path | None = None,
) -> Mailbox:
    """Forward every message to `forward_to` (empty: stop forwarding)."""
    forward_to = (forward_to or "").strip().lower()
    if forward_to:
        try:
            validate_email(forward_to)
        except ValidationError as exc:
            raise ValidationError(f"Adresse de transfert invalide « {forward_to} ».") from exc
        if forward_to == mailbox.address:
            raise ValidationError("Une boîte ne peut pas se transférer à elle-même.")
    with transaction.atomic():
        mailbox.forward_to = forward_to
        mailbox.forward_keep_copy = keep_copy or not forward_to
        mailbox.save(update_fields=["forward_to", "forward_keep_copy"])
        write_sieve(mailbox, vmail_dir or default_vmail_dir())
        audit.record(
            actor,
            "mail.forward_set" if forward_to else "mail.forward_removed",
            commune=mailbox.commune,
            target=mailbox.address,
            data={"to": forward_to, "keep_copy": mailbox.forward_keep_copy},
        )
    return mailbox


def set_delegates(
    actor: Actor,
    mailbox: Mailbox,
    users: list[User],
    readers: list[User] | None = None,
    vmail_dir: Path | None = None,
) -> Mailbox:
    """Who besides its owner opens the mailbox: delegates (read+write, and log in as the
    mailbox with their own app passwords) and readers (`None`: unchanged), only active
    members of the mailbox's commune. Both see it as folders of their own session at
    their next connection (`mail.sharing`); someone in both lists is a delegate."""
    readers = list(mailbox.readers.all()) if readers is None else readers
    writer_ids = {user.pk for user in users}
    readers = [user for user in readers if user.pk not in writer_ids]
    everyone = [*users, *readers]
    allowed = set(
        Membership.objects.filter(
            commune=mailbox.commune, is_active=True, user__in=everyone
        ).values_list("user_id", flat=True)
    )
    strangers = [user.email for user in everyone if user.pk not in allowed]
    if strangers:
        raise ValidationError(
            f"Pas membres actifs de {mailbox.commune.name} : {', '.join(strangers)}."
        )
    with transaction.atomic():
        before = {user.pk for user in [*mailbox.delegates.all(), *mailbox.readers.all()]}
        mailbox.delegates.set(users)
        mailbox.readers.set(readers)
        sharing.publish(mailbox, vmail_dir or default_vmail_dir(), before)
        audit.record(
            actor,
            "mail.delegates_set",
            commune=mailbox.commune,
            target=mailbox.address,
            data={
                "delegates": sorted(user.email for user in users),
                "readers": sorted(user.email for user in readers),
            },
        )
    return mailbox


DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def add_commune_domain(actor: Actor, commune: Commune, name: str) -> MailDomain:
    """A commune's own domain (e.g. mairie-flavigny.fr). It receives mail only once
    `dns.verify_domain` has seen its MX pointing here."""
    name = (name or "").strip().lower().rstrip(".")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValidationError(f"Nom de domaine invalide « {name} ».") from exc
    if not DOMAIN_RE.match(name):
        raise ValidationError(f"Nom de domaine invalide « {name} ».")
    operator = scoping.get_operator()
    if operator is not None and name == operator.mail_domain.lower():
        raise ValidationError("C'est le domaine partagé du département.")
    if commune.status != CommuneStatus.ACTIVE:
        raise ValidationError(f"{commune.name} n'est pas active.")
    with transaction.atomic():
        if MailDomain.objects.filter(name=name).exists():
            raise ValidationError(f"Le domaine {name} est déjà déclaré.")
        domain = MailDomain.objects.create(name=name, commune=commune)
        audit.record(actor, "mail.domain_added", commune=commune, target=name)
    return domain


def remove_commune_domain(actor: Actor, domain: MailDomain) -> None:
    if domain.commune is None:
        raise ValidationError("Le domaine partagé ne se supprime pas.")
    if domain.mailboxes.exists() or domain.aliases.exists():
        raise ValidationError(
            f"Des boîtes ou alias utilisent encore {domain.name} : supprimez-les d'abord."
        )
    with transaction.atomic():
        commune, name = domain.commune, domain.name
        verified = domain.dns_verified_at is not None
        domain.delete()
        audit.record(actor, "mail.domain_removed", commune=commune, target=name)
        if verified:
            from clocher.mail.dns import reload_mail_servers

            transaction.on_commit(reload_mail_servers)


def find_domain(name: str) -> MailDomain | None:
    """A hosted domain by name (the shared one is created on first use)."""
    name = name.strip().lower()
    operator = scoping.get_operator()
    if operator is not None and operator.mail_domain.lower() == name:
        return shared_domain()
    return MailDomain.objects.filter(name=name).first()
