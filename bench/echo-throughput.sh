#!/usr/bin/env bash
# echo-throughput.sh — wsbench's echo round-trip rate and its own CPU cost.
#
# Starts `wsbench serve` in its own process on 127.0.0.1, then for each size
# runs bench/echo-loop.yaml (N VUs, each sending a 64-byte message and waiting
# for the echo, no pacing, 10 s) with --vus N --out FILE, and prints round
# trips per second (rtt count / 10 s, and the mean of the full seconds in
# the middle of the run), p50/p99 of the round trip, wsbench's CPU seconds
# (user+system, /usr/bin/time) and CPU microseconds per round trip, and the
# server's CPU seconds over the same run. Every process it starts is stopped
# on exit; all traffic stays on 127.0.0.1.
#
# Usage: bench/echo-throughput.sh [N ...]      (default sizes: 50 1000)
# Env:   WSBENCH (binary; default: go build -o /tmp/wsbench-bench .)
#        PORT (server port; default 18095)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(50 1000)
port=${PORT:-18095}
bin=${WSBENCH:-}
if [ -z "$bin" ]; then
	bin=/tmp/wsbench-bench
	go build -o "$bin" .
fi
tmp=$(mktemp -d)
srv=
cleanup() {
	[ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null || true
	[ -n "$srv" ] && wait "$srv" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" serve --addr "127.0.0.1:$port" --log-level warn ${SERVE_FLAGS:-} 2>"$tmp/serve.log" &
srv=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
tck=$(getconf CLK_TCK)
cpu() { awk -v t="$tck" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }

printf '%6s %10s %10s %9s %9s %9s %11s %10s %7s\n' VUs rt/s steady/s p50_us p99_us cpu_s cpu_us/rt server_cpu errors
for n in "${sizes[@]}"; do
	out=$tmp/out-$n.json
	s0=$(cpu "$srv")
	timeout 60 /usr/bin/time -f '%U %S' -o "$tmp/time-$n" \
		"$bin" run bench/echo-loop.yaml --target "ws://127.0.0.1:$port" --vus "$n" --quiet --out "$out" >/dev/null || true
	s1=$(cpu "$srv")
	if [ ! -s "$out" ]; then
		echo "size $n: no results" >&2
		continue
	fi
	read -r u s <"$tmp/time-$n"
	jq -r --arg n "$n" --arg u "$u" --arg s "$s" --arg srv "$(echo "$s1 - $s0" | bc)" '
		(.latencies[] | select(.name == "rtt")) as $l
		| ([.series[] | .counters["msgs.recv"] // 0]) as $per
		| ($per | if length > 4 then .[2:length-2] else . end) as $mid
		| (($u | tonumber) + ($s | tonumber)) as $cpu
		| [$n, ($l.count / 10 | floor), (if ($mid | length) > 0 then ($mid | add / length | floor) else 0 end),
		   ($l.p50_ns / 1000 | floor), ($l.p99_ns / 1000 | floor), $cpu,
		   (if $l.count > 0 then ($cpu * 1e6 / $l.count * 100 | round / 100) else 0 end), $srv,
		   ([.counters | to_entries[] | select(.key | startswith("errors.")) | .value] | add // 0)]
		| @tsv' "$out" | awk -F'\t' '{ printf "%6s %10s %10s %9s %9s %9.2f %11s %10s %7s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
	sleep 1
done
