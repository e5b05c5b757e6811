"""The platform's own alert mail, for an installation without Alertmanager.

`clocher serve` runs `clocher alerts --every 60`: each check evaluates, on the same
snapshot as /metrics, the conditions of deploy/prometheus/rules.yml and mails the
operator's contact once when an alert starts and once when it recovers. The unique key
of `FiringAlert` decides who mails, so several nodes checking at once send one mail.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from clocher.core import audit, scoping
from clocher.supervision.collect import Snapshot
from clocher.supervision.models import FiringAlert

BACKUP_MAX_AGE = 26 * 3600
DRILL_MAX_AGE = 35 * 86400
BOX_SILENT_AFTER = 15 * 60
DISK_FREE_MIN = 0.10  # of the filesystem
QUOTA_USED_MAX = 0.90  # of a commune's vault quota


def firing(snap: Snapshot) -> dict[str, str]:
    """Each alert that holds now, by a stable key, with its message in French."""
    alerts: dict[str, str] = {}
    for item in snap.components:
        if not item.ok:
            alerts[f"composant:{item.component}"] = (
                f"{item.component} en panne ({item.address}) : {item.detail}"
            )
    if snap.mail_queue_total > settings.ALERT_MAIL_QUEUE_MAX:
        alerts["file-postfix"] = (
            f"file d'attente Postfix : {snap.mail_queue_total} message(s) "
            f"(seuil {settings.ALERT_MAIL_QUEUE_MAX})"
        )
    if snap.backup_age > BACKUP_MAX_AGE:
        alerts["sauvegarde"] = "aucune sauvegarde réussie depuis plus de 26 h" + _since(
            snap.backup_age
        )
    if snap.drill_age > DRILL_MAX_AGE:
        alerts["exercice"] = "aucun exercice de restauration réussi depuis plus de 35 jours" + (
            _since(snap.drill_age)
        )
    if snap.archive_audit_ok is False:
        alerts["audit-archives"] = "le dernier contrôle d'intégrité des archives a échoué"
    if not snap.chain_ok:
        alerts["chaine-audit"] = f"chaîne du journal d'audit rompue : {snap.chain_detail}"
    for box in snap.boxes:
        if box.heartbeat_age > BOX_SILENT_AFTER:
            alerts[f"boitier:{box.box_id}"] = (
                f"boîtier {box.hostname} ({box.commune}) silencieux depuis "
                f"{box.heartbeat_age / 60:.0f} min"
            )
    if snap.disk_size and snap.disk_free / snap.disk_size < DISK_FREE_MIN:
        alerts["disque"] = (
            f"disque des données presque plein : {snap.disk_free / snap.disk_size:.0%} libre"
        )
    for volume in snap.volumes:
        if volume.vault_quota and volume.vault_used / volume.vault_quota > QUOTA_USED_MAX:
            alerts[f"quota:{volume.insee}"] = (
                f"coffre de la commune {volume.insee} rempli à "
                f"{volume.vault_used / volume.vault_quota:.0%} de son quota"
            )
    return alerts


def _since(age: float) -> str:
    return " (jamais)" if age == float("inf") else f" (dernière il y a {age / 3600:.0f} h)"


@dataclass
class Outcome:
    started: list[str]
    recovered: list[str]


def check_and_mail(snap: Snapshot) -> Outcome:
    """Mail each alert that started and each that recovered since the last check."""
    now_firing = firing(snap)
    operator = scoping.get_operator()
    contact = operator.contact_email if operator is not None else ""
    outcome = Outcome([], [])
    known = dict(FiringAlert.objects.values_list("key", "message"))
    for key, message in now_firing.items():
        if key in known:
            continue
        try:
            with transaction.atomic():
                FiringAlert.objects.create(key=key, message=message[:500], since=snap.at)
                audit.record(
                    audit.SYSTEM, "supervision.alert", target=key, data={"message": message}
                )
        except IntegrityError:
            continue  # another node saw it first and mails it
        outcome.started.append(message)
        _mail(contact, f"[Clocher] ALERTE : {message[:120]}", message, key)
    for key, message in known.items():
        if key in now_firing:
            continue
        with transaction.atomic():
            deleted, _ = FiringAlert.objects.filter(key=key).delete()
            if deleted:
                audit.record(audit.SYSTEM, "supervision.recovery", target=key)
        if deleted:
            outcome.recovered.append(message)
            _mail(contact, f"[Clocher] RÉTABLI : {message[:120]}", f"Rétabli : {message}", key)
    return outcome


def _mail(contact: str, subject: str, body: str, key: str) -> None:
    if not contact:
        return
    text = (
        f"{body}\n\nAlerte : {key}\nDétail : `clocher check` et `clocher metrics` sur le serveur.\n"
    )
    send_mail(subject.replace("\n", " "), text, None, [contact], fail_silently=True)
