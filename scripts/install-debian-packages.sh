#!/usr/bin/env bash
# Install the Debian packages listed in deploy/debian-packages.txt that are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < deploy/debian-packages.txt
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  echo "Paquets Debian : tous présents."
else
  echo "Paquets Debian à installer : ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # sshd is there for the box's tests only: do not leave a new SSH server listening.
  if [[ " ${missing[*]} " == *" openssh-server "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
  fi
  # prometheus and alertmanager are there for promtool and amtool: no daemon left running.
  if [[ " ${missing[*]} " == *" prometheus"* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now prometheus.service prometheus-alertmanager.service \
      >/dev/null 2>&1 || true
  fi
fi
# The system user that owns the mailboxes on disk (Dovecot never runs mail as root).
if ! getent passwd vmail >/dev/null; then
  $SUDO useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin vmail
fi
