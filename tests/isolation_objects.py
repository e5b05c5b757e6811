"""Objects of commune A for the isolation matrix, by URL parameter name.

A new route whose parameter is not here makes the matrix fail until it is added.
"""

from __future__ import annotations

import io
from typing import Any

from clocher.accounts.services import create_app_password
from clocher.core.audit import Actor
from clocher.core.models import Membership
from clocher.mail import services as mail
from clocher.onboarding import services as onboarding
from clocher.onboarding.models import ProvisioningRun
from clocher.shield import services as shield
from clocher.vault import chunked_uploads, login_flow, sharing
from clocher.vault import services as vault

ACTOR = Actor(label="matrice")


def build_victim_objects(commune_a, admin_a, agent_a) -> dict[str, Any]:
    application = onboarding.submit_application(
        ACTOR,
        onboarding.ApplicationInput(
            insee="21425",
            contact_name="Secrétaire Victime",
            contact_email="victime@montbard.test",
            agents_count=3,
            services=["mail"],
        ),
    )
    run = ProvisioningRun.objects.create(commune=commune_a)
    onboarding.export_commune(ACTOR, commune_a)
    app_password = create_app_password(ACTOR, agent_a, "Téléphone de l'agent A")
    mailbox = mail.create_mailbox(ACTOR, commune_a, "secret.a@communes.cotedor.fr", user=agent_a)
    own_domain = mail.add_commune_domain(ACTOR, commune_a, "mairie-victime.fr")
    vault_root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    secret_file = vault.write_bytes(ACTOR, vault_root, "délibération-secrète-A.txt", b"A")
    vault.write_bytes(ACTOR, vault_root, "délibération-secrète-A.txt", b"A, version 2")
    share = sharing.create_share(ACTOR, secret_file)
    flow = login_flow.start("Téléphone de l'agent A")
    login_flow.grant(ACTOR, login_flow.pending(flow.flow_token), agent_a)
    transfer = chunked_uploads.open_session(agent_a, "transfert-victime")
    chunked_uploads.write_part(transfer, "00001", io.BytesIO(b"morceau de A"), 12)
    import_job = build_document_import(admin_a, vault_root)
    group = vault.create_group_space(ACTOR, commune_a, "Commission des finances A", [admin_a])
    alias = mail.create_alias(ACTOR, commune_a, "conseil.a@communes.cotedor.fr", [mailbox.address])
    return {
        "insee": commune_a.insee,
        "membership_id": Membership.objects.get(user=agent_a, commune=commune_a).pk,
        "application_id": application.pk,
        "run_id": run.pk,
        "app_password_id": app_password.record.pk,
        "mailbox_id": mailbox.pk,
        "alias_id": alias.pk,
        "domain": own_domain.name,
        "login": agent_a.email,
        "transfer": transfer.name,
        "part": "00001",
        "flow_token": flow.flow_token,
        "node_id": secret_file.pk,
        "space_id": vault_root.space_id,
        "group_id": group.pk,
        "version_id": vault.versions(secret_file)[-1].pk,
        "share_id": share.link.pk,
        "import_id": import_job.pk,
        "mail_import_id": build_mail_import(mailbox).pk,
        "token": share.token,
        # What must never appear in a response to someone of commune B.
        **build_shield_objects(commune_a),
        **build_archive_objects(commune_a, admin_a),
        **build_energy_objects(commune_a),
        **build_forecast_objects(commune_a),
        **build_finance_objects(commune_a),
        **build_incident_objects(commune_a),
        **build_eservices_objects(commune_a),
        **build_governance_objects(commune_a),
        "_a_markers": [
            "boitier-secret-a",
            agent_a.email,
            admin_a.email,
            "victime@montbard.test",
            "secret.a@",
            "mairie-victime.fr",
            "délibération-secrète-A",
            "bâtiment-secret-A",
            "cantine-secrète-A",
            "emprunt-secret-A",
            "incident-secret-A",
            "site-secret-a",
            "traitement-secret-A",
        ],
    }


def build_shield_objects(commune_a) -> dict[str, Any]:
    """A's enrolled box, its allowlist entry, and a source its box reported."""
    from clocher_box import protocol

    token = shield.issue_token(ACTOR, commune_a).token
    key = protocol.public_key_b64(protocol.new_private_key())
    box = shield.enroll(token, key, "boitier-secret-a", "0.1.0")
    allow = shield.add_allow(ACTOR, "192.0.2.44", "prestataire de A", commune=commune_a)
    block, _ = shield.upsert_block(
        ACTOR, "203.0.113.44/32", "collective", "essai", origin_commune=commune_a
    )
    rule = shield.block_port(ACTOR, commune_a, 3389, reason="RDP de A")
    return {
        "box_id": box.pk,
        "allow_id": allow.pk,
        "block_id": block.pk,
        "port_rule_id": rule.pk,
    }


def build_document_import(admin_a, vault_root):
    """A finished zip import into A's commune space."""
    import zipfile

    from clocher.vault import imports

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("import-secret-A.txt", b"A")
    return imports.start_web_import(
        ACTOR, admin_a, vault_root, "reprise-A.zip", iter([buffer.getvalue()])
    )


def build_archive_objects(commune_a, admin_a) -> dict[str, Any]:
    """A's sealed (expired) contract with an elimination proposal awaiting the visa."""
    from datetime import date

    from clocher.archive import services as archive
    from clocher.archive.models import RetentionRule

    rule = RetentionRule.objects.get(code="contrats-conventions")
    sealed = archive.deposit(
        ACTOR,
        commune_a,
        archive.DepositInput(
            "délibération-secrète-A archivée", rule.label, date(2012, 1, 2), "Le maire de A",
            rule, "contrat-secret-A.pdf", b"%PDF-1.4 contrat de A",
        ),
    ).obj  # fmt: skip
    proposal = archive.propose_elimination(Actor(user=admin_a), sealed, "contrat échu de A")
    return {"object_id": sealed.pk, "proposal_id": proposal.pk, "rule_id": rule.pk}


def build_energy_objects(commune_a) -> dict[str, Any]:
    """A's building with its meter, a drift on it, and an import of its load curve."""
    from datetime import date

    from clocher.energy import imports
    from clocher.energy import services as energy
    from clocher.energy.models import Drift

    building = energy.create_building(
        ACTOR, commune_a, energy.BuildingInput("bâtiment-secret-A", floor_area_m2=250.0)
    )
    meter = energy.add_meter(ACTOR, building, "electricite", "12345678901234")
    drift = Drift.objects.create(
        commune=commune_a, meter=meter, kind="talon_nuit", start=date(2024, 1, 8),
        end=date(2024, 1, 14), value=3.0, expected=1.0, text="bâtiment-secret-A : talon",
    )  # fmt: skip
    job = imports.start_import(
        ACTOR, commune_a, "courbe", "courbe-secrete-A.csv", b"Horodate;Valeur;Pas\n", meter
    )
    return {
        "building_id": building.pk,
        "meter_id": meter.pk,
        "drift_id": drift.pk,
        "energy_import_id": job.pk,
    }


def build_mail_import(mailbox):
    """A's mailbox being filled from its old IMAP account."""
    from clocher.mail.models import MailImport

    return MailImport.objects.create(
        commune=mailbox.commune,
        mailbox=mailbox,
        source_kind="imap",
        source_key="imap://secret.a@ancien-fournisseur-a.fr:993",
        source_url="imaps://secret.a@ancien-fournisseur-a.fr:993",
    )


def build_forecast_objects(commune_a) -> dict[str, Any]:
    """A's series fed by an app, with a stored forecast (made without the engine: the
    matrix checks who may reach it, not the numbers)."""
    from datetime import date

    from clocher.forecast import services as forecast
    from clocher.forecast.models import Forecast

    points = [(date(2020 + i // 12, i % 12 + 1, 1), 100.0 + i) for i in range(24)]
    series = forecast.series_from_points(
        ACTOR, commune_a, "demo:cantine", "cantine-secrète-A", points
    ).series
    made = Forecast.objects.create(
        commune=commune_a,
        series=series,
        data_version=series.data_version,
        horizon=1,
        status="done",
        model="cantine-secrète-A",
        prediction={"dates": ["2022-01-01"], "mean": [124.0],
                    "lower": {"80": [120.0], "95": [118.0]},
                    "upper": {"80": [128.0], "95": [130.0]}},
        created_by_label="matrice",
    )  # fmt: skip
    return {"series_id": series.pk, "forecast_id": made.pk}


def build_incident_objects(commune_a) -> dict[str, Any]:
    """An open incident of the operator's register that affects A (its notice is A's)."""
    from clocher.incidents import services as incidents

    incident = incidents.open_incident(
        ACTOR, "incident-secret-A", "messagerie", [commune_a], notice="incident-secret-A"
    )
    return {"incident_id": incident.pk}


def build_finance_objects(commune_a) -> dict[str, Any]:
    """A's loan book: one loan whose contract number must never show to anyone else."""
    from clocher.finance import services as finance

    csv_book = (
        "reference;preteur;nominal;date_debut;nombre_echeances;periodicite;taux\n"
        "emprunt-secret-A;Banque de A;100000;01/01/2020;20;annuelle;3\n"
    )
    finance.import_loans(ACTOR, commune_a, csv_book.encode(), "dette-A.csv")
    return {"loan_id": finance.loans_of(commune_a).get().pk}


def build_eservices_objects(commune_a) -> dict[str, Any]:
    """A's website listed for the audit, waiting for the operator's confirmation, and a
    port found open on A's public address (its « Bloquer ce port » route)."""
    from django.utils import timezone

    from clocher.eservices import services as eservices
    from clocher.eservices.models import Finding, Kind, Scan, Target

    target = eservices.add_target(ACTOR, commune_a, "https://site-secret-a.example/")
    address = Target.objects.create(commune=commune_a, kind=Kind.IP, value="192.0.2.45")
    now = timezone.now()
    scan = Scan.objects.create(
        target=address, commune=commune_a, started_at=now, finished_at=now, score=60
    )
    finding = Finding.objects.create(
        scan=scan, commune=commune_a, code="PORT_OPEN_445", severity="critique",
        title="Le port 445 est ouvert sur 192.0.2.45.", explanation="-", fix="-",
    )  # fmt: skip
    return {"target_id": target.pk, "finding_id": finding.pk}


def build_governance_objects(commune_a) -> dict[str, Any]:
    """A's register of processing activities, one entry renamed by A."""
    from clocher.governance import register

    entry = register.activities(commune_a)[0]
    register.update_activity(ACTOR, entry, {"name": "traitement-secret-A"})
    return {}
