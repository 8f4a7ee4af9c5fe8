#!/usr/bin/env bash
# echo-cpu-split.sh — wsbench's own CPU per echo round trip, split into user
# and system time, for one or more wsbench binaries side by side.
#
# Starts `wsbench serve` (from the first binary) on 127.0.0.1, then RUNS
# times, for each size and each binary in turn (alternating, so a busy
# machine affects all of them alike), runs bench/echo-loop.yaml (N VUs, a
# 64-byte message echoed again and again, 10 s) and prints round trips per
# second, the user and system seconds of the `wsbench run` process
# (/usr/bin/time) and each per round trip, and the load average at the end.
# Every process it starts is stopped on exit; traffic stays on 127.0.0.1.
#
# Usage: bench/echo-cpu-split.sh BIN [BIN ...]
# Env:   SIZES (default "50 1000"), RUNS (default 2), PORT (default 18297)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 BIN [BIN ...]" >&2; exit 2; }
bins=("$@")
read -r -a sizes <<<"${SIZES:-50 1000}"
runs=${RUNS:-2}
port=${PORT:-18297}
tmp=$(mktemp -d)
srv=
cleanup() {
	[ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null || true
	[ -n "$srv" ] && wait "$srv" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

"${bins[0]}" serve --addr "127.0.0.1:$port" --log-level warn 2>"$tmp/serve.log" &
srv=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
sleep 0.2
if ! kill -0 "$srv" 2>/dev/null; then # e.g. the port was taken by another process
	echo "wsbench serve on 127.0.0.1:$port failed:" >&2
	cat "$tmp/serve.log" >&2
	exit 1
fi

printf '%-28s %6s %4s %9s %7s %7s %11s %10s %6s\n' binary VUs run rt/s user_s sys_s user_us/rt sys_us/rt load
for r in $(seq "$runs"); do
	for n in "${sizes[@]}"; do
		for b in "${bins[@]}"; do
			timeout 60 /usr/bin/time -f '%U %S' -o "$tmp/time" \
				"$b" run bench/echo-loop.yaml --target "ws://127.0.0.1:$port" --vus "$n" --quiet --out "$tmp/out.json" >/dev/null || true
			if [ ! -s "$tmp/out.json" ]; then
				echo "$b, size $n: no results" >&2
				continue
			fi
			read -r u s <"$tmp/time"
			c=$(jq '.latencies[] | select(.name == "rtt") | .count' "$tmp/out.json")
			awk -v b="$(basename "$b")" -v n="$n" -v r="$r" -v u="$u" -v s="$s" -v c="$c" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
				'BEGIN { printf "%-28s %6d %4d %9d %7.2f %7.2f %11.2f %10.2f %6s\n", b, n, r, c / 10, u, s, u * 1e6 / c, s * 1e6 / c, l }'
			rm -f "$tmp/out.json"
			sleep 1
		done
	done
done
