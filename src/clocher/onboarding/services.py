"""Adhésion services: apply, review, provision in named steps, suspend, depart.

Each state change and its audit entry share one transaction. Provisioning runs step by
step, each step in its own transaction, so a failure leaves the done steps done and the
run can be retried from the failed one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from clocher.accounts.models import User
from clocher.core import audit, staging
from clocher.core import services as core_services
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Commune, CommuneStatus, Membership, Role
from clocher.onboarding import steps
from clocher.onboarding.models import (
    SERVICE_CHOICES,
    Application,
    ApplicationStatus,
    CommuneExport,
    ProvisioningRun,
    ProvisioningStep,
    RunStatus,
)

MAX_APPLICATIONS_PER_IP_PER_HOUR = 5


@dataclass
class ApplicationInput:
    insee: str
    contact_name: str
    contact_email: str
    agents_count: int
    services: list[str]
    siren: str = ""
    contact_phone: str = ""
    contact_role: str = ""
    message: str = ""


def submit_application(actor: Actor, data: ApplicationInput) -> Application:
    """A commune applies to join; a prospect becomes `applied`, anything else is refused."""
    insee = core_services.clean_insee(data.insee)
    siren = core_services.clean_siren(data.siren)
    unknown = set(data.services) - {key for key, _ in SERVICE_CHOICES}
    if unknown:
        raise ValidationError(f"Service inconnu : {', '.join(sorted(unknown))}.")
    if actor.ip:
        since = timezone.now() - timedelta(hours=1)
        if (
            Application.objects.filter(ip=actor.ip, created_at__gte=since).count()
            >= MAX_APPLICATIONS_PER_IP_PER_HOUR
        ):
            raise ValidationError(
                "Trop de demandes depuis cette adresse : réessayez dans une heure."
            )
    with transaction.atomic():
        commune = Commune.objects.select_for_update().filter(insee=insee).first()
        if commune is None:
            commune = core_services.create_commune(actor, insee, siren=siren)
        elif commune.status == CommuneStatus.PROSPECT:
            if siren:
                commune.siren = siren
                commune.save(update_fields=["siren"])
            core_services.set_commune_status(
                actor, commune, CommuneStatus.APPLIED, "demande d'adhésion"
            )
        else:
            raise ValidationError(
                f"{commune.name} ({insee}) a déjà une demande ou une adhésion en cours "
                f"(statut : {commune.get_status_display().lower()}). Contactez le Département."
            )
        application = Application.objects.create(
            commune=commune,
            contact_name=data.contact_name.strip(),
            contact_email=data.contact_email.strip().lower(),
            contact_phone=data.contact_phone.strip(),
            contact_role=data.contact_role.strip(),
            agents_count=data.agents_count,
            services=sorted(set(data.services)),
            message=data.message.strip(),
            ip=actor.ip,
        )
        audit.record(
            actor,
            "application.submitted",
            commune=commune,
            target=application.contact_email,
            data={"services": application.services, "agents": data.agents_count},
        )
    return application


def pending_applications_count() -> int:
    return Application.objects.filter(status=ApplicationStatus.PENDING).count()


def recent_runs(limit: int = 10) -> list[ProvisioningRun]:
    return list(ProvisioningRun.objects.select_related("commune")[:limit])


def _check_pending(application: Application) -> None:
    if application.status != ApplicationStatus.PENDING:
        raise ValidationError(f"Cette demande est déjà {application.get_status_display().lower()}.")


def approve(actor: Actor, application: Application) -> ProvisioningRun:
    """Approve and create the provisioning run with the steps the commune needs."""
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=application.pk)
        _check_pending(application)
        application.status = ApplicationStatus.APPROVED
        application.reviewed_by = actor.user
        application.reviewed_at = timezone.now()
        application.save(update_fields=["status", "reviewed_by", "reviewed_at"])
        run = ProvisioningRun.objects.create(commune=application.commune, application=application)
        ProvisioningStep.objects.bulk_create(
            ProvisioningStep(run=run, name=s.name, label=s.label, position=s.position)
            for s in steps.steps_for(application.services)
        )
        audit.record(
            actor,
            "application.approved",
            commune=application.commune,
            target=application.contact_email,
            data={"run": run.pk},
        )
        enqueue_run(run, actor)
    return run


def reject(actor: Actor, application: Application, reason: str) -> Application:
    reason = reason.strip()
    if not reason:
        raise ValidationError("Indiquez le motif du refus : il est envoyé à la commune.")
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=application.pk)
        _check_pending(application)
        application.status = ApplicationStatus.REJECTED
        application.rejection_reason = reason
        application.reviewed_by = actor.user
        application.reviewed_at = timezone.now()
        application.save()
        commune = application.commune
        if commune.status == CommuneStatus.APPLIED:
            core_services.set_commune_status(actor, commune, CommuneStatus.PROSPECT, reason)
        audit.record(
            actor,
            "application.rejected",
            commune=commune,
            target=application.contact_email,
            data={"reason": reason},
        )
        body = (
            f"Bonjour,\n\nLa demande d'adhésion de {commune.name} n'a pas été retenue.\n"
            f"Motif : {reason}\n\nLe Département reste à votre disposition.\n"
        )
        email = application.contact_email
        transaction.on_commit(lambda: send_mail(f"Adhésion de {commune.name}", body, None, [email]))
    return application


def run_steps(
    run: ProvisioningRun, actor: Actor, progress: Callable[[ProvisioningStep], None] | None = None
) -> ProvisioningRun:
    """Run the pending and failed steps in order; stop at the first failure."""
    ProvisioningRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    for step in run.steps.exclude(status=RunStatus.DONE).order_by("position"):
        spec = steps.get_step(step.name)
        step.status = RunStatus.RUNNING
        step.attempts += 1
        step.started_at = timezone.now()
        step.error = ""
        step.save(update_fields=["status", "attempts", "started_at", "error"])
        run.commune.refresh_from_db()  # an earlier step may have changed it
        try:
            if spec is None:
                raise RuntimeError(f"étape « {step.name} » inconnue (service non installé ?)")
            with transaction.atomic():
                detail = spec.function(run, actor)
                audit.record(
                    actor,
                    f"provisioning.{step.name}",
                    commune=run.commune,
                    target=step.label,
                    data={"run": run.pk, "detail": detail},
                )
        except Exception as exc:  # a failing step is reported, never propagated
            step.status = RunStatus.FAILED
            step.error = f"{exc.__class__.__name__} : {exc}"
            step.finished_at = timezone.now()
            step.save(update_fields=["status", "error", "finished_at"])
            ProvisioningRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, finished_at=timezone.now()
            )
            if progress:
                progress(step)
            run.refresh_from_db()
            return run
        step.status = RunStatus.DONE
        step.detail = detail
        step.finished_at = timezone.now()
        step.save(update_fields=["status", "detail", "finished_at"])
        if progress:
            progress(step)
    ProvisioningRun.objects.filter(pk=run.pk).update(
        status=RunStatus.DONE, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def enqueue_run(run: ProvisioningRun, actor: Actor) -> None:
    from clocher.onboarding.tasks import provision

    ProvisioningRun.objects.filter(pk=run.pk).update(status=RunStatus.PENDING, finished_at=None)
    provision.enqueue(run.pk, actor.display, actor.ip)


def retry(actor: Actor, run: ProvisioningRun) -> None:
    if run.status != RunStatus.FAILED:
        raise ValidationError("Seul un provisionnement en échec peut être relancé.")
    with transaction.atomic():
        audit.record(actor, "provisioning.retried", commune=run.commune, target=str(run.pk))
        enqueue_run(run, actor)


def run_progress(run: ProvisioningRun) -> tuple[int, int]:
    steps_ = list(run.steps.all())
    return sum(s.status == RunStatus.DONE for s in steps_), len(steps_)


# --- Built-in steps ---------------------------------------------------------------------


@steps.register_step("commune", "Activation de la commune", position=10)
def _activate_commune(run: ProvisioningRun, actor: Actor) -> str:
    commune = Commune.objects.get(pk=run.commune_id)
    if commune.status != CommuneStatus.ACTIVE:
        core_services.set_commune_status(actor, commune, CommuneStatus.ACTIVE, "adhésion approuvée")
    return f"{commune.name} est active."


@steps.register_step("admin", "Compte de l'administrateur de la commune", position=20)
def _create_admin(run: ProvisioningRun, actor: Actor) -> str:
    application = run.application
    if application is None:
        return "Pas de demande liée : aucun administrateur à créer."
    commune = run.commune
    existing = Membership.objects.filter(
        commune=commune, user__email__iexact=application.contact_email
    ).first()
    if existing is not None:
        if existing.role != Role.COMMUNE_ADMIN:
            core_services.change_role(actor, existing, Role.COMMUNE_ADMIN)
        user = existing.user
        if user.has_usable_password():
            return f"{user.email} est administrateur (compte déjà actif)."
        core_services.resend_invitation(actor, existing)
        return f"Invitation envoyée à {user.email}."
    added = core_services.add_member(
        actor,
        commune,
        application.contact_email,
        Role.COMMUNE_ADMIN,
        full_name=application.contact_name,
        title=application.contact_role,
    )
    user = added.membership.user
    if added.invitation_token:
        return f"Invitation envoyée à {user.email}."
    return f"{user.email} est administrateur : un avis lui a été envoyé (compte existant)."


# --- Suspension and departure -----------------------------------------------------------

Exporter = Callable[[Commune, zipfile.ZipFile], None]
_exporters: dict[str, Exporter] = {}


def register_exporter(name: str) -> Callable[[Exporter], Exporter]:
    """Services add their data (mailboxes, files…) to the departure export."""

    def decorator(function: Exporter) -> Exporter:
        _exporters[name] = function
        return function

    return decorator


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, default=str)


@register_exporter("plateforme")
def _export_platform(commune: Commune, archive: zipfile.ZipFile) -> None:
    archive.writestr(
        "commune.json",
        _json(
            {
                "insee": commune.insee,
                "siren": commune.siren,
                "name": commune.name,
                "status": commune.status,
                "population": commune.population,
                "created_at": commune.created_at,
                "activated_at": commune.activated_at,
            }
        ),
    )
    members = Membership.objects.filter(commune=commune).select_related("user")
    archive.writestr(
        "membres.json",
        _json(
            [
                {
                    "email": m.user.email,
                    "name": m.user.full_name,
                    "role": m.role,
                    "title": m.title,
                    "active": m.is_active,
                    "since": m.created_at,
                }
                for m in members
            ]
        ),
    )
    entries = AuditEntry.objects.filter(commune=commune).order_by("seq")
    archive.writestr(
        "journal.json",
        _json(
            [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor_label,
                    "action": e.action,
                    "target": e.target,
                    "data": e.data,
                    "hash": e.hash,
                }
                for e in entries
            ]
        ),
    )


def _hashed(fh: BinaryIO, digest: Any) -> Iterator[bytes]:
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
        yield chunk


def export_commune(actor: Actor, commune: Commune) -> CommuneExport:
    """Build the zip in a private temp file, stage it (every node may serve it: see
    clocher.core.staging) and journal its fingerprint."""
    cache = Path(settings.DATA_DIR) / "cache"
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    key = f"exports/{commune.insee}-{commune.slug}-{stamp}.zip"
    fd, temp = tempfile.mkstemp(dir=cache, prefix="export-", suffix=".zip")
    os.close(fd)
    tmp = Path(temp)
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for exporter in _exporters.values():
                exporter(commune, archive)
        with tmp.open("rb") as fh:
            size = staging.write(key, _hashed(fh, digest), commune)
    finally:
        tmp.unlink(missing_ok=True)
    with transaction.atomic():
        export = CommuneExport.objects.create(
            commune=commune, path=key, sha256=digest.hexdigest(), size=size
        )
        audit.record(
            actor,
            "commune.exported",
            commune=commune,
            target=PurePosixPath(key).name,
            data={"sha256": export.sha256, "size": export.size},
        )
    return export


def suspend(actor: Actor, commune: Commune, reason: str = "") -> Commune:
    return core_services.set_commune_status(actor, commune, CommuneStatus.SUSPENDED, reason)


def reactivate(actor: Actor, commune: Commune) -> Commune:
    return core_services.set_commune_status(actor, commune, CommuneStatus.ACTIVE, "réactivation")


Purger = Callable[[Commune], None]
_purgers: dict[str, Purger] = {}


def register_purger(name: str) -> Callable[[Purger], Purger]:
    """Services delete their data of a departed commune (mailboxes, files…) through this."""

    def decorator(function: Purger) -> Purger:
        _purgers[name] = function
        return function

    return decorator


def depart(actor: Actor, commune: Commune) -> CommuneExport:
    """Export everything, then delete the commune's data; the commune row stays, marked
    `left`, so that the journal and the export keep their reference.

    The export is made and fingerprinted first: if it fails, nothing is deleted.
    """
    if commune.status == CommuneStatus.LEFT:
        raise ValidationError(f"{commune.name} est déjà partie.")
    export = export_commune(actor, commune)
    with transaction.atomic():
        for purge in _purgers.values():
            purge(commune)
        user_ids = list(
            Membership.objects.filter(commune=commune).values_list("user_id", flat=True)
        )
        removed, _ = Membership.objects.filter(commune=commune).delete()
        # People who belonged to no other commune nor to the operator go with it.
        orphans = User.objects.filter(pk__in=user_ids, memberships__isnull=True)
        orphan_count = orphans.count()
        orphans.delete()
        Application.objects.filter(commune=commune).update(contact_phone="", message="")
        core_services.set_commune_status(actor, commune, CommuneStatus.LEFT, "départ")
        audit.record(
            actor,
            "commune.data_deleted",
            commune=commune,
            target=commune.name,
            data={"memberships": removed, "accounts": orphan_count, "export": export.sha256},
        )
    return export
