#!/usr/bin/env bash
# cluster-fanout.sh — cross-node fan-out beside single-node, in the same
# minutes: bench/fanout-1000.yaml (a 1,000-member room at 100 messages/s)
# run as two load processes (--segment 0:1/2 and 1/2:1, five speakers and
# 495 members each), in turns:
#   single   both processes against one `wsbench serve`
#   cluster  each process against its own node of a two-node cluster
#            (Debian's nats-server -js), so every message is delivered on
#            both nodes and half of the members are across the broker
# Prints, per run: the merged delivery p50/p90/p99 (the clients' clocks
# minus the send time in the message), and the serve processes' CPU (both
# nodes summed) and nats-server's CPU over the messages the clients received
# (1.5 million). Joins are not announced (--presence-limit 100), so the
# server's work is the room traffic plus the set-up of 1,000 connections.
# Usage:
#   bench/cluster-fanout.sh [ROUNDS]      (default 2: single, cluster, single, cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
command -v nats-server >/dev/null || { echo "needs nats-server (apt-get install nats-server)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
if [ -n "${WSBENCH:-}" ]; then cp "$WSBENCH" "$tmp/wsbench"; else go build -o "$tmp/wsbench" .; fi
W=$tmp/wsbench
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu() { awk '{printf "%.2f", ($14+$15)/100}' /proc/$1/stat; }
wait_http() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return; sleep 0.1; done; echo "no server on $1" >&2; exit 1; }
deliveries() { curl -sf "http://127.0.0.1:$1/metrics" | awk '/^wsbench_deliveries_total / {print $2}'; }

nport=$(free_port)
nats-server -js -a 127.0.0.1 -p "$nport" -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
natspid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break; sleep 0.1; done

one() { # mode
  local mode=$1 p1 p2 s1 s2 n0 n1 c1 c2
  p1=$(free_port); p2=$p1
  local flags=""
  [ "$mode" = cluster ] && flags="--cluster nats://127.0.0.1:$nport --cluster-name bench$RANDOM"
  "$W" serve --addr 127.0.0.1:$p1 --log-level warn --presence-limit 100 $flags &
  s1=$!; s2=""
  wait_http $p1
  if [ "$mode" = cluster ]; then
    p2=$(free_port)
    "$W" serve --addr 127.0.0.1:$p2 --log-level warn --presence-limit 100 $flags &
    s2=$!
    wait_http $p2
  fi
  n0=$(cpu $natspid)
  "$W" run bench/fanout-1000.yaml --target ws://127.0.0.1:$p1 --segment 0:1/2 --quiet --run-id $mode -o "$tmp/a.json" >/dev/null &
  c1=$!
  "$W" run bench/fanout-1000.yaml --target ws://127.0.0.1:$p2 --segment 1/2:1 --quiet --run-id $mode -o "$tmp/b.json" >/dev/null &
  c2=$!
  wait $c1 || true; wait $c2 || true
  local scpu d
  scpu=$(cpu $s1); d=$(deliveries $p1)
  if [ -n "$s2" ]; then
    scpu=$(awk -v a="$scpu" -v b="$(cpu $s2)" 'BEGIN {printf "%.2f", a+b}')
    d=$((d + $(deliveries $p2)))
  fi
  n1=$(cpu $natspid)
  "$W" report "$tmp/a.json" "$tmp/b.json" --format json >"$tmp/m.json" || true
  python3 - "$tmp/m.json" "$mode" "$scpu" "$d" "$(awk -v a=$n0 -v b=$n1 'BEGIN {printf "%.2f", b-a}')" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mode, scpu, d, ncpu = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
lat = next((l for l in r.get("latencies", []) if l.get("name") == "delivery"), {})
def q(k):
    v = lat.get(k + "_ns")
    return "-" if v is None else f"{v/1e6:.2f} ms"
c = r.get("counters", {})
n = lat.get("count", 0)
print(f"{mode:8} delivery p50 {q('p50')} p90 {q('p90')} p99 {q('p99')} n={n} lost={c.get('delivery.lost', 0)}"
      f" | serve CPU {scpu:.2f}s ({d} server deliveries) = {scpu/max(n,1)*1e6:.2f} µs per delivered message"
      + (f" | nats-server CPU {ncpu:.2f}s = {ncpu/max(n,1)*1e6:.3f} µs" if mode == "cluster" else ""))
PY
  kill -TERM $s1 ${s2:-} 2>/dev/null || true
  wait $s1 ${s2:-} 2>/dev/null || true
}

for _ in $(seq "$rounds"); do
  one single
  one cluster
done
