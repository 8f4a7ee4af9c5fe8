#!/usr/bin/env bash
# Idle cost of permessage-deflate on `wsbench serve`: the marginal server
# RSS per idle /echo connection that sent SEND messages of SIZE bytes and
# read their echoes, in three setups, each on a fresh server:
#   off       no extension offered
#   deflate   permessage-deflate offered, answered with no context takeover
#             (the default: no compression state between messages)
#   takeover  the same offer with --compression-takeover N: the server keeps
#             each client's 32 KiB LZ77 window
# Each setup opens 500 connections, reads the RSS, opens N more (default
# 5000), reads it again. Loopback only; everything it starts is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-9314}
n=${N:-5000}
send=${SEND:-2}
size=${SIZE:-20000}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$bin"' EXIT
go build -o "$bin/wsbench" . && go build -o "$bin/idleclient" ./target/internal/idleclient

wait_line() {
  for _ in $(seq 1200); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timeout waiting for $1" >&2; return 1
}
measure() { # name, serve flags, idleclient flags
  local name=$1 sflags=$2 cflags=$3
  "$bin/wsbench" serve --addr 127.0.0.1:$port --log-level warn $sflags &
  local srv=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:$port/healthz >/dev/null 2>&1 && break; sleep 0.1; done
  rm -f "$bin/a.out" "$bin/b.out"
  "$bin/idleclient" -addr 127.0.0.1:$port -path /echo -n 500 -send $send -size $size $cflags > "$bin/a.out" & local a=$!
  wait_line "$bin/a.out"; sleep 1
  local r0; r0=$(awk '/^VmRSS/ {print $2}' /proc/$srv/status)
  "$bin/idleclient" -addr 127.0.0.1:$port -path /echo -n $n -send $send -size $size $cflags > "$bin/b.out" & local b=$!
  wait_line "$bin/b.out"; sleep 2
  local r1; r1=$(awk '/^VmRSS/ {print $2}' /proc/$srv/status)
  local m; m=$(curl -sf http://127.0.0.1:$port/metrics | grep -E '^wsbench_(compressed_connections|compression_takeover_connections|bytes_out_total) ' | tr '\n' ' ')
  awk -v name="$name" -v a="$r0" -v b="$r1" -v n="$n" -v o="$(cat "$bin/b.out")" -v m="$m" \
    'BEGIN { printf "%-9s %s | server RSS %d -> %d KiB: %.2f KiB per idle connection | %s\n", name, o, a, b, (b-a)/n, m }'
  kill -INT $a $b 2>/dev/null || true; wait $a $b 2>/dev/null || true
  kill -TERM $srv; wait $srv || true
}
echo "N=$n connections, each sent $send message(s) of $size bytes to /echo and read the echoes"
measure off "" ""
measure deflate "" "-ext permessage-deflate;client_max_window_bits"
measure takeover "--compression-takeover $((n + 1000))" "-ext permessage-deflate;client_max_window_bits"
