"""Mail: provisioning 5,000 mailboxes through the service layer, then Postfix lookup
latency against Clocher's table (sqlite map) vs the same addresses in a static hash map.

Both lookups run `postmap -q` the way Postfix's own tools do, so process start-up is in
both columns; the ratio is what the live-database design costs per lookup.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_with_fresh_db  # noqa: E402

MAILBOXES = 5000
LOOKUPS = 300


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def time_lookups(map_spec: str, addresses: list[str], config_dir: Path) -> list[float]:
    timings = []
    for address in addresses:
        start = time.perf_counter()
        result = subprocess.run(  # noqa: S603
            ["/usr/sbin/postmap", "-c", str(config_dir), "-q", address, map_spec],
            capture_output=True, text=True, check=False,
        )
        timings.append((time.perf_counter() - start) * 1000)
        if result.returncode != 0:
            raise SystemExit(f"lookup of {address} in {map_spec} failed: {result.stderr}")
    return timings


def main() -> None:
    django_with_fresh_db()
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.mail import services
    from clocher.mail.engines.config import MailConfig
    from clocher.mail.engines.runtime import write_configs

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Bench", "communes.cotedor.fr", "", "21")
    commune = core.create_commune(actor, "21231", status="active")
    core.update_quotas(actor, commune, mailboxes=MAILBOXES)
    start = time.perf_counter()
    for i in range(MAILBOXES):
        services.create_mailbox(actor, commune, f"agent{i}@communes.cotedor.fr")
    provisioning = time.perf_counter() - start

    work = Path(tempfile.mkdtemp(prefix="clocher-bench-mail-"))
    config = MailConfig.from_settings(mail_dir=work)
    write_configs(config)
    conf_dir = work / "postfix" / "conf"
    static = work / "static-mailboxes"
    static.write_text("".join(f"agent{i}@communes.cotedor.fr OK\n" for i in range(MAILBOXES)))
    subprocess.run(["/usr/sbin/postmap", "-c", str(conf_dir), f"hash:{static}"], check=True)  # noqa: S603

    sample = [f"agent{random.randrange(MAILBOXES)}@communes.cotedor.fr" for _ in range(LOOKUPS)]
    clocher = time_lookups(f"sqlite:{conf_dir / 'mailboxes.cf'}", sample, conf_dir)
    peer = time_lookups(f"hash:{static}", sample, conf_dir)
    print(f"provisioning {MAILBOXES} mailboxes: {provisioning:.1f} s "
          f"({MAILBOXES / provisioning:,.0f} mailboxes/s, each with its audit entry)")
    print(f"postmap -q, Clocher table (sqlite): p50 {statistics.median(clocher):.2f} ms, "
          f"p99 {percentile(clocher, 0.99):.2f} ms")
    print(f"postmap -q, static hash map (peer): p50 {statistics.median(peer):.2f} ms, "
          f"p99 {percentile(peer, 0.99):.2f} ms")
    print(f"ratio p50 Clocher/static: {statistics.median(clocher) / statistics.median(peer):.2f}")


if __name__ == "__main__":
    main()
