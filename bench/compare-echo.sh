#!/usr/bin/env bash
# compare-echo.sh — k6, Artillery and wsbench side by side on one echo workload.
#
# Starts `wsbench serve` in its own process on 127.0.0.1 and, for each size N,
# runs k6 (bench/k6/echo.js), Artillery's ws engine (bench/artillery/echo.yml)
# and wsbench (bench/echo-loop.yaml) with N VUs, each VU sending a 64-byte
# text message and waiting for the echo, again and again, for 10 s. Prints
# round trips/s, each tool's own CPU time per round trip (user+system from
# /usr/bin/time, start-up included), its peak RSS and RSS per VU, and the p50
# it reports (k6 has 1 ms resolution; Artillery reports no message latency).
# Neither k6 nor Artillery is a test dependency; install them outside the repo:
#   GOBIN=/tmp/k6bin go install go.k6.io/k6@latest
#   (cd /tmp/art && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm i artillery@2.0.21)
# and set K6 and ARTILLERY; a tool whose variable is unset is left out.
# Needs jq. Everything it starts is stopped on exit.
#
# Usage: K6=/tmp/k6bin/k6 ARTILLERY=/tmp/art/node_modules/.bin/artillery \
#          bench/compare-echo.sh [N ...]          (default sizes: 50 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(50 1000)
k6=${K6:-}
artillery=${ARTILLERY:-}
port=${PORT:-18096}
tmp=$(mktemp -d)
go build -o "$tmp/wsbench" .
srv=
cleanup() {
	[ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null || true
	[ -n "$srv" ] && wait "$srv" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
"$tmp/wsbench" serve --addr "127.0.0.1:$port" --log-level warn 2>"$tmp/serve.log" &
srv=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done

printf '%-8s %6s %10s %12s %12s %12s %9s\n' tool VUs rt/s cpu_us/rt peak_rss_MiB rss_KiB/VU p50_ms
for n in "${sizes[@]}"; do
	if [ -n "$k6" ]; then
	timeout 60 /usr/bin/time -f '%U %S %M' -o "$tmp/k6time" \
		"$k6" run --quiet --no-color --summary-export "$tmp/k6.json" \
		-e URL="ws://127.0.0.1:$port/echo" -e VUS="$n" -e SECONDS=10 bench/k6/echo.js >/dev/null 2>"$tmp/k6.err" || true
	read -r u s m <"$tmp/k6time"
	jq -r --arg n "$n" --arg u "$u" --arg s "$s" --arg m "$m" '
		(.metrics.round_trips.count) as $c
		| (($u|tonumber)+($s|tonumber)) as $cpu
		| ["k6", $n, ($c/10|floor), ($cpu*1e6/$c*100|round/100), ($m|tonumber/1024*10|round/10),
		   ($m|tonumber/($n|tonumber)*10|round/10), .metrics.rtt.med] | @tsv' "$tmp/k6.json" |
		awk -F'\t' '{ printf "%-8s %6s %10s %12s %12s %12s %9s\n", $1, $2, $3, $4, $5, $6, $7 }'
	sleep 1
	fi
	if [ -n "$artillery" ]; then
	(cd bench/artillery && URL="ws://127.0.0.1:$port/echo" VUS="$n" SECONDS=10 timeout 120 /usr/bin/time -f '%U %S %M' -o "$tmp/arttime" \
		"$artillery" run --output "$tmp/art.json" echo.yml >/dev/null 2>&1) || true
	read -r u s m <"$tmp/arttime"
	jq -r --arg n "$n" --arg u "$u" --arg s "$s" --arg m "$m" '
		(.aggregate.counters["websocket.messages_received"] // 0) as $c
		| (($u|tonumber)+($s|tonumber)) as $cpu
		| ["artillery", $n, ($c/10|floor), (if $c > 0 then ($cpu*1e6/$c*100|round/100) else "-" end),
		   ($m|tonumber/1024*10|round/10), ($m|tonumber/($n|tonumber)*10|round/10), "-"] | @tsv' "$tmp/art.json" |
		awk -F'\t' '{ printf "%-8s %6s %10s %12s %12s %12s %9s\n", $1, $2, $3, $4, $5, $6, $7 }'
	sleep 1
	fi
	# wsbench
	timeout 60 /usr/bin/time -f '%U %S %M' -o "$tmp/wstime" \
		"$tmp/wsbench" run bench/echo-loop.yaml --target "ws://127.0.0.1:$port" --vus "$n" --quiet --out "$tmp/ws.json" >/dev/null || true
	read -r u s m <"$tmp/wstime"
	jq -r --arg n "$n" --arg u "$u" --arg s "$s" --arg m "$m" '
		(.latencies[] | select(.name == "rtt")) as $l
		| (($u|tonumber)+($s|tonumber)) as $cpu
		| ["wsbench", $n, ($l.count/10|floor), ($cpu*1e6/$l.count*100|round/100), ($m|tonumber/1024*10|round/10),
		   ($m|tonumber/($n|tonumber)*10|round/10), ($l.p50_ns/1e6*1000|round/1000)] | @tsv' "$tmp/ws.json" |
		awk -F'\t' '{ printf "%-8s %6s %10s %12s %12s %12s %9s\n", $1, $2, $3, $4, $5, $6, $7 }'
	sleep 1
done
