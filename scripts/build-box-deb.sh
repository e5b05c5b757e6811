#!/usr/bin/env bash
# `make box-deb`: the box agent as a Debian package, dist/clocher-box_<version>_all.deb.
# Built with dpkg-deb from a staging tree (no debhelper). Python libraries come from
# Debian (python3-cryptography, -dnslib, -click, -requests: security updates by apt);
# geoip2fast, not in Debian, is vendored from the project's venv into /usr/lib/clocher-box
# (pure Python + its data file: no compiler, no network at build or install time).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
VERSION="$("$PY" -c 'import sys; sys.path.insert(0, "src"); import clocher_box; print(clocher_box.__version__)')"
GEOIP="$("$PY" -c 'import geoip2fast, os; print(os.path.dirname(geoip2fast.__file__))')"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
LIB="$STAGE/usr/lib/clocher-box"
mkdir -p "$STAGE/DEBIAN" "$LIB" "$STAGE/usr/bin" "$STAGE/lib/systemd/system" \
  "$STAGE/etc/default" "$STAGE/usr/share/doc/clocher-box"

# The agent's sources (no bytecode: python3 compiles them on first use, as root only).
(cd src && find clocher_box -name '*.py' -print0 | xargs -0 -I{} install -D -m 0644 {} "$LIB/{}")
mkdir -p "$LIB/geoip2fast"
install -m 0644 "$GEOIP"/__init__.py "$GEOIP"/geoip2fast.py "$GEOIP"/geoip2fast-ipv6.dat.gz "$LIB/geoip2fast/"
cat > "$STAGE/usr/bin/clocher-box" <<'PYEOF'
#!/usr/bin/python3 -I
"""clocher-box (Debian package): the agent's code and vendored geoip2fast live in
/usr/lib/clocher-box; -I keeps PYTHONPATH and the user's site out of a root service."""
import sys

sys.path.insert(0, "/usr/lib/clocher-box")
from clocher_box.cli import main  # noqa: E402

sys.exit(main())
PYEOF
chmod 0755 "$STAGE/usr/bin/clocher-box"

install -m 0644 deploy/box-deb/clocher-box.service "$STAGE/lib/systemd/system/"
install -m 0644 deploy/box-deb/default "$STAGE/etc/default/clocher-box"
install -m 0755 deploy/box-deb/postinst deploy/box-deb/prerm deploy/box-deb/postrm "$STAGE/DEBIAN/"
echo /etc/default/clocher-box > "$STAGE/DEBIAN/conffiles"
sed "s/@VERSION@/$VERSION/" deploy/box-deb/control > "$STAGE/DEBIAN/control"
echo "Installed-Size: $(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)" >> "$STAGE/DEBIAN/control"

DOC="$STAGE/usr/share/doc/clocher-box"
cp LICENSE "$DOC/copyright"
license="$(ls -d "$GEOIP"/../geoip2fast-*.dist-info 2>/dev/null | head -n 1)"
if [ -n "$license" ]; then
  for f in "$license"/LICENSE* "$license"/licenses/*; do
    [ -f "$f" ] && { printf '\n--- geoip2fast (vendored in /usr/lib/clocher-box) ---\n'; cat "$f"; } >> "$DOC/copyright"
  done
fi
cat > "$DOC/README" <<'DOCEOF'
Boîtier de sécurité Clocher. Guide : docs/shield.md et docs/operations.md du projet.
1. clocher-box enroll --server https://clocher.departement.example --token clb_…
2. options du site dans /etc/default/clocher-box
3. systemctl start clocher-box ; clocher-box status
DOCEOF

mkdir -p dist
find "$STAGE" -type d -exec chmod 0755 {} +
dpkg-deb --root-owner-group --build "$STAGE" "dist/clocher-box_${VERSION}_all.deb" >/dev/null
echo "dist/clocher-box_${VERSION}_all.deb"
