"""The Prometheus text exposition format 0.0.4, written by hand.

The format is a few lines of text; prometheus_client would bring a process-global
registry that fits gunicorn's several worker processes badly (it needs a shared
multiprocess directory), for metrics that are all computed at scrape time anyway.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from clocher.supervision.collect import QUEUES, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = dict[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


class Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[tuple[Labels, float]] = []

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help.replace(chr(92), chr(92) * 2)}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in self.samples:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            yield (
                f"{self.name}{{{inner}}} {_number(value)}"
                if inner
                else (f"{self.name} {_number(value)}")
            )


def families(snap: Snapshot) -> list[Family]:
    up = Family(
        "clocher_component_up", "gauge", "1 if the component's check passes (clocher check)."
    )
    for item in snap.components:
        up.add(1 if item.ok else 0, component=item.component, address=item.address)
    traffic = Family(
        "clocher_mail_messages_total", "counter", "Mail counted in Postfix's log, by kind."
    )
    for kind, count in snap.mail_traffic.items():
        traffic.add(count, kind=kind)
    queue_up = Family(
        "clocher_mail_queue_up", "gauge", "1 if Postfix answered postqueue for its queue sizes."
    ).add(0 if snap.mail_queue is None else 1)
    queue = Family("clocher_mail_queue_messages", "gauge", "Messages in each Postfix queue.")
    for name in QUEUES if snap.mail_queue is not None else ():
        queue.add((snap.mail_queue or {}).get(name, 0), queue=name)
    vault_used = Family("clocher_vault_used_bytes", "gauge", "Vault bytes used, per commune.")
    vault_quota = Family("clocher_vault_quota_bytes", "gauge", "Vault quota, per commune.")
    archive_objects = Family(
        "clocher_archive_objects", "gauge", "Sealed archived objects, per commune."
    )
    archive_bytes = Family("clocher_archive_bytes", "gauge", "Sealed archive bytes, per commune.")
    for volume in snap.volumes:
        vault_used.add(volume.vault_used, commune=volume.insee)
        vault_quota.add(volume.vault_quota, commune=volume.insee)
        archive_objects.add(volume.archive_objects, commune=volume.insee)
        archive_bytes.add(volume.archive_bytes, commune=volume.insee)
    audit_ok = Family(
        "clocher_archive_audit_ok", "gauge", "1 if the last archive audit found nothing altered."
    )
    if snap.archive_audit_ok is not None:
        audit_ok.add(1 if snap.archive_audit_ok else 0)
    audit_age = Family(
        "clocher_archive_audit_age_seconds", "gauge", "Seconds since the last archive audit."
    ).add(snap.archive_audit_age)
    chain_ok = Family(
        "clocher_audit_chain_ok", "gauge", "1 if the audit journal's hash chain holds."
    ).add(1 if snap.chain_ok else 0)
    chain_verified = Family(
        "clocher_audit_chain_verified_entries", "gauge", "Audit entries verified so far."
    ).add(snap.chain_verified)
    backup = Family(
        "clocher_backup_age_seconds", "gauge", "Seconds since the last good backup (+Inf: never)."
    ).add(snap.backup_age)
    drill = Family(
        "clocher_drill_age_seconds", "gauge", "Seconds since the last good drill (+Inf: never)."
    ).add(snap.drill_age)
    heartbeat = Family(
        "clocher_box_heartbeat_age_seconds", "gauge", "Seconds since each box's last heartbeat."
    )
    blocked = Family(
        "clocher_box_blocked_sources", "gauge", "Sources each box blocks, as it last said."
    )
    flows = Family("clocher_box_blocked_flows_today", "gauge", "Flows each box dropped today.")
    for box in snap.boxes:
        labels = {"box": box.box_id, "hostname": box.hostname, "commune": box.commune}
        heartbeat.add(box.heartbeat_age, **labels)
        blocked.add(box.blocked_sources, **labels)
        flows.add(box.blocked_flows_today, **labels)
    disk_size = Family(
        "clocher_disk_size_bytes", "gauge", "Size of the data dir's filesystem."
    ).add(snap.disk_size)
    disk_free = Family(
        "clocher_disk_free_bytes", "gauge", "Free bytes on the data dir's filesystem."
    ).add(snap.disk_free)
    return [
        up, traffic, queue_up, queue, vault_used, vault_quota, archive_objects, archive_bytes,
        audit_ok, audit_age, chain_ok, chain_verified, backup, drill, heartbeat, blocked, flows,
        disk_size, disk_free,
    ]  # fmt: skip


def render(snap: Snapshot, started: float | None = None) -> str:
    lines = [line for family in families(snap) for line in family.lines()]
    if started is not None:
        duration = Family(
            "clocher_scrape_duration_seconds", "gauge", "Time this scrape took to compute."
        ).add(round(time.monotonic() - started, 6))
        lines.extend(duration.lines())
    return "\n".join(lines) + "\n"
