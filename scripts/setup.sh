#!/usr/bin/env bash
# One-shot, idempotent set-up of a fresh Debian 12 machine for kumo:
#   apt packages, the local libvirtd (started by hand: these machines have no systemd),
#   a throwaway PostgreSQL cluster on 127.0.0.1 for the persistence tests, and .venv.
# Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

APT_PACKAGES=(
  python3-venv python3-dev gcc pkg-config
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
  qemu-system-x86 qemu-utils ovmf osinfo-db
  linux-image-cloud-amd64 busybox-static cpio xorriso qemu-guest-agent
  postgresql
  # libvirt networks (NAT/isolated with DHCP) and nwfilter security groups: libvirt 9.0 keeps a
  # missing-firewall failure until libvirtd restarts, so these come before it starts
  dnsmasq-base iptables ebtables
)

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$p")
done
if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# a libvirtd started before the network tools were installed keeps failing networks: restart it
# (running guests survive a libvirtd restart)
restart_libvirtd=0
for p in "${need_apt[@]}"; do
  case $p in dnsmasq-base|iptables|ebtables) restart_libvirtd=1 ;; esac
done

# --- libvirtd (no systemd here: start it by hand, once) ---------------------------------------
getent group kvm >/dev/null || groupadd -r kvm
# libvirt resolves its compiled-in default group before reading qemu.conf
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || useradd -r -g kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
mkdir -p /etc/libvirt /var/log/libvirt /var/run/libvirt /var/lib/libvirt/images
QEMU_CONF=/etc/libvirt/qemu.conf
touch "$QEMU_CONF"
for kv in 'user = "root"' 'group = "root"' 'security_driver = "none"'; do
  key=${kv%% *}
  if grep -qE "^\s*${key}\s*=" "$QEMU_CONF"; then
    sed -i -E "s|^\s*${key}\s*=.*|${kv}|" "$QEMU_CONF"
  else
    echo "$kv" >> "$QEMU_CONF"
  fi
done
pgrep -x virtlogd >/dev/null || virtlogd -d
if ((restart_libvirtd)) && pgrep -x libvirtd >/dev/null; then
  pkill -x libvirtd && sleep 1
fi
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  pgrep -x libvirtd >/dev/null && pkill -x libvirtd && sleep 1
  libvirtd -d
  for _ in $(seq 1 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
fi
virsh -c qemu:///system version >/dev/null

# --- throwaway PostgreSQL cluster on 127.0.0.1 for the persistence tests ---------------------
# max_connections 300: the suite and parallel runs of it open a pool per test database
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
PGDATA="$ROOT/var/pgdata"
PGPORT=${KUMO_TEST_PGPORT:-55432}
mkdir -p "$ROOT/var"
if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; then
  echo "setup: PostgreSQL already answers on 127.0.0.1:$PGPORT; using it"
else
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  rm -rf "$PGDATA"; mkdir -p "$PGDATA"; chown postgres: "$PGDATA"
  su postgres -c "$PGBIN/initdb -D '$PGDATA' -A trust -U kumo >/dev/null"
fi
if ! su postgres -c "$PGBIN/pg_ctl -D '$PGDATA' status" >/dev/null 2>&1; then
  su postgres -c "$PGBIN/pg_ctl -D '$PGDATA' -l '$PGDATA/log' -w -o '-h 127.0.0.1 -p $PGPORT -k /tmp -c max_connections=300' start" >/dev/null
fi
fi

# --- Python environment --------------------------------------------------------------------------
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
echo "setup: ready (libvirtd on qemu:///system, PostgreSQL on 127.0.0.1:$PGPORT, .venv)"
