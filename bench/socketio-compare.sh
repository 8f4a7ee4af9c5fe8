#!/usr/bin/env bash
# socketio-compare.sh — wsbench and Artillery's socketio engine side by side
# against the Node Socket.IO v4 server of examples/socketio-server.
#
# Two workloads, each tool running its twin file against a fresh server:
#   flood  bench/socketio-flood.yaml | bench/artillery/socketio-flood.yml
#          FLOOD_VUS (default 50) VUs emit `echo` with an ack 2000 times back
#          to back: emits/s is what the tool (and the server) can push.
#   paced  bench/socketio-paced.yaml | bench/artillery/socketio-paced.yml
#          N VUs arrive evenly over 5 s (RAMP) and emit `echo` with an ack
#          once a second, 15 times: does every VU connect and get its 15
#          acks, at what RSS?
#
# Per run it prints emits (acks) per second of the tool's run time (wsbench:
# its run's start to end; Artillery: its arrival phase plus its longest VU
# session), the
# ack latency p50/p99 each tool reports (wsbench's paced "echo" counts from
# the scheduled emit time; p99raw is from the actual emit, as Artillery
# measures), the tool's user+system CPU per emit (start-up included), its
# peak RSS (and per VU, start-up included) and the VUs that failed, were
# dropped or never started. Artillery is not a test dependency:
#   (cd /tmp/art && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm i artillery@2.0.21)
# and set ARTILLERY=/tmp/art/node_modules/.bin/artillery (unset: wsbench only).
# Needs node, jq, /usr/bin/time and `npm ci` in examples/socketio-server.
#
# Usage: ARTILLERY=… bench/socketio-compare.sh [N ...]   (paced sizes; default 100 500 2000)
#        MODES="flood" or MODES="paced" runs one workload only; RAMP=15
#        spreads the paced arrivals over 15 s instead of 5 s.
#
# MODES="servers" compares the servers instead of the tools: the same
# wsbench run against the Node example server and against `wsbench serve`
# (its /socket.io/ endpoint), one after the other in the same invocation,
# for three workloads: flood (bench/socketio-flood.yaml, acked `echo`),
# say (bench/socketio-say.yaml, 20 users emit acked `say` back to back into
# one room of 20) and chat (examples/socketio-chat.yaml, acked `say` every
# 250 ms fanned out to rooms of 25, 100 connections).
# Per run it prints acked emits, emits/s over the run, ack p50/p99, and the
# SERVER's user+system CPU per acked emit (from /proc/PID/stat, start-up
# excluded) and its RSS at the end. SERVE_LOOPS (default 1, like Node's one
# thread) sets `serve --loops`.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 500 2000)
artillery=${ARTILLERY:-}
modes=${MODES:-flood paced}
flood_vus=${FLOOD_VUS:-50}
ramp=${RAMP:-5}
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

row() { printf '%-9s %-6s %6s %8s %8s %8s %8s %8s %9s %12s %11s %7s\n' "$@"; }
[ "$modes" = servers ] || row tool mode VUs emits emits/s p50_ms p99_ms p99raw cpu_us/emit peak_RSS_MiB RSS_KiB/VU failed

run_wsbench() { # mode file vus [load flags]
	start_server
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$tmp/wsbench" run "$2" --target "ws://127.0.0.1:$port" \
		${4:---vus $3} --quiet --out "$tmp/ws.json" >/dev/null 2>"$tmp/ws.err" || true
	read -r wall usr sys rss <"$tmp/time"
	jq -r --arg mode "$1" --arg n "$3" --arg rss "$rss" --arg cpu "$(echo "$usr + $sys" | bc)" '
		def secs: (sub("\\.[0-9]+Z$";"Z") | fromdate) + ((capture("\\.(?<f>[0-9]+)Z$").f // "0") | "0." + . | tonumber);
		(.latencies | map(select(.name=="echo")) | .[0]) as $l
		| ((.latencies | map(select(.name=="echo.raw")) | .[0].p99_ns) // $l.p99_ns) as $raw
		| ((.meta.end | secs) - (.meta.start | secs)) as $secs
		| ["wsbench", $mode, $n, $l.count, ($l.count / ([$secs,0.001]|max) | floor),
		   ($l.p50_ns/1e6*100|round/100), ($l.p99_ns/1e6*100|round/100), ($raw/1e6*100|round/100),
		   (($cpu|tonumber) * 1e6 / $l.count | round),
		   ($rss|tonumber/1024*10|round/10), ($rss|tonumber/($n|tonumber)*10|round/10),
		   (.counters["iterations.failed"] + .counters["arrivals.dropped"]
		    + ([($n|tonumber) - .counters["iterations"] - .counters["arrivals.dropped"], 0] | max))] | @tsv' "$tmp/ws.json" 2>"$tmp/jq.err" |
		while IFS=$'\t' read -r a b c d e f g h i j k l; do row "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j" "$k" "$l"; done ||
		echo "$1 $3: no report ($(cat "$tmp/jq.err"))"
}

run_artillery() { # mode file vus ramp_seconds
	start_server
	(cd bench/artillery && URL="http://127.0.0.1:$port" VUS="$3" RAMP="${4:-1}" timeout 300 /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" \
		"$artillery" run --output "$tmp/art.json" "$2" >"$tmp/art.log" 2>&1) || true
	read -r wall usr sys rss <"$tmp/time"
	# The run lasts the arrival phase ($4 s) plus the longest VU session
	# (Artillery's start-up excluded; its metric periods are 10 s coarse).
	jq -r --arg mode "$1" --arg n "$3" --arg ramp "$4" --arg rss "$rss" --arg cpu "$(echo "$usr + $sys" | bc)" '
		(.aggregate.summaries["socketio.response_time"] // {}) as $l
		| ((.aggregate.summaries["vusers.session_length"].max // 0) / 1000 + ($ramp|tonumber)) as $secs
		| (.aggregate.counters["socketio.emit"] // 0) as $emits
		| ["artillery", $mode, $n, $emits,
		   ((.aggregate.counters["socketio.emit"] // 0) / ([$secs,1]|max) | floor),
		   ($l.p50 // "-"), ($l.p99 // "-"), ($l.p99 // "-"),
		   (if $emits > 0 then ($cpu|tonumber) * 1e6 / $emits | round else "-" end),
		   ($rss|tonumber/1024*10|round/10), ($rss|tonumber/($n|tonumber)*10|round/10),
		   ((.aggregate.counters["vusers.failed"] // 0) + ([($n|tonumber) - (.aggregate.counters["vusers.created"] // 0), 0] | max))] | @tsv' "$tmp/art.json" 2>"$tmp/jq.err" |
		while IFS=$'\t' read -r a b c d e f g h i j k l; do row "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j" "$k" "$l"; done ||
		echo "$1 $3: no report ($(cat "$tmp/jq.err"))"
}

# cpu_ticks PID: user+system clock ticks of a process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_serve() {
	stop_server
	"$tmp/wsbench" serve --addr "127.0.0.1:$port" --loops "${SERVE_LOOPS:-1}" --log-level warn >"$tmp/server.out" 2>&1 &
	srv=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "wsbench serve did not start" >&2
	exit 1
}

srow() { printf '%-14s %-6s %8s %8s %8s %8s %14s %12s\n' "$@"; }

run_servers() { # workload file metric [flags]
	for server in node serve; do
		if [ "$server" = node ]; then start_server; else start_serve; fi
		local hz before after
		hz=$(getconf CLK_TCK)
		before=$(cpu_ticks "$srv")
		"$tmp/wsbench" run "$2" --target "ws://127.0.0.1:$port" ${4:-} --quiet --out "$tmp/ws.json" >/dev/null 2>"$tmp/ws.err" || true
		after=$(cpu_ticks "$srv")
		rss=$(awk '/VmRSS/ {print $2}' "/proc/$srv/status")
		jq -r --arg server "$server" --arg mode "$1" --arg m "$3" --arg ticks "$((after - before))" --arg hz "$hz" --arg rss "$rss" '
			def secs: (sub("\\.[0-9]+Z$";"Z") | fromdate) + ((capture("\\.(?<f>[0-9]+)Z$").f // "0") | "0." + . | tonumber);
			(.latencies | map(select(.name==$m)) | .[0]) as $l
			| ((.meta.end | secs) - (.meta.start | secs)) as $secs
			| [(if $server == "node" then "node socket.io" else "wsbench serve" end), $mode, $l.count,
			   ($l.count / ([$secs,0.001]|max) | floor),
			   ($l.p50_ns/1e6*100|round/100), ($l.p99_ns/1e6*100|round/100),
			   (($ticks|tonumber) / ($hz|tonumber) * 1e6 / ([$l.count,1]|max) * 10 | round / 10),
			   ($rss|tonumber/1024*10|round/10)] | @tsv' "$tmp/ws.json" 2>"$tmp/jq.err" |
			while IFS=$'\t' read -r a b c d e f g h; do srow "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h"; done ||
			echo "$server $1: no report ($(cat "$tmp/jq.err"); $(tail -3 "$tmp/ws.err"))"
	done
	stop_server
}

for mode in $modes; do
	if [ "$mode" = servers ]; then
		srow server mode emits emits/s p50_ms p99_ms server_us/emit RSS_MiB
		run_servers flood bench/socketio-flood.yaml echo "--vus $flood_vus"
		run_servers say bench/socketio-say.yaml say
		run_servers chat examples/socketio-chat.yaml say
	elif [ "$mode" = flood ]; then
		run_wsbench flood bench/socketio-flood.yaml "$flood_vus"
		[ -n "$artillery" ] && run_artillery flood socketio-flood.yml "$flood_vus" 1
	else
		for n in "${sizes[@]}"; do
			sed "s/^duration: 5s/duration: ${ramp}s/" bench/socketio-paced.yaml >"$tmp/paced.yaml"
			run_wsbench paced "$tmp/paced.yaml" "$n" "--rate $(echo "scale=3; $n / $ramp" | bc)"
			[ -n "$artillery" ] && run_artillery paced socketio-paced.yml "$n" "$ramp"
		done
	fi
done
