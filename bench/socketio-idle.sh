#!/usr/bin/env bash
# socketio-idle.sh — server memory per idle Socket.IO session: the Node
# example server and `wsbench serve` (/socket.io/), each holding N sessions
# of bench/socketio-idle.yaml opened by one wsbench run. Prints the
# server's RSS before the run and while the sessions sit idle, and the
# difference per session.
#
# Usage: bench/socketio-idle.sh [N]   (default 2000; needs node and
#        `npm ci` in examples/socketio-server)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
port=${PORT:-18098}
tmp=$(mktemp -d)
go build -o "$tmp/wsbench" .
srv=
stop_server() {
	[ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null || true
	[ -n "$srv" ] && wait "$srv" 2>/dev/null || true
	srv=
}
trap 'stop_server; rm -rf "$tmp"' EXIT
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
printf '%-14s %6s %12s %12s %14s\n' server sessions base_KiB idle_KiB KiB/session
for server in node serve; do
	if [ "$server" = node ]; then
		node examples/socketio-server/server.js --port "$port" >"$tmp/server.out" 2>&1 &
	else
		"$tmp/wsbench" serve --addr "127.0.0.1:$port" --loops 1 --log-level warn >"$tmp/server.out" 2>&1 &
	fi
	srv=$!
	sleep 1.5
	base=$(rss "$srv")
	"$tmp/wsbench" run bench/socketio-idle.yaml --target "ws://127.0.0.1:$port" --vus "$n" --quiet --out "$tmp/r.json" >/dev/null 2>&1 &
	run=$!
	sleep 15 # connected and idle by now (the users think 20 s)
	idle=$(rss "$srv")
	wait "$run" || true
	acks=$(jq '.latencies | map(select(.name=="echo")) | .[0].count' "$tmp/r.json")
	printf '%-14s %6s %12s %12s %14s\n' "$server" "$acks" "$base" "$idle" "$(echo "scale=1; ($idle - $base) / $acks" | bc)"
	stop_server
done
