#!/usr/bin/env bash
# vu-memory.sh — wsbench's resident memory per idle virtual user, at scale.
#
# Starts `wsbench serve` in its own process on 127.0.0.1, then for each size
# runs bench/idle-vus.yaml with --vus N in a second process, waits until all N
# VUs are connected and quiet, reads VmRSS and VmHWM of the run process from
# /proc/PID/status, and stops it with SIGINT. Prints a table and the marginal
# RSS per VU between the smallest and the largest size. Every process it
# starts is stopped on exit; all traffic stays on 127.0.0.1.
#
# Usage: bench/vu-memory.sh [N ...]       (default sizes: 1000 5000 10000 19500)
# Env:   WSBENCH (binary; default: go build -o /tmp/wsbench-bench .)
#        PORT (server port; default 18090), WAIT (seconds per size; default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 5000 10000 19500)
port=${PORT:-18090}
wait_s=${WAIT:-120}
bin=${WSBENCH:-}
if [ -z "$bin" ]; then
	bin=/tmp/wsbench-bench
	go build -o "$bin" .
fi
tmp=$(mktemp -d)
srv= run=
cleanup() {
	[ -n "$run" ] && kill -KILL "$run" 2>/dev/null || true
	[ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null || true
	[ -n "$srv" ] && wait "$srv" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" serve --addr "127.0.0.1:$port" --log-level warn --idle-timeout 0 --ping-interval 0 2>"$tmp/serve.log" &
srv=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done

status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

printf '%8s %10s %10s %8s %10s %8s\n' VUs RSS_KiB HWM_KiB threads KiB/VU secs
declare -A rss
for n in "${sizes[@]}"; do
	log=$tmp/run-$n.log
	start=$(date +%s)
	"$bin" run bench/idle-vus.yaml --target "ws://127.0.0.1:$port" --vus "$n" --log-every 1s >"$tmp/sum-$n.txt" 2>"$log" &
	run=$!
	ok=
	# Connected and quiet: a progress line with every VU connected and no
	# traffic, twice in a row (the joins' presence chatter is over).
	quiet=0
	while [ $(($(date +%s) - start)) -lt "$wait_s" ] && kill -0 "$run" 2>/dev/null; do
		sleep 1
		line=$(tail -n 1 "$log" 2>/dev/null || true)
		# stderr is a file, so progress comes as logfmt lines (--log-every 1s).
		if [[ $line == *" conns=$n "* && $line == *" out_per_s=0.0 in_per_s=0.0 "* ]]; then
			quiet=$((quiet + 1))
		else
			quiet=0
		fi
		if [ $quiet -ge 2 ]; then
			ok=1
			break
		fi
	done
	if [ -z "$ok" ]; then
		echo "size $n: not all VUs connected within ${wait_s}s; last progress: $(tail -n 1 "$log")" >&2
		kill -KILL "$run" 2>/dev/null || true
		wait "$run" 2>/dev/null || true
		run=
		continue
	fi
	r=$(status "$run" VmRSS)
	h=$(status "$run" VmHWM)
	th=$(status "$run" Threads)
	rss[$n]=$r
	kill -INT "$run"
	for _ in $(seq 30); do kill -0 "$run" 2>/dev/null || break; sleep 0.5; done
	kill -KILL "$run" 2>/dev/null || true
	wait "$run" 2>/dev/null || true
	run=
	printf '%8d %10d %10d %8d %10.2f %8d\n' "$n" "$r" "$h" "$th" "$(echo "$r / $n" | bc -l)" $(($(date +%s) - start))
	sleep 2 # let the server release the connections
done

lo=${sizes[0]} hi=${sizes[${#sizes[@]}-1]}
if [ -n "${rss[$lo]:-}" ] && [ -n "${rss[$hi]:-}" ] && [ "$hi" -gt "$lo" ]; then
	printf 'marginal RSS per VU (%d -> %d): %.2f KiB\n' "$lo" "$hi" "$(echo "(${rss[$hi]} - ${rss[$lo]}) / ($hi - $lo)" | bc -l)"
fi
