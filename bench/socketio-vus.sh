#!/usr/bin/env bash
# socketio-vus.sh — how many Socket.IO virtual users one run of a tool
# sustains: bench/socketio-hold.yaml (wsbench) or
# bench/artillery/socketio-hold.yml (Artillery) against
# examples/socketio-server run as a cluster of Node processes behind one port
# (bench/socketio-cluster.js), since one process may hold at most ~19,900
# sockets here.
#
# N sessions arrive evenly over RAMP s (default 300); each emits `echo` with
# an ack once a minute, COUNT times (default 7), so a session lasts
# (COUNT − 1) × 60 s and all N are open together from t = RAMP to
# t = (COUNT − 1) × 60 s. Every 5 s the script counts the
# server's established sockets on the port (ss) and sums the resident memory
# of the tool's processes and of the server's; at the end it prints the
# peaks, CPU time, and the tool's own report.
#
# Usage: bench/socketio-vus.sh wsbench N [run flags…]
#        bench/socketio-vus.sh artillery N
# Env:   WSBENCH (binary; default: go build), ARTILLERY (Artillery's bin),
#        SAMPLES (file to keep the 5-second samples in), OUT (file to keep
#        the tool's JSON results in),
#        NODE_WORKERS (server processes; default N / 16,000 + 1), RAMP,
#        COUNT, PORT (default 3700).
# Needs node, jq, ss and `npm ci` in examples/socketio-server. All traffic
# stays on 127.0.0.0/8; everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 wsbench|artillery N [run flags…]" >&2; exit 2; }
tool=$1 n=$2; shift 2
ramp=${RAMP:-300} count=${COUNT:-7} port=${PORT:-3700}
workers=${NODE_WORKERS:-$((n / 16000 + 1))}
[ $(((count - 1) * 60)) -gt "$ramp" ] || { echo "(COUNT − 1) × 60 s must exceed RAMP" >&2; exit 2; }
tmp=$(mktemp -d)
srv= cli=
trap 'for p in $cli $srv; do kill -TERM $p 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

node bench/socketio-cluster.js --port "$port" --workers "$workers" >"$tmp/server.out" 2>&1 &
srv=$!
for _ in $(seq 100); do grep -q listening "$tmp/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$tmp/server.out" || { echo "server did not start: $(cat "$tmp/server.out")" >&2; exit 1; }

case $tool in
wsbench)
	bin=${WSBENCH:-}
	if [ -z "$bin" ]; then bin=$tmp/wsbench; go build -o "$bin" .; fi
	# graceful_stop: the last session to arrive must get all its emits in.
	sed -e "s/^duration: 150s/duration: ${ramp}s/" -e "s/count: 5$/count: $count/" \
		-e "s/^graceful_stop: .*/graceful_stop: $((count * 60 + 60))s/" bench/socketio-hold.yaml >"$tmp/hold.yaml"
	"$bin" run "$tmp/hold.yaml" --target "ws://127.0.0.1:$port" --rate "$(echo "scale=3; $n / $ramp" | bc)" \
		--quiet --out "$tmp/out.json" "$@" >"$tmp/report.txt" 2>"$tmp/err.txt" &
	cli=$!
	;;
artillery)
	[ -n "${ARTILLERY:-}" ] || { echo "set ARTILLERY to Artillery's bin" >&2; exit 2; }
	(cd bench/artillery && URL="http://127.0.0.1:$port" VUS=$n RAMP=$ramp COUNT=$count \
		exec "$ARTILLERY" run --output "$tmp/out.json" socketio-hold.yml) >"$tmp/report.txt" 2>"$tmp/err.txt" &
	cli=$!
	;;
*) echo "tool must be wsbench or artillery" >&2; exit 2 ;;
esac

tree() { # pid: the pid and all its descendants
	local p=$1; echo "$p"
	for c in $(pgrep -P "$p" || true); do tree "$c"; done
}
# A process may exit between listing and reading: never let that end the script.
rss_sum() { for p in $(tree "$1"); do awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true; done | awk '{s+=$1} END {print s+0}'; }
cpu_sum() { for p in $(tree "$1"); do awk '{print ($14+$15)/100}' "/proc/$p/stat" 2>/dev/null || true; done | awk '{s+=$1} END {printf "%.1f", s}'; }
# SAMPLES=FILE keeps the 5-second samples (appended as they are taken).
samples=${SAMPLES:-$tmp/samples.txt}
peak_conns=0 peak_at=0 peak_tool=0 peak_srv=0 tool_cpu=0 start=$(date +%s)
while kill -0 "$cli" 2>/dev/null; do
	c=$(ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l || true)
	[ "$c" -gt "$peak_conns" ] && { peak_conns=$c; peak_at=$(($(date +%s) - start)); }
	r=$(rss_sum "$cli"); [ "$r" -gt "$peak_tool" ] && peak_tool=$r
	r=$(rss_sum "$srv"); [ "$r" -gt "$peak_srv" ] && peak_srv=$r
	t=$(cpu_sum "$cli"); awk -v a="$t" -v b="$tool_cpu" 'BEGIN {exit !(a>b)}' && tool_cpu=$t
	printf '%4ss established %6d  tool RSS %6d MiB  server RSS %6d MiB\n' $(($(date +%s) - start)) "$c" \
		$(($(rss_sum "$cli") / 1024)) $(($(rss_sum "$srv") / 1024)) >>"$samples"
	sleep 5
done
wait "$cli" && rc=0 || rc=$?
# OUT=FILE keeps the tool's JSON results.
[ -z "${OUT:-}" ] || cp "$tmp/out.json" "$OUT" 2>/dev/null || true
cat "$tmp/report.txt"
tail -5 "$tmp/err.txt" >&2 || true
echo
echo "$tool, $n sessions over ${ramp}s, $count emits each, $workers server processes; exit status $rc"
echo "server sockets established: peak $peak_conns (at ${peak_at}s)"
echo "tool: CPU ≥ ${tool_cpu}s (sampled), peak RSS $((peak_tool / 1024)) MiB (sum over its processes), $(echo "scale=1; $peak_tool / ($peak_conns + ($peak_conns == 0))" | bc) KiB per established socket"
echo "server: CPU $(cpu_sum "$srv")s, peak RSS $((peak_srv / 1024)) MiB"
if [ "$tool" = wsbench ]; then
	jq -r '"echo acks \(.latencies[] | select(.name=="echo") | .count), p50 \(.latencies[] | select(.name=="echo") | .p50_ns/1e6) ms, p99 \(.latencies[] | select(.name=="echo") | .p99_ns/1e6) ms; conns.open max \(.gauges["conns.open"].max // "?")"' "$tmp/out.json" 2>/dev/null || true
else
	jq -r '.aggregate.counters | to_entries[] | "\(.key) \(.value)"' "$tmp/out.json" 2>/dev/null || true
fi
