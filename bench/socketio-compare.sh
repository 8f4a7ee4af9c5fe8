#!/usr/bin/env bash
# socketio-compare.sh — wsbench and Artillery's socketio engine side by side
# against the Node Socket.IO v4 server of examples/socketio-server.
#
# Two workloads, each tool running its twin file against a fresh server:
#   flood  bench/socketio-flood.yaml | bench/artillery/socketio-flood.yml
#          FLOOD_VUS (default 50) VUs emit `echo` with an ack 2000 times back
#          to back: emits/s is what the tool (and the server) can push.
#   paced  bench/socketio-paced.yaml | bench/artillery/socketio-paced.yml
#          N VUs arrive over 5 s and emit `echo` with an ack once a second,
#          15 times: does every VU connect and get its 15 acks, at what RSS?
#
# Per run it prints emits (acks) per second of the tool's run time, the ack
# latency p50/p99 each tool reports, its peak RSS (and per VU, start-up
# included) and the VUs that failed. Artillery is not a test dependency:
#   (cd /tmp/art && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm i artillery@2.0.21)
# and set ARTILLERY=/tmp/art/node_modules/.bin/artillery (unset: wsbench only).
# Needs node, jq, /usr/bin/time and `npm ci` in examples/socketio-server.
#
# Usage: ARTILLERY=… bench/socketio-compare.sh [N ...]   (paced sizes; default 100 500 2000)
#        MODES="flood" or MODES="paced" runs one workload only.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 500 2000)
artillery=${ARTILLERY:-}
modes=${MODES:-flood paced}
flood_vus=${FLOOD_VUS:-50}
port=${PORT:-18097}
tmp=$(mktemp -d)
go build -o "$tmp/wsbench" .
srv=
stop_server() {
	[ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null || true
	[ -n "$srv" ] && wait "$srv" 2>/dev/null || true
	srv=
}
trap 'stop_server; rm -rf "$tmp"' EXIT
start_server() {
	stop_server
	node examples/socketio-server/server.js --port "$port" >"$tmp/server.out" 2>&1 &
	srv=$!
	for _ in $(seq 100); do
		grep -q listening "$tmp/server.out" 2>/dev/null && return
		sleep 0.1
	done
	echo "socket.io server did not start" >&2
	exit 1
}

row() { printf '%-9s %-6s %6s %9s %9s %9s %9s %12s %11s %7s\n' "$@"; }
row tool mode VUs emits emits/s p50_ms p99_ms peak_RSS_MiB RSS_KiB/VU failed

run_wsbench() { # mode file vus
	start_server
	/usr/bin/time -f '%e %M' -o "$tmp/time" "$tmp/wsbench" run "$2" --target "ws://127.0.0.1:$port" \
		--vus "$3" --quiet --out "$tmp/ws.json" >/dev/null 2>"$tmp/ws.err" || true
	read -r wall rss <"$tmp/time"
	jq -r --arg mode "$1" --arg n "$3" --arg rss "$rss" '
		def secs: (sub("\\.[0-9]+Z$";"Z") | fromdate) + ((capture("\\.(?<f>[0-9]+)Z$").f // "0") | "0." + . | tonumber);
		(.latencies | map(select(.name=="echo")) | .[0]) as $l
		| ((.meta.end | secs) - (.meta.start | secs)) as $secs
		| ["wsbench", $mode, $n, $l.count, ($l.count / ([$secs,0.001]|max) | floor),
		   ($l.p50_ns/1e6*100|round/100), ($l.p99_ns/1e6*100|round/100),
		   ($rss|tonumber/1024*10|round/10), ($rss|tonumber/($n|tonumber)*10|round/10),
		   .counters["iterations.failed"]] | @tsv' "$tmp/ws.json" |
		while IFS=$'\t' read -r a b c d e f g h i j; do row "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j"; done
}

run_artillery() { # mode file vus
	start_server
	(cd bench/artillery && URL="http://127.0.0.1:$port" VUS="$3" timeout 300 /usr/bin/time -f '%e %M' -o "$tmp/time" \
		"$artillery" run --output "$tmp/art.json" "$2" >"$tmp/art.log" 2>&1) || true
	read -r wall rss <"$tmp/time"
	# Artillery's own first/last period bounds the run (its start-up excluded).
	jq -r --arg mode "$1" --arg n "$3" --arg rss "$rss" '
		(.aggregate.summaries["socketio.response_time"] // {}) as $l
		| ((.aggregate.lastMetricAt - .aggregate.firstMetricAt) / 1000) as $secs
		| ["artillery", $mode, $n, (.aggregate.counters["socketio.emit"] // 0),
		   ((.aggregate.counters["socketio.emit"] // 0) / ([$secs,1]|max) | floor),
		   ($l.p50 // "-"), ($l.p99 // "-"),
		   ($rss|tonumber/1024*10|round/10), ($rss|tonumber/($n|tonumber)*10|round/10),
		   ((.aggregate.counters["vusers.failed"] // 0) + ((.aggregate.counters["vusers.created"] // 0) < ($n|tonumber) | if . then 1 else 0 end) * (($n|tonumber) - (.aggregate.counters["vusers.created"] // 0)))] | @tsv' "$tmp/art.json" |
		while IFS=$'\t' read -r a b c d e f g h i j; do row "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j"; done
}

for mode in $modes; do
	if [ "$mode" = flood ]; then
		run_wsbench flood bench/socketio-flood.yaml "$flood_vus"
		[ -n "$artillery" ] && run_artillery flood socketio-flood.yml "$flood_vus"
	else
		for n in "${sizes[@]}"; do
			run_wsbench paced bench/socketio-paced.yaml "$n"
			[ -n "$artillery" ] && run_artillery paced socketio-paced.yml "$n"
		done
	fi
done
