#!/usr/bin/env bash
# ceiling.sh — what loopback TCP itself allows on this machine, measured with
# the smallest C programs we could write (bench/ceiling/*.c), so that
# wsbench's figures can be read against the machine rather than against a
# number from elsewhere.
#
#   echo:   a one-thread epoll echo server and a one-thread epoll client,
#           CONNS connections with one 64-byte message in flight each,
#           10 s (the shape of bench/echo-loop.yaml).
#   fanout: a server that writes one 100-byte stamped message to every one
#           of CONNS connections every PERIOD ms (one write per recipient;
#           1 or 2 writer threads, or io_uring when liburing is installed),
#           and a one-thread epoll client that reads them all and prints
#           delivery-latency percentiles (the shapes of
#           bench/fanout-1000.yaml and bench/fanout-19500.yaml).
#
# With WSBENCH_TOO=1 each C measurement is followed at once by wsbench's
# own run of the same shape (bench/echo-throughput.sh, bench/against-serve.sh),
# so both sets of numbers come from the same minutes of this shared machine.
#
# Usage: bench/ceiling.sh [echo] [fanout]      (default: both)
# Needs gcc; all traffic stays on 127.0.0.0/8; every process it starts stops
# by itself or on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(echo fanout)
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

cc=${CC:-gcc}
$cc -O2 -Wall -o "$tmp/echo-server" bench/ceiling/echo-server.c
$cc -O2 -Wall -o "$tmp/echo-client" bench/ceiling/echo-client.c
$cc -O2 -Wall -o "$tmp/fanout-client" bench/ceiling/fanout-client.c
uring=
if [ -e /usr/include/liburing.h ]; then
	$cc -O2 -Wall -pthread -DHAVE_URING -o "$tmp/fanout-server" bench/ceiling/fanout-server.c -luring
	uring=0
else
	$cc -O2 -Wall -pthread -o "$tmp/fanout-server" bench/ceiling/fanout-server.c
fi
if [ "${WSBENCH_TOO:-}" = 1 ]; then
	export WSBENCH=${WSBENCH:-$tmp/wsbench}
	[ -x "$WSBENCH" ] || go build -o "$WSBENCH" .
fi
port=${PORT:-19400}
cpu() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }

for part in "${parts[@]}"; do
	case $part in
	echo)
		for n in 50 1000; do
			port=$((port + 1))
			"$tmp/echo-server" $port &
			srv=$!
			sleep 0.3
			echo "== C echo, $n connections, 10 s"
			"$tmp/echo-client" $port "$n" 10
			echo "server: CPU $(cpu $srv) s"
			kill $srv; wait $srv 2>/dev/null || true
			if [ "${WSBENCH_TOO:-}" = 1 ]; then
				echo "== wsbench, bench/echo-loop.yaml --vus $n against wsbench serve"
				PORT=$((port + 500)) bash bench/echo-throughput.sh "$n"
			fi
		done
		;;
	fanout)
		# conns count period_ms sources scenario workers
		while read -r n count period sources yaml workers; do
			for th in 1 2 $uring; do
				port=$((port + 1))
				echo "== C fan-out, $n members, one message every $period ms, $count messages, $([ "$th" = 0 ] && echo io_uring || echo "$th writer thread(s)")"
				"$tmp/fanout-server" $port "$n" "$count" "$period" "$th" &
				srv=$!
				sleep 0.3
				/usr/bin/time -f "client: CPU %U+%S s" "$tmp/fanout-client" $port "$n" "$count" "$sources"
				wait $srv
			done
			if [ "${WSBENCH_TOO:-}" = 1 ]; then
				echo "== wsbench, $yaml against wsbench serve"
				PORT=$((port + 500)) DELAY_FROM=${DELAY_FROM:-} bash bench/against-serve.sh "$yaml" --workers "$workers"
			fi
		done <<-'TABLE'
			1000 1500 10 1 bench/fanout-1000.yaml 1
			19500 50 200 16 bench/fanout-19500.yaml 2
		TABLE
		;;
	*)
		echo "unknown part $part (want echo or fanout)" >&2
		exit 2
		;;
	esac
done
