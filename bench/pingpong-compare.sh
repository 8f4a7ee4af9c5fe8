#!/usr/bin/env bash
# pingpong-compare.sh — wsbench's own low-load echo RTT beside a raw-socket
# ping-pong on the same box (issue 3: p50 within 2× of raw TCP).
#
# Each round runs, one after another, all on 127.0.0.1:
#   raw       bench/pingpong, client and TCP echo server in two processes,
#             1,000 round trips of 64 bytes, one every 10 ms (same pacing as
#             the wsbench scenario);
#   raw-b2b   bench/pingpong in one process, 20,000 round trips back to back
#             (the floor: no idle wake-ups between round trips);
#   wsbench   `wsbench run bench/echo-lowload.yaml` (1 VU, a 64-byte text
#             message every 10 ms for 10 s) against `wsbench serve` /echo in
#             its own process: rtt.raw (from the actual send) and rtt (from
#             the scheduled send, CO-corrected).
# Prints p50/p99 in µs per round and the median of the rounds' p50s. Every
# process it starts is stopped on exit; every run has a timeout.
#
# Usage: bench/pingpong-compare.sh          Env: ROUNDS (default 3), PORT (default 18130)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
port=${PORT:-18130}
tmp=$(mktemp -d)
srv=
cleanup() {
	[ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null || true
	[ -n "$srv" ] && wait "$srv" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/wsbench" . && go build -o "$tmp/pingpong" ./bench/pingpong
echo "# $(date -u '+%F %T') UTC; $(go version | cut -d' ' -f3-); $("$tmp/wsbench" --version | head -n1); load: $(cut -d' ' -f1-3 /proc/loadavg)"

up() { # wait for a TCP listener on 127.0.0.1:$1
	for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
	echo "nothing listening on 127.0.0.1:$1" >&2; return 1
}
stop() { kill -TERM "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; srv=; }
field() { sed -n "s/.* $1 \([0-9.]*\) µs.*/\1/p"; }
row() { # round, measurement, p50, p99: print and keep for the medians
	printf '%-6s %-30s %10s %10s\n' "$@"
	printf '%s\t%s\t%s\n' "$2" "$3" "$4" >>"$tmp/rows"
}

printf '%-6s %-30s %10s %10s\n' round measurement p50_us p99_us
for r in $(seq "$rounds"); do
	"$tmp/pingpong" -serve "127.0.0.1:$port" & srv=$!
	up "$port"
	out=$(timeout 60 "$tmp/pingpong" -addr "127.0.0.1:$port" -n 1000 -warmup 20 -every 10ms)
	stop
	row "$r" "raw TCP, 2 procs, every 10ms" "$(field p50 <<<"$out")" "$(field p99 <<<"$out")"
	out=$(timeout 60 "$tmp/pingpong" -n 20000)
	row "$r" "raw TCP, 1 proc, back to back" "$(field p50 <<<"$out")" "$(field p99 <<<"$out")"
	"$tmp/wsbench" serve --addr "127.0.0.1:$port" --log-level warn 2>>"$tmp/serve.log" & srv=$!
	up "$port"
	timeout 60 "$tmp/wsbench" run bench/echo-lowload.yaml --target "ws://127.0.0.1:$port" --quiet --out "$tmp/ws.json" >/dev/null || true
	stop
	for m in rtt.raw rtt; do
		jq -r --arg m "$m" '.latencies[] | select(.name == $m) | [(.p50_ns / 1000 * 10 | round / 10), (.p99_ns / 1000 * 10 | round / 10)] | @tsv' "$tmp/ws.json" |
			while IFS=$'\t' read -r p50 p99; do row "$r" "wsbench $m, every 10ms" "$p50" "$p99"; done
	done
	sleep 1
done
echo
echo "median p50 over $rounds rounds:"
cut -f1 "$tmp/rows" | awk '!seen[$0]++' | while IFS= read -r m; do
	awk -F'\t' -v m="$m" '$1 == m { print $2 }' "$tmp/rows" | sort -n |
		awk -v m="$m" '{ a[NR] = $1 } END { printf "  %-30s %10s µs\n", m, a[int((NR + 1) / 2)] }'
done
