#!/usr/bin/env bash
# cluster-idle.sh — idle connections held by a cluster of serve nodes on one
# port (--reuse-port): Debian's nats-server -js, NODES serve nodes (default
# 3) sharing one address, then NODES idle clients (target/internal/idleclient,
# one process each: a process may hold 20,000 files here) of PER connections
# each (default 19,000), each from its own loopback source address. Prints per
# node: the connections the kernel gave it, its RSS before and after, and
# the RSS per connection. Usage:
#   bench/cluster-idle.sh               NODES=3 PER=19000
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-3}
PER=${PER:-19000}
command -v nats-server >/dev/null || { echo "needs nats-server (apt-get install nats-server)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
if [ -n "${WSBENCH:-}" ]; then cp "$WSBENCH" "$tmp/wsbench"; else go build -o "$tmp/wsbench" .; fi
go build -o "$tmp/idleclient" ./target/internal/idleclient
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk '/^VmRSS/ {print $2}' /proc/$1/status; }   # KiB
socks() { find /proc/$1/fd -lname 'socket:*' 2>/dev/null | wc -l; }

nport=$(free_port); port=$(free_port)
nats-server -js -a 127.0.0.1 -p "$nport" -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
natspid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break; sleep 0.1; done
nodes=()
for i in $(seq "$NODES"); do
  "$tmp/wsbench" serve --addr 127.0.0.1:$port --reuse-port --cluster nats://127.0.0.1:$nport --cluster-name idle \
    --log-level warn --idle-timeout 10m --ping-interval 0 &
  nodes+=($!)
done
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
declare -A base0 sock0
for p in "${nodes[@]}"; do base0[$p]=$(rss $p); sock0[$p]=$(socks $p); done
clients=()
for i in $(seq "$NODES"); do
  "$tmp/idleclient" -addr 127.0.0.1:$port -source 127.0.0.$((i + 1)) -n "$PER" -w 32 >"$tmp/c$i.out" &
  clients+=($!)
done
for i in $(seq "$NODES"); do
  for _ in $(seq 3000); do [ -s "$tmp/c$i.out" ] && break; sleep 0.1; done
  echo "client $i: $(cat "$tmp/c$i.out")"
done
sleep 3
total=0
for p in "${nodes[@]}"; do
  r=$(rss $p); s=$(( $(socks $p) - ${sock0[$p]} ))
  total=$((total + s))
  awk -v p=$p -v s=$s -v a=${base0[$p]} -v b=$r 'BEGIN { printf "node pid %d: %d connections, RSS %d -> %d KiB: %.2f KiB per connection\n", p, s, a, b, (b-a)/(s>0?s:1) }'
done
echo "total $total connections on $NODES nodes of one port; nats-server RSS $(rss $natspid) KiB"
kill -INT "${clients[@]}" 2>/dev/null || true
