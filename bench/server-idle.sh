#!/usr/bin/env bash
# Idle cost and upgrade rate of `wsbench serve`, each side in its own process.
# Opens 500 upgraded /chat connections, reads the server's RSS, then 19,000
# more from a second client process (19,500 in all), reads it again, and
# prints the marginal RSS per upgraded connection. Loopback only; everything
# it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-9311}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$bin"' EXIT
go build -o "$bin/wsbench" . && go build -o "$bin/idleclient" ./target/internal/idleclient

"$bin/wsbench" serve --addr 127.0.0.1:$port --log-level warn &
srv=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:$port/healthz >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/^VmRSS/ {print $2}' /proc/$srv/status; }   # KiB

wait_line() { # wait until file $1 has a line (the client's "open N ..." report)
  for _ in $(seq 1200); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timeout waiting for $1" >&2; return 1
}
echo "server RSS at start: $(rss) KiB"
"$bin/idleclient" -addr 127.0.0.1:$port -n 500 > "$bin/a.out" & a=$!
wait_line "$bin/a.out"; sleep 1
r500=$(rss); echo "500 conns: $(cat "$bin/a.out"); server RSS $r500 KiB"
"$bin/idleclient" -addr 127.0.0.1:$port -n 19000 -w ${WORKERS:-64} > "$bin/b.out" & b=$!
wait_line "$bin/b.out"; sleep 2
r19500=$(rss); echo "+19000 conns: $(cat "$bin/b.out"); server RSS $r19500 KiB"
awk -v a="$r500" -v b="$r19500" 'BEGIN { printf "marginal RSS per upgraded connection: %.2f KiB\n", (b-a)/19000 }'
echo "server CPU (utime+stime, s): $(awk '{printf "%.2f", ($14+$15)/100}' /proc/$srv/stat)"
kill -INT $a $b 2>/dev/null || true
kill -TERM $srv; wait $srv || true
