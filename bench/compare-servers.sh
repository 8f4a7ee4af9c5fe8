#!/usr/bin/env bash
# compare-servers.sh — `wsbench serve` beside a peer server (Node + npm `ws`,
# bench/peer/ws-chat-server.js), measured the same way.
#
# For each server, each measurement gets a fresh server process on 127.0.0.1
# (so peak RSS is that measurement's own), and the load comes from other
# processes:
#   echo     bench/echo-loop.yaml --vus 50 with `wsbench run` (64-byte
#            messages, unpaced, 10 s): round trips/s, rtt p50/p99, the
#            server's CPU per round trip, its peak RSS;
#   fan-out  bench/fanout-1000.yaml with `wsbench run` (1,000 members, 100
#            msgs/s for 15 s): deliveries/s (delivery count / 15 s), delivery
#            p50/p99, lost, the server's CPU over the run, its peak RSS;
#   idle     target/internal/idleclient opens 500 upgraded /chat connections,
#            then 9,500 more from a second process: the server's RSS at
#            10,000 connections divided by 10,000, and the marginal RSS per
#            connection between 500 and 10,000.
# Installs `ws` (version pinned by bench/peer/package-lock.json) into
# bench/peer/node_modules (git-ignored) with `npm ci` when it is missing.
# Every process it starts is stopped on exit; every run has a timeout.
#
# Usage: bench/compare-servers.sh [wsbench|node ...]   (default: both)
# Env:   PORT (default 18120), WSBENCH (binary; default: built into a temp dir),
#        SKIP (space-separated: echo fanout idle), KEEP (a directory to copy
#        the `wsbench run --out` results into)
set -euo pipefail
cd "$(dirname "$0")/.."
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(wsbench node)
port=${PORT:-18120}
skip=" ${SKIP:-} "
tmp=$(mktemp -d)
srv= cli=()
cleanup() {
	for p in "${cli[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	[ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
bin=${WSBENCH:-}
if [ -z "$bin" ]; then
	bin=$tmp/wsbench
	go build -o "$bin" .
fi
go build -o "$tmp/idleclient" ./target/internal/idleclient
if [[ " ${servers[*]} " == *" node "* ]] && [ ! -d bench/peer/node_modules/ws ]; then
	(cd bench/peer && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
fi
echo "# $(date -u '+%F %T') UTC; $(go version | cut -d' ' -f3-); node $(node --version);" \
	"ws $(node -p "require('./bench/peer/node_modules/ws/package.json').version" 2>/dev/null || echo -);" \
	"$("$bin" --version 2>/dev/null | head -n1); load: $(cut -d' ' -f1-3 /proc/loadavg)"

tck=$(getconf CLK_TCK)
cpu() { awk -v t="$tck" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

start_server() { # $1 = wsbench|node; sets srv
	case $1 in
	wsbench) "$bin" serve --addr "127.0.0.1:$port" --log-level warn 2>>"$tmp/serve-$1.log" & ;;
	node) node bench/peer/ws-chat-server.js --addr "127.0.0.1:$port" 2>>"$tmp/serve-$1.log" & ;;
	esac
	srv=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server $1 did not come up; log:" >&2
	cat "$tmp/serve-$1.log" >&2
	return 1
}
stop_server() {
	kill -TERM "$srv" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
	srv=
	sleep 2 # let TIME_WAIT and the CPU settle
}

wait_line() { # wait until file $1 has a line (idleclient's "open N ..." report)
	for _ in $(seq 1200); do [ -s "$1" ] && return 0; sleep 0.1; done
	echo "timeout waiting for $1" >&2
	return 1
}

declare -A echo_row fan_row idle_row
for s in "${servers[@]}"; do
	if [[ $skip != *" echo "* ]]; then
		start_server "$s"
		c0=$(cpu "$srv")
		timeout 60 "$bin" run bench/echo-loop.yaml --target "ws://127.0.0.1:$port" --vus 50 --quiet --out "$tmp/echo-$s.json" >/dev/null || true
		c1=$(cpu "$srv")
		hwm=$(status "$srv" VmHWM)
		echo_row[$s]=$(jq -r --arg c "$(echo "$c1 - $c0" | bc)" --arg h "$hwm" '
			(.latencies[] | select(.name == "rtt")) as $l
			| [($l.count / 10 | floor), ($l.p50_ns / 1000 | floor), ($l.p99_ns / 1000 | floor), $c,
			   (if $l.count > 0 then (($c | tonumber) * 1e6 / $l.count * 100 | round / 100) else "-" end),
			   ($h | tonumber / 1024 * 10 | round / 10),
			   ([.counters | to_entries[] | select(.key | startswith("errors.")) | .value] | add // 0)] | @tsv' "$tmp/echo-$s.json")
		stop_server
	fi
	if [[ $skip != *" fanout "* ]]; then
		start_server "$s"
		c0=$(cpu "$srv")
		timeout 90 "$bin" run bench/fanout-1000.yaml --target "ws://127.0.0.1:$port" --quiet --out "$tmp/fan-$s.json" >/dev/null || true
		c1=$(cpu "$srv")
		hwm=$(status "$srv" VmHWM)
		fan_row[$s]=$(jq -r --arg c "$(echo "$c1 - $c0" | bc)" --arg h "$hwm" '
			(.latencies[] | select(.name == "delivery")) as $l
			| [($l.count / 15 | floor), $l.count, ($l.p50_ns / 1e6 * 100 | round / 100), ($l.p99_ns / 1e6 * 100 | round / 100),
			   (.counters["delivery.lost"] // 0), $c, ($h | tonumber / 1024 * 10 | round / 10),
			   ([.counters | to_entries[] | select(.key | startswith("errors.")) | .value] | add // 0)] | @tsv' "$tmp/fan-$s.json")
		stop_server
	fi
	if [[ $skip != *" idle "* ]]; then
		start_server "$s"
		sleep 1
		r0=$(status "$srv" VmRSS)
		"$tmp/idleclient" -addr "127.0.0.1:$port" -n 500 >"$tmp/idle-a-$s.out" 2>"$tmp/idle-a-$s.err" &
		cli+=($!)
		wait_line "$tmp/idle-a-$s.out"
		sleep 2
		r1=$(status "$srv" VmRSS)
		"$tmp/idleclient" -addr "127.0.0.1:$port" -n 9500 -w 64 >"$tmp/idle-b-$s.out" 2>"$tmp/idle-b-$s.err" &
		cli+=($!)
		wait_line "$tmp/idle-b-$s.out"
		sleep 3
		r2=$(status "$srv" VmRSS)
		n=$(($(awk '{print $2}' "$tmp/idle-a-$s.out") + $(awk '{print $2}' "$tmp/idle-b-$s.out")))
		idle_row[$s]=$(awk -v r0="$r0" -v r1="$r1" -v r2="$r2" -v n="$n" -v up="$(awk '{print $(NF-1)}' "$tmp/idle-b-$s.out")" \
			'BEGIN { printf "%d\t%d\t%d\t%d\t%.2f\t%.2f\t%s", n, r0, r1, r2, r2 / n, (r2 - r1) / (n - 500), up }')
		for p in "${cli[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
		cli=()
		stop_server
	fi
done

line() { printf '%-8s' "$1"; shift; printf ' %14s' "$@"; echo; }
echo
echo "echo, 50 VUs, 64-byte messages, 10 s (bench/echo-loop.yaml)"
line server 'rt/s' 'p50_us' 'p99_us' 'srv_cpu_s' 'srv_us/rt' 'srv_peak_MiB' 'errors'
for s in "${servers[@]}"; do [ -n "${echo_row[$s]:-}" ] && line "$s" ${echo_row[$s]}; done
echo
echo "fan-out, 1,000-member room, 100 msgs/s for 15 s (bench/fanout-1000.yaml)"
line server 'deliveries/s' 'deliveries' 'p50_ms' 'p99_ms' 'lost' 'srv_cpu_s' 'srv_peak_MiB' 'errors'
for s in "${servers[@]}"; do [ -n "${fan_row[$s]:-}" ] && line "$s" ${fan_row[$s]}; done
echo
echo "idle, upgraded /chat connections held open (target/internal/idleclient)"
line server 'conns' 'rss0_KiB' 'rss500_KiB' 'rss_n_KiB' 'KiB/conn_at_n' 'marginal_KiB' 'upgrades/s'
for s in "${servers[@]}"; do [ -n "${idle_row[$s]:-}" ] && line "$s" ${idle_row[$s]}; done
echo
for f in "$tmp"/echo-*.json "$tmp"/fan-*.json; do
	[ -s "$f" ] || continue
	errs=$(jq -r '[.counters | to_entries[] | select((.key | startswith("errors.")) and .value > 0) | "\(.key)=\(.value)"] | join(" ")' "$f")
	[ -n "$errs" ] && echo "$(basename "$f" .json) errors: $errs"
done
if [ -n "${KEEP:-}" ]; then
	mkdir -p "$KEEP" && cp "$tmp"/*.json "$KEEP"/ 2>/dev/null || true
fi
