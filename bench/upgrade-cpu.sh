#!/usr/bin/env bash
# upgrade-cpu.sh [SERVER_BIN] [CLIENT_BIN]: CPU per upgrade on each side.
# Starts SERVER_BIN serve on a loopback port, runs bench/upgrade-hold.yaml
# (19,000 held connections) with CLIENT_BIN run --workers 2, and prints the
# server's CPU time (from /proc/PID/stat) and the client's (user + system of
# the run and its workers) divided by the server's upgrade count. Both
# default to a binary built from this checkout; give two different binaries
# to compare commits with everything else the same.
# Env: SOURCE (default 127.0.0.1-127.0.0.8; "none" for one address),
#      PORT (default 9331).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${1:-}" ] || [ -z "${2:-}" ]; then go build -o /tmp/wsbench-upgrade-cpu .; fi
S=${1:-/tmp/wsbench-upgrade-cpu}; C=${2:-/tmp/wsbench-upgrade-cpu}; P=${PORT:-9331}
src=(--source "${SOURCE:-127.0.0.1-127.0.0.8}"); [ "${SOURCE:-}" = none ] && src=()
tmp=$(mktemp -d); trap 'kill $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$S" serve --addr 127.0.0.1:$P --log-level warn >/dev/null 2>&1 & srv=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$P/healthz >/dev/null 2>&1 && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' /proc/$srv/stat; }
s0=$(ticks)
/usr/bin/time -f "%U %S" -o "$tmp/time" "$C" run bench/upgrade-hold.yaml --workers 2 "${src[@]}" \
  --target ws://127.0.0.1:$P --quiet > "$tmp/run" 2>&1 || true
s1=$(ticks)
up=$(curl -s http://127.0.0.1:$P/metrics | awk '$1 == "wsbench_upgrades_total" {print $2}')
kill -TERM $srv; wait $srv 2>/dev/null || true
read -r cu cs < "$tmp/time"
hz=$(getconf CLK_TCK)
python3 -c "
s = ($s1 - $s0) / $hz; c = $cu + $cs; u = $up
print(f'upgrades {u:.0f}  server {s*1e6/u:.1f} us/upgrade  client {c*1e6/u:.1f} us/upgrade')"
