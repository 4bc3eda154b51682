#!/usr/bin/env bash
# Install smsgw as a hardened systemd service on a Debian / Raspberry Pi OS box. Run as root from a
# checkout:  sudo systemd/install.sh
# Creates the `smsgw` user (groups dialout, and gpio where it exists), /opt/smsgw (venv), /var/lib/smsgw,
# /etc/smsgw/config.toml from the template (kept when it exists), sets a generated admin password and
# creates an admin API key (both printed once), installs the unit and the udev rules, enables the unit.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${PREFIX:-/opt/smsgw}"
CONFIG_DIR="${CONFIG_DIR:-/etc/smsgw}"
STATE_DIR="${STATE_DIR:-/var/lib/smsgw}"
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"
RULES_DIR="${RULES_DIR:-/etc/udev/rules.d}"
PYTHON="${PYTHON:-python3}"

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo $0)" >&2
    exit 1
fi

echo "== user"
if ! id smsgw >/dev/null 2>&1; then
    useradd --system --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin --user-group smsgw
fi
usermod -a -G dialout smsgw
if getent group gpio >/dev/null; then usermod -a -G gpio smsgw; fi

echo "== directories"
install -d -o root -g root -m 0755 "$PREFIX"
install -d -o smsgw -g smsgw -m 0750 "$STATE_DIR"
install -d -o root -g smsgw -m 0750 "$CONFIG_DIR"

echo "== program ($PREFIX/venv)"
"$PYTHON" -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
"$PREFIX/venv/bin/pip" install --quiet "$SRC"
install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
install -d -m 0755 "$PREFIX/docs"
install -m 0644 "$SRC"/docs/*.md "$PREFIX/docs/"
SMSGW="$PREFIX/venv/bin/smsgw"
as_smsgw() { runuser -u smsgw -- env SMSGW_CONFIG="$CONFIG_DIR/config.toml" "$@"; }

echo "== config"
if [ ! -f "$CONFIG_DIR/config.toml" ]; then
    install -o root -g smsgw -m 0640 "$SRC/systemd/config.toml.template" "$CONFIG_DIR/config.toml"
    echo "wrote $CONFIG_DIR/config.toml: add your modems (smsgw modems scan prints them)"
fi

echo "== database"
as_smsgw "$SMSGW" db upgrade

if [ ! -f "$STATE_DIR/.installed" ]; then
    PASSWORD="$("$PREFIX/venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))')"
    as_smsgw "$SMSGW" admin password --password="$PASSWORD" >/dev/null  # (= : it may start with "-")
    KEY="$(as_smsgw "$SMSGW" keys create --name install-admin --scopes send,read,admin | tail -n 1)"
    touch "$STATE_DIR/.installed" && chown smsgw:smsgw "$STATE_DIR/.installed"
    echo
    echo "  status page admin password: $PASSWORD"
    echo "  admin API key:              $KEY"
    echo "  (shown once: only their hashes are stored)"
    echo
fi

echo "== systemd and udev"
install -m 0644 "$SRC/systemd/smsgw.service" "$UNIT_DIR/smsgw.service"
sed -i "s|/opt/smsgw|$PREFIX|g; s|/etc/smsgw/config.toml|$CONFIG_DIR/config.toml|g" "$UNIT_DIR/smsgw.service"
install -m 0644 "$SRC/systemd/99-smsgw-modems.rules" "$RULES_DIR/99-smsgw-modems.rules"
if command -v udevadm >/dev/null; then
    udevadm control --reload-rules && udevadm trigger --subsystem-match=tty || true
fi
systemctl daemon-reload
systemctl enable --now smsgw.service
echo "smsgw installed: systemctl status smsgw; check the box with: sudo -u smsgw $SMSGW doctor --config $CONFIG_DIR/config.toml"
