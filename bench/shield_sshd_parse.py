# ruff: noqa: S603, S607, E501 — a bench driving apt-get, dpkg-deb and crowdsec with fixed arguments
"""Shield figure: sshd auth log lines analysed per second, the box's parser vs CrowdSec,
on the same generated log, in the same run.

CrowdSec (Debian `crowdsec`) cannot be apt-installed offline (its postinst registers
online): the bench fetches it with `apt-get download` into its cache dir, unpacks it with
`dpkg-deb -x`, writes a minimal local config using the parsers and scenario shipped in
the package (syslog-logs, sshd-logs, dateparse-enrich, ssh-bf), registers a local
machine (`cscli machines add --auto`) and replays the file:
`crowdsec -c CONFIG -dsn file://LOG -type syslog`.
Usage: .venv/bin/python bench/shield_sshd_parse.py [--lines 100000] [--work DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from clocher_box.detectors.sshd import SshBruteforce


def generate(path: Path, count: int) -> None:
    rng = random.Random(1)
    with path.open("w") as out:
        for i in range(count):
            ip, when, pid, port = (
                f"203.0.113.{rng.randrange(1, 255)}",
                f"13:{i // 60 % 60:02d}:{i % 60:02d}",
                1000 + i % 500,
                40000 + i % 20000,
            )
            kind = i % 4
            if kind == 0:
                out.write(
                    f"Nov 25 {when} box sshd[{pid}]: Failed password for root from {ip} port {port} ssh2\n"
                )
            elif kind == 1:
                out.write(
                    f"Nov 25 {when} box sshd[{pid}]: Invalid user admin from {ip} port {port}\n"
                )
            elif kind == 2:
                out.write(
                    f"Nov 25 {when} box sshd[{pid}]: Accepted publickey for alice from 198.51.100.4 port {port} ssh2\n"
                )
            else:
                out.write(
                    f"Nov 25 {when} box CRON[{pid}]: pam_unix(cron:session): session opened for user root\n"
                )


def crowdsec(work: Path) -> Path:
    """The unpacked package (cached), and a config dir with the sshd parsers/scenario."""
    root = work / "crowdsec"
    if not (root / "usr/bin/crowdsec").exists():
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["apt-get", "download", "crowdsec"], cwd=work, check=True, capture_output=True
        )
        deb = next(work.glob("crowdsec_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    hub = root / "usr/share/crowdsec/hub"
    cfg = work / "cfg"
    shutil.rmtree(cfg, ignore_errors=True)
    for stage, name in (
        ("s00-raw", "syslog-logs"),
        ("s01-parse", "sshd-logs"),
        ("s02-enrich", "dateparse-enrich"),
    ):
        (cfg / "parsers" / stage).mkdir(parents=True)
        shutil.copy(
            hub / "parsers" / stage / "crowdsecurity" / f"{name}.yaml", cfg / "parsers" / stage
        )
    (cfg / "scenarios").mkdir()
    (cfg / "data").mkdir()
    shutil.copy(hub / "scenarios/crowdsecurity/ssh-bf.yaml", cfg / "scenarios")
    shutil.copytree(root / "etc/crowdsec/patterns", cfg / "patterns")
    shutil.copy(root / "etc/crowdsec/profiles.yaml", cfg)
    (cfg / "simulation.yaml").write_text("")
    (cfg / "acquis.yaml").write_text("\n")
    (
        cfg / "config.yaml"
    ).write_text(f"""common: {{daemonize: false, log_media: stdout, log_level: error}}
config_paths: {{config_dir: {cfg}/, data_dir: {cfg}/data/, simulation_path: {cfg}/simulation.yaml, hub_dir: {hub}/, index_path: {hub}/.index.json}}
crowdsec_service: {{acquisition_path: {cfg}/acquis.yaml, parser_routines: 1, buckets_routines: 1, output_routines: 1}}
db_config: {{type: sqlite, db_path: {cfg}/data/crowdsec.db}}
prometheus: {{enabled: false}}
api:
  client: {{credentials_path: {cfg}/local_api_credentials.yaml}}
  server: {{listen_uri: "127.0.0.1:18089", profiles_path: {cfg}/profiles.yaml}}
""")
    subprocess.run(
        [
            str(root / "usr/bin/cscli"),
            "-c",
            str(cfg / "config.yaml"),
            "machines",
            "add",
            "bench",
            "--auto",
            "-f",
            str(cfg / "local_api_credentials.yaml"),
        ],
        check=True,
        capture_output=True,
    )
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "clocher-bench-shield"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "auth.log"
    generate(log, args.lines)

    detector = SshBruteforce()
    started = time.monotonic()
    blocks = 0
    with log.open() as lines:
        for line in lines:
            blocks += detector.feed(line) is not None
    ours = args.lines / (time.monotonic() - started)

    root = crowdsec(args.work)
    started = time.monotonic()
    subprocess.run(
        [
            str(root / "usr/bin/crowdsec"),
            "-c",
            str(args.work / "cfg/config.yaml"),
            "-dsn",
            f"file://{log}",
            "-type",
            "syslog",
        ],
        check=True,
        capture_output=True,
    )
    theirs = args.lines / (time.monotonic() - started)
    print(
        f"{args.lines:,} sshd log lines: agent {ours:,.0f} lines/s ({blocks} blocks), CrowdSec {theirs:,.0f} lines/s, ratio {ours / theirs:.1f}"
    )


if __name__ == "__main__":
    main()
