#!/usr/bin/env bash
# ceiling.sh — what loopback TCP itself allows on this machine, measured with
# the smallest C programs we could write (bench/ceiling/*.c), and wsbench's
# own run of the same shape measured in turns with it, as ratios.
#
#   echo:    a one-thread epoll echo server and a one-thread epoll client,
#            CONNS connections with one 64-byte message in flight each,
#            10 s (the shape of bench/echo-loop.yaml); wsbench: echo-loop.yaml
#            --vus CONNS against `wsbench serve` (bench/echo-throughput.sh).
#            Figures: round trips/s, client CPU per round trip.
#   client-echo: the load generator alone, the same echo loop with both
#            clients against one server, the C upgrade server below (which
#            echoes masked frames unmasked): the C WebSocket client
#            (ws-echo-client.c: upgrade, then one masked 64-byte message in
#            flight per connection, a fresh mask per frame) and `wsbench
#            run bench/echo-loop.yaml --vus CONNS`. Figures: round trips/s,
#            client CPU per round trip.
#   client-echo-tuned: the same, wsbench set up as the C client is: one
#            CPU (GOMAXPROCS=1) and one event loop, with the round trips
#            chained on it (`--chain --event-loops 1`).
#   echo-budget: what a given amount of user-space work per round trip
#            costs the C client (system time included): pairs of the C
#            client as it is and the C client spinning WORK_NS nanoseconds
#            per round trip before each next request (ws-echo-client.c's
#            fourth argument), 1,000 connections, for WORK_NS in
#            BUDGET_NS (default "500 1000 2000"); the "wsbench" column is
#            then the slowed C client. With the user and system µs per
#            round trip of client-echo-tuned (printed by both clients),
#            it places wsbench on the C client's curve: how much work per
#            round trip the 0.85 goal leaves, and how much wsbench does.
#   k6-echo: k6 (bench/k6/echo.js, the same loop: one 64-byte message in
#            flight per connection, 10 s) against the C upgrade server, in
#            the wsbench column, paired with the C client as client-echo
#            pairs wsbench; needs K6 (a k6 binary; `GOBIN=/tmp/k6bin go
#            install go.k6.io/k6@latest`). Figures: round trips/s, client
#            CPU per round trip.
#   fanout-tuned: the 1,000-member fan-out with wsbench on one CPU and one
#            event loop (GOMAXPROCS=1 --event-loops 1), as the C reader is.
#   go-floor: what the Go runtime itself costs in that loop: the C WebSocket
#            client against go-echo-client (bench/ceiling/go-echo-client,
#            the same client in Go) against the same C server, in four
#            set-ups: `-mode epoll` (one goroutine locked to its thread, raw
#            descriptors taken out of the runtime's netpoller, epoll_wait,
#            one read and one write per round trip: the C client's loop),
#            `-keep` (the sockets left in the runtime's netpoller too, as
#            wsbench leaves them), `-park -keep` (the loop parked in the
#            runtime's netpoller, as wsbench's loops wait) and `-mode
#            netpoll` (a goroutine per connection on net.Conn, the
#            runtime's netpoller waiting). The table's "wsbench" column is
#            then that Go program. Figures: round trips/s, client CPU per
#            round trip.
#   go-fanout-floor: what the Go runtime itself costs in the fan-out room of
#            client-fanout: the C reader paired with go-fanout-client
#            (bench/ceiling/go-fanout-client, the C reader written in Go)
#            in the wsbench column, 1,000 members at 100 msg/s and 19,500
#            at 5 msg/s, in six set-ups that take wsbench's event loop
#            apart: `-mode epoll` (the C reader's loop: one thread blocking
#            in epoll_wait, raw descriptors), `-work` (and a wsbench room
#            member's work per delivery on one record per connection: one
#            JSON pass, the op and sequence checks, an HdrHistogram), `-keep` (the sockets left in
#            the runtime's netpoller too, as wsbench leaves them), `-park
#            -keep` (the loop parked in the runtime's netpoller, as
#            wsbench's loops wait), `-park -keep -touch 8` (and eight
#            separately allocated objects reached per delivery, about what
#            wsbench reaches) and `-work -keep -others -1 -timers` (the
#            blocking loop with a member's work, the sockets kept, and one
#            goroutine per connection parked beside it with a pending
#            timer, as wsbench's virtual users wait). Figures: as
#            client-fanout.
#   fanout:  a server that writes one 100-byte stamped message to every one
#            of CONNS connections every PERIOD ms (one write per recipient,
#            one writer thread), and a one-thread epoll client that reads
#            them all; wsbench: bench/fanout-1000.yaml and fanout-19500.yaml
#            against `wsbench serve` (bench/against-serve.sh), from the same
#            source addresses as the C client. Figures:
#            client CPU per delivery (process CPU / deliveries, start-up and
#            joins included) and delivery-latency p99.
#   client-fanout: the load generator alone in a fan-out room: both
#            readers against the same server, fanout-server.c in its
#            WebSocket mode (it upgrades each connection, then writes every
#            PERIOD ms one 100-byte text frame stamped with its send time to
#            every connection): the C reader (fanout-client.c … ws) and
#            `wsbench run bench/fanout-c-members.yaml --vus CONNS`, 1,000
#            members at 100 msg/s and 19,500 (two workers) at 5 msg/s.
#            Figures: client CPU per delivery (over the deliveries only, from
#            the server's first broadcast to 0.5 s after its last) and
#            delivery-latency p99.
#   client-fanout-tuned: the rooms of client-fanout with wsbench in one
#            process on one CPU and one event loop (GOMAXPROCS=1
#            --event-loops 1, and --workers 1 for the 19,500 members, which
#            fit under the 20,000-descriptor limit), as the C reader is.
#   fanout-even: the 1,000-member room of the fanout part with its 100
#            messages/s evenly spaced, as the C server sends them
#            (bench/fanout-1000-even.yaml: one speaker every 10 ms), with
#            the defaults and with both wsbench processes on one CPU and
#            one loop (serve GOMAXPROCS=1 --loops 1, run GOMAXPROCS=1
#            --event-loops 1); then the 19,500-member room with one
#            message every 200 ms (bench/fanout-19500-even.yaml).
#   serve-fanout: the server alone in the 1,000-member room: the C pair of
#            the fanout part (raw, the server stamps each message as it
#            starts the broadcast) beside `wsbench serve` read by C readers
#            (bench/ceiling/chat-reader.c: 990 members that nick, join and
#            read the room) while wsbench's ten speakers talk
#            (bench/fanout-1000-speakers.yaml). Figures: delivery p99 from
#            the server's own stamp (serve's srv_ts, the C server's stamp:
#            the same moment), serve's p99 from the speakers' stamp too, and
#            server CPU per delivery.
#   serve-fanout-tuned: the same with serve on one CPU and one loop
#            (GOMAXPROCS=1 --loops 1).
#   upgrade: a one-thread epoll server that answers the upgrade (101 with
#            Sec-WebSocket-Accept), echoes small frames and closes after a
#            close frame (bench/ceiling/upgrade-server.c); both clients churn
#            against that same server for 16 s: the C client
#            (upgrade-client.c, UPGRADE_CONC connections in flight, default
#            64: connect, upgrade, echo "hi", close, again) and `wsbench run
#            bench/upgrade-loop.yaml --vus UPGRADE_CONC` (as many VUs
#            doing the same loop, one process, no source addresses, as the
#            C client).
#            Figure: the server's upgrades/s over seconds 4-14 of each run.
#            Then the ramp: 19,000 connections opened (256 at a time) and
#            held, from 8 source addresses, by the C client and by `wsbench
#            run bench/upgrade-burst.yaml --source 127.0.0.2-127.0.0.9`
#            (19,000 VUs started within 0.5 s, one process); figure:
#            the server's upgrades/s between 950 and 18,050 upgraded
#            connections. Both wsbench files ask more than the pairs reach:
#            an arrival rate or a ramp slower than the C pair caps the
#            ratio (upgrade-churn.yaml's 15,000/s and upgrade-hold.yaml's
#            20,000/s capped it at 0.77 and 0.67-0.83 of the C pair's
#            rates in session 9).
#
# Each workload is measured PAIRS times (default 3) as interleaved pairs —
# C then wsbench, wsbench then C, C then wsbench, … — so that both sides of
# a pair come from the same minutes of this shared machine, whose speed
# drifts more than the differences measured. For every figure it prints each
# pair, then the median and the spread (min–max) of the C runs, of the
# wsbench runs and of the per-pair ratio wsbench / C, and at the end one
# Markdown table of all of them.
#
# Usage: bench/ceiling.sh [echo] [client-echo] [client-echo-tuned] [echo-budget] [k6-echo] [go-floor] [go-fanout-floor] [fanout] [fanout-tuned] [fanout-even] [client-fanout] [client-fanout-tuned] [serve-fanout] [serve-fanout-tuned] [upgrade]
#        (default: echo client-echo fanout)
# Env:   PAIRS (default 3), WSBENCH (a prebuilt binary; default: go build),
#        PORT (first port; default 19400), UPGRADE_CONC (default 64),
#        BUDGET_NS (echo-budget's work per round trip, default "500 1000 2000"),
#        K6 (a k6 binary, for k6-echo),
#        C_ONLY=1 (run only the C programs, once each), LOG (folder that
#        keeps every run's output, and the table with the commit, the
#        binary, the times and the load average in table.md; default a
#        temporary one).
# Needs gcc, jq, curl; all traffic stays on 127.0.0.0/8; every process it
# starts stops by itself or on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(echo client-echo fanout)
pairs=${PAIRS:-3}
tmp=$(mktemp -d)
log=${LOG:-$tmp/log}
mkdir -p "$log"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

cc=${CC:-gcc}
for p in echo-server echo-client ws-echo-client fanout-client chat-reader upgrade-server upgrade-client; do
	$cc -O2 -Wall -o "$tmp/$p" "bench/ceiling/$p.c"
done
$cc -O2 -Wall -pthread -o "$tmp/fanout-server" bench/ceiling/fanout-server.c
go build -o "$tmp/go-echo-client" ./bench/ceiling/go-echo-client
go build -o "$tmp/go-fanout-client" ./bench/ceiling/go-fanout-client
# Where the figures come from, written above the table and kept with it in
# $log/table.md: logs outlive the terminal, and a table without its commit
# and its machine's load cannot be compared with anything.
started=$(date -u '+%F %T UTC')
load=$(cut -d' ' -f1-3 /proc/loadavg)
tree=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || tree="$tree+uncommitted changes"
if [ "${C_ONLY:-}" = 1 ]; then
	pairs=1
	binary="none (C_ONLY=1)"
elif [ -x "${WSBENCH:-}" ]; then
	rev=$(go version -m "$WSBENCH" 2>/dev/null | awk '$2 == "vcs.revision" { print substr($3, 1, 7) }' || true) # not a Go binary (a wrapper script): no revision
	binary="$WSBENCH, prebuilt (${rev:-its commit not recorded in the binary})"
else
	export WSBENCH=${WSBENCH:-$tmp/wsbench}
	go build -o "$WSBENCH" .
	binary="$WSBENCH, built from this tree"
fi
port=${PORT:-19400}
cpu() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }
newport() { port=$((port + 1)); }
run=0

# Each c_* and ws_* function runs one measurement, keeps its whole output in
# $log, and prints "FIGURE VALUE" lines.

c_echo() { # CONNS
	newport
	"$tmp/echo-server" $port & local srv=$!
	sleep 0.3
	"$tmp/echo-client" $port "$1" 10 > "$out" || true
	kill $srv; wait $srv 2>/dev/null || true
	awk '{ for (i = 1; i < NF; i++) { if ($i == "per_second") print "rt/s", $(i+1); if ($i == "client_cpu_us_per_rt") print "cpu_us/rt", $(i+1) } }' "$out"
}
ws_echo() { # CONNS
	newport
	PORT=$((port + 500)) bash bench/echo-throughput.sh "$1" > "$out" 2>&1
	# columns: VUs rt/s steady/s p50_us p99_us cpu_s cpu_us/rt server_cpu errors
	awk -v n="$1" '$1 == n { print "rt/s", $2; print "cpu_us/rt", $7 }' "$out"
}

# The load generator alone: the C WebSocket client (ws-echo-client.c) and
# `wsbench run bench/echo-loop.yaml` against the same server, the C
# upgrade server (which echoes masked frames back unmasked), so that the
# ratio is the clients' and not also the servers'.
c_wsecho() { # CONNS
	newport
	"$tmp/upgrade-server" $port > /dev/null & local srv=$!
	sleep 0.3
	"$tmp/ws-echo-client" $port "$1" 10 ${2:-} > "$out" || true
	kill $srv; wait $srv 2>/dev/null || true
	awk '{ for (i = 1; i < NF; i++) { if ($i == "per_second") print "rt/s", $(i+1); if ($i == "client_cpu_us_per_rt") print "cpu_us/rt", $(i+1)
		if ($i == "client_user_us_per_rt") print "user_us/rt", $(i+1); if ($i == "client_sys_us_per_rt") print "sys_us/rt", $(i+1) } }' "$out"
}
ws_wsecho() { # CONNS [FLAGS…]
	newport
	"$tmp/upgrade-server" $port > /dev/null & local srv=$!
	sleep 0.3
	local n=$1; shift
	env ${WSENV:-} /usr/bin/time -f "client: CPU %U %S s" "$WSBENCH" run bench/echo-loop.yaml --vus "$n" "$@" \
		--target ws://127.0.0.1:$port --quiet --out "$out.json" > "$out" 2>&1 || true
	kill $srv; wait $srv 2>/dev/null || true
	[ -s "$out.json" ] || return 0
	# The repeat runs 10 s; the client's CPU includes its start-up.
	echo_figures "$(jq '[.latencies[] | select(.name == "rtt") | .count] | add // 0' "$out.json")"
}
# echo_figures ROUND_TRIPS: the figures of a 10 s echo run from its round
# trips and the "client: CPU USER SYS s" line /usr/bin/time wrote to $out.
echo_figures() {
	awk -v r="$1" '/client: CPU/ { u = $3; y = $4 }
		END { if (r > 0) printf "rt/s %.0f\ncpu_us/rt %.2f\nuser_us/rt %.2f\nsys_us/rt %.2f\n", r / 10, (u + y) * 1e6 / r, u * 1e6 / r, y * 1e6 / r }' "$out"
}
# k6-echo: k6 on the same loop against the same C server.
c_k6echo() { c_wsecho "$1"; }
ws_k6echo() { # CONNS
	newport
	"$tmp/upgrade-server" $port > /dev/null & local srv=$!
	sleep 0.3
	timeout 60 /usr/bin/time -f "client: CPU %U %S s" "$K6" run --quiet --no-color --summary-export "$out.json" \
		-e URL="ws://127.0.0.1:$port/echo" -e VUS="$1" -e SECONDS=10 bench/k6/echo.js > "$out" 2>&1 || true
	kill $srv; wait $srv 2>/dev/null || true
	[ -s "$out.json" ] || return 0
	# The loop runs 10 s; the CPU includes k6's start-up.
	echo_figures "$(jq '.metrics.round_trips.count // 0' "$out.json")"
}
# echo-budget: the C client as it is, and with WORK_NS of user-space work
# per round trip in the wsbench column.
c_budget() { c_wsecho "$1"; }
ws_budget() { c_wsecho "$1" "$2"; }

# The Go floor: go-echo-client in MODE against the C upgrade server, paired
# with the C client (c_wsecho) as wsbench is.
go_echo() { # FLAGS CONNS
	newport
	"$tmp/upgrade-server" $port > /dev/null & local srv=$!
	sleep 0.3
	# shellcheck disable=SC2086 # FLAGS is a list of flags
	"$tmp/go-echo-client" $1 $port "$2" 10 > "$out" || true
	kill $srv; wait $srv 2>/dev/null || true
	awk '{ for (i = 1; i < NF; i++) { if ($i == "per_second") print "rt/s", $(i+1); if ($i == "client_cpu_us_per_rt") print "cpu_us/rt", $(i+1) } }' "$out"
}
# client-echo-tuned: wsbench set up as the C client is, one CPU and one
# loop, with the round trips chained on it.
c_wsechotuned() { c_wsecho "$@"; }
ws_wsechotuned() { WSENV=GOMAXPROCS=1 ws_wsecho "$1" --chain --event-loops 1; }
c_fanouttuned() { c_fanout "$@"; }
ws_fanouttuned() { RUN_ENV=GOMAXPROCS=1 WSFLAGS="--event-loops 1" ws_fanout "$@"; }
c_goecho() { c_wsecho "$1"; }
ws_goecho() { go_echo "$2" "$1"; } # CONNS FLAGS

c_fanout() { # CONNS COUNT PERIOD_MS SOURCES YAML WORKERS
	newport
	"$tmp/fanout-server" $port "$1" "$2" "$3" 1 > "$out.server" & local srv=$!
	sleep 0.3
	/usr/bin/time -f "client: CPU %U %S s" "$tmp/fanout-client" $port "$1" "$2" "$4" > "$out" 2>&1 || true
	wait $srv || true
	awk '/deliveries/ { for (i = 1; i < NF; i++) { if ($i == "client:") d = $(i+1); if ($i == "p99") p = $(i+1) } }
	     /client: CPU/ { c = $3 + $4 }
	     END { if (d > 0) printf "cpu_us/delivery %.2f\np99_ms %s\n", c * 1e6 / d, p }' "$out"
}
# deliveries RESULTS.json: "COUNT P99_NS" of the runs' delivery listener.
deliveries() {
	jq -r '"\([.counters | to_entries[] | select(.key == "listener.delivery") | .value] | add // 0) \([.latencies[] | select(.name == "delivery") | .p99_ns] | max // 0)"' "$1"
}
ws_fanout() { # CONNS COUNT PERIOD_MS SOURCES YAML WORKERS
	newport
	# The same source addresses as the C client (127.0.0.2, …): from one
	# address, connect's search for a free ephemeral port among tens of
	# thousands in use costs more than the deliveries (measured: a third of
	# the 19,500-member client's CPU).
	local src=()
	[ "$4" -gt 1 ] && src=(--source "127.0.0.2-127.0.0.$((1 + $4))")
	PORT=$((port + 500)) KEEP_RESULTS="$out.json" bash bench/against-serve.sh "$5" --workers "$6" "${src[@]}" ${WSFLAGS:-} > "$out" 2>&1 || true
	[ -s "$out.json" ] || return 0
	local c d p
	c=$(awk '/^client: CPU/ { v = $4; sub(/s,?$/, "", v); print v }' "$out")
	read -r d p < <(deliveries "$out.json")
	awk -v c="$c" -v d="$d" -v p="$p" 'BEGIN { if (d > 0) printf "cpu_us/delivery %.2f\np99_ms %.2f\n", c * 1e6 / d, p / 1e6 }'
}

# client-fanout: the C fan-out server in its WebSocket mode, read by the
# C reader (c_wsfanout) or by wsbench (ws_wsfanout). The client's CPU is
# taken over the deliveries only (the server's "broadcasting" to its
# "done"): connecting and upgrading 19,500 connections for 50 messages
# each would otherwise weigh as much as reading them (the upgrade part
# measures that). The client is sampled twice, so the sampling costs it
# nothing measurable.
# treecpu, nap, has_line and window (the two samples): bench/cpu-window.sh.
. bench/cpu-window.sh
# With GOREADER set (go-fanout-client's flags) the Go reader reads instead.
c_wsfanout() { # CONNS COUNT PERIOD_MS SOURCES WORKERS
	newport
	"$tmp/fanout-server" $port "$1" "$2" "$3" 1 ws > "$out.server" & local srv=$!
	sleep 0.3
	if [ -n "${GOREADER:-}" ]; then
		# shellcheck disable=SC2086 # GOREADER is a list of flags
		/usr/bin/time -f "client: CPU %U %S s" "$tmp/go-fanout-client" $GOREADER $port "$1" "$2" "$4" > "$out" 2>&1 & local cli=$!
	else
		/usr/bin/time -f "client: CPU %U %S s" "$tmp/fanout-client" $port "$1" "$2" "$4" ws > "$out" 2>&1 & local cli=$!
	fi
	window "$out.server" $cli > "$out.cpu"
	wait $cli || true
	wait $srv || true
	# The reader's CPU from the first broadcast to its exit.
	awk '/deliveries/ { for (i = 1; i < NF; i++) { if ($i == "client:") d = $(i+1); if ($i == "p99") p = $(i+1) } }
	     /client: CPU/ { c = $3 + $4 } /^cpu0/ { c0 = $2 } /^cpu1/ { c1 = $2 }
	     END { if (c1 != "") c = c1; if (d > 0 && c0 != "") printf "cpu_us/delivery %.2f\np99_ms %s\n", (c - c0) * 1e6 / d, p }' "$out" "$out.cpu"
}
ws_wsfanout() { # CONNS COUNT PERIOD_MS SOURCES WORKERS
	newport
	"$tmp/fanout-server" $port "$1" "$2" "$3" 1 ws > "$out.server" & local srv=$!
	sleep 0.3
	local src=()
	[ "$4" -gt 1 ] && src=(--source "127.0.0.2-127.0.0.$((1 + $4))")
	env ${WSENV:-} "$WSBENCH" run bench/fanout-c-members.yaml --vus "$1" --workers "$5" \
		"${src[@]}" ${WSFLAGS:-} --target ws://127.0.0.1:$port --quiet --out "$out.json" > "$out" 2>&1 & local cli=$!
	window "$out.server" $cli > "$out.cpu"
	wait $cli || true
	wait $srv || true
	[ -s "$out.json" ] || return 0
	local c0 c1 d p
	c0=$(awk '/^cpu0/ { print $2 }' "$out.cpu")
	c1=$(awk '/^cpu1/ { print $2 }' "$out.cpu")
	read -r d p < <(deliveries "$out.json")
	awk -v a="$c0" -v b="$c1" -v d="$d" -v p="$p" 'BEGIN { if (d > 0 && a != "" && b != "") printf "cpu_us/delivery %.2f\n", (b - a) * 1e6 / d; if (d > 0) printf "p99_ms %.2f\n", p / 1e6 }'
}
c_wsfanouttuned() { c_wsfanout "$@"; }
# go-fanout-floor: the C reader, and the Go reader with flags FLAGS.
c_gofanout() { c_wsfanout "$1" "$2" "$3" "$4"; }
ws_gofanout() { GOREADER=$5 c_wsfanout "$1" "$2" "$3" "$4"; } # CONNS COUNT PERIOD_MS SOURCES FLAGS
ws_wsfanouttuned() { WSENV=GOMAXPROCS=1 WSFLAGS="--event-loops 1" ws_wsfanout "$@"; }

# serve-fanout: the C pair (c_servefanout) or serve with C readers and
# wsbench speakers (ws_servefanout), 1,000 members at 100 msg/s.
c_servefanout() {
	newport
	/usr/bin/time -f "server: CPU %U %S s" "$tmp/fanout-server" $port 1000 1500 10 1 > "$out.server" 2>&1 & local srv=$!
	sleep 0.3
	"$tmp/fanout-client" $port 1000 1500 1 > "$out" 2>&1 || true
	wait $srv || true
	awk '/deliveries/ { for (i = 1; i < NF; i++) if ($i == "p99") p = $(i+1) }
	     /server: CPU/ { c = $3 + $4 }
	     END { if (p != "") printf "p99_ms %s\nserver_cpu_us/delivery %.2f\n", p, c * 1e6 / 1500000 }' "$out" "$out.server"
}
ws_servefanout() {
	newport
	env ${SERVE_ENV:-} "$WSBENCH" serve --addr 127.0.0.1:$port --log-level warn ${SERVE_FLAGS:-} > "$out.serve" 2>&1 & local srv=$!
	for _ in $(seq 50); do curl -sf http://127.0.0.1:$port/healthz > /dev/null 2>&1 && break; sleep 0.1; done
	"$tmp/chat-reader" $port 990 1485000 1 > "$out" 2>&1 & local rd=$!
	sleep 1.5 # the readers are in the room before the speakers come
	"$WSBENCH" run bench/fanout-1000-speakers.yaml --target ws://127.0.0.1:$port --quiet --out "$out.json" > "$out.run" 2>&1 || true
	wait $rd || true
	local d c
	d=$(curl -sf http://127.0.0.1:$port/metrics | awk '/^wsbench_deliveries_total / { print $2 }')
	c=$(cpu $srv)
	kill $srv; wait $srv 2>/dev/null || true
	awk -v d="$d" -v c="$c" '/^client:/ { for (i = 1; i < NF; i++) if ($i == "p99") p = $(i+1) }
	     /^from srv_ts:/ { for (i = 1; i < NF; i++) if ($i == "p99") s = $(i+1) }
	     END { if (s != "") printf "p99_ms %s\np99_from_speaker_ms %s\n", s, p; if (d > 0) printf "server_cpu_us/delivery %.2f\n", c * 1e6 / d }' "$out"
}
c_servefanouttuned() { c_servefanout; }
c_fanouteven() { c_fanout "$@"; }
ws_fanouteven() { ws_fanout "$@"; }
c_fanouteventuned() { c_fanout "$@"; }
ws_fanouteventuned() { SERVE_ENV=GOMAXPROCS=1 SERVE_FLAGS="--loops 1" RUN_ENV=GOMAXPROCS=1 WSFLAGS="--event-loops 1" ws_fanout "$@"; }
ws_servefanouttuned() { SERVE_ENV=GOMAXPROCS=1 SERVE_FLAGS="--loops 1" ws_servefanout; }

# upgrade: the C server's log ("UNIX_SECONDS UPGRADES") over seconds 4-14
# after the client started.
upgrade_rate() { # SERVER_LOG START
	awk -v t0="$2" '{ t = $1 - t0 } t >= 4 && !a { a = 1; s0 = $1; u0 = $2 } t <= 14 { s1 = $1; u1 = $2 }
	     END { if (a && s1 > s0) printf "upgrades/s %.0f\n", (u1 - u0) / (s1 - s0) }' "$1"
}
c_upgrade() {
	newport
	"$tmp/upgrade-server" $port > "$out.server" & local srv=$!
	sleep 0.3
	local t0; t0=$(date +%s.%N)
	"$tmp/upgrade-client" $port "${UPGRADE_CONC:-64}" 16 > "$out" || true
	kill $srv; wait $srv 2>/dev/null || true
	upgrade_rate "$out.server" "$t0"
	awk '{ for (i = 1; i < NF; i++) if ($i == "client_cpu_us_per_upgrade") print "cpu_us/upgrade", $(i+1) }' "$out"
}
ws_upgrade() {
	newport
	"$tmp/upgrade-server" $port > "$out.server" & local srv=$!
	sleep 0.3
	local t0; t0=$(date +%s.%N)
	/usr/bin/time -f "client: CPU %U %S s" "$WSBENCH" run bench/upgrade-loop.yaml --vus "${UPGRADE_CONC:-64}" \
		--target ws://127.0.0.1:$port --quiet --out "$out.json" > "$out" 2>&1 || true
	kill $srv; wait $srv 2>/dev/null || true
	upgrade_rate "$out.server" "$t0"
	# Client CPU over all its upgrades (the whole run, start-up included).
	local c u
	c=$(awk '/client: CPU/ { print $3 + $4 }' "$out")
	u=$(jq '.counters["conn.opened"] // 0' "$out.json" 2>/dev/null || echo 0)
	awk -v c="$c" -v u="$u" 'BEGIN { if (u > 0) printf "cpu_us/upgrade %.2f\n", c * 1e6 / u }'
}

# ramp: 19,000 connections opened and held (the shape of
# bench/upgrade-hold.yaml), the server's upgrades/s between 950 and 18,050
# of them (5 % to 95 %, as bench/goals.sh upgrades-ramp counts).
ramp_rate() { # SERVER_LOG
	awk '!a && $2 >= 950 { a = 1; t0 = $1; u0 = $2 } !b && $2 >= 18050 { b = 1; t1 = $1; u1 = $2 }
	     END { if (a && b && t1 > t0) printf "upgrades/s %.0f\n", (u1 - u0) / (t1 - t0) }' "$1"
}
c_ramp() {
	newport
	"$tmp/upgrade-server" $port > "$out.server" & local srv=$!
	sleep 0.3
	"$tmp/upgrade-client" $port 256 8 19000 8 > "$out" || true
	kill $srv; wait $srv 2>/dev/null || true
	ramp_rate "$out.server"
}
ws_ramp() {
	newport
	"$tmp/upgrade-server" $port > "$out.server" & local srv=$!
	sleep 0.3
	"$WSBENCH" run bench/upgrade-burst.yaml --source 127.0.0.2-127.0.0.9 \
		--target ws://127.0.0.1:$port --quiet --out "$out.json" > "$out" 2>&1 || true
	kill $srv; wait $srv 2>/dev/null || true
	ramp_rate "$out.server"
}

# pair LABEL KIND ARGS…: PAIRS interleaved runs of c_KIND and ws_KIND,
# results appended to $log/results as "LABEL FIGURE SIDE PAIR VALUE".
pair() {
	local label=$1 kind=$2; shift 2
	for i in $(seq "$pairs"); do
		local order="c ws"
		[ $((i % 2)) = 0 ] && order="ws c"
		[ "${C_ONLY:-}" = 1 ] && order=c
		for side in $order; do
			run=$((run + 1))
			out=$log/$run-$kind-$side
			echo "== $label, pair $i: $([ $side = c ] && echo C || echo wsbench)" >&2
			local res
			res=$("${side}_$kind" "$@") || true # a failed run leaves a gap, not the script
			printf '%s\n' "$res" >&2
			printf '%s\n' "$res" | awk -v l="$label" -v s=$side -v i="$i" 'NF == 2 { print l "\t" $1 "\t" s "\t" i "\t" $2 }' >> "$log/results"
		done
	done
}

: > "$log/results"
for part in "${parts[@]}"; do
	case $part in
	echo)
		for n in 50 1000; do pair "echo, $n connections" echo "$n"; done
		;;
	client-echo)
		for n in 50 1000; do pair "echo against the C WebSocket server, $n connections" wsecho "$n"; done
		;;
	client-echo-tuned)
		for n in 50 1000; do pair "echo against the C WebSocket server, $n connections, wsbench GOMAXPROCS=1 --chain --event-loops 1" wsechotuned "$n"; done
		;;
	k6-echo)
		[ -x "${K6:-}" ] || { echo "k6-echo needs K6 set to a k6 binary" >&2; exit 2; }
		for n in 50 1000; do pair "echo against the C WebSocket server, $n connections, k6 in the wsbench column" k6echo "$n"; done
		;;
	echo-budget)
		for w in ${BUDGET_NS:-500 1000 2000}; do pair "echo against the C WebSocket server, 1000 connections, the C client with $w ns of work per round trip in the wsbench column" budget 1000 "$w"; done
		;;
	fanout-tuned)
		# 19,500 members run as two workers of one CPU and one loop each
		# already (--workers 2); this is the 1,000-member room set up so.
		pair "fan-out, 1,000 members at 100 msg/s, wsbench GOMAXPROCS=1 --event-loops 1" fanouttuned 1000 1500 10 1 bench/fanout-1000.yaml 1
		;;
	go-floor)
		for n in 50 1000; do
			pair "Go floor (epoll, raw descriptors) against the C WebSocket server, $n connections" goecho "$n" "-mode epoll"
			pair "Go floor (epoll, sockets left in the runtime's netpoller: -keep) against the C WebSocket server, $n connections" goecho "$n" "-mode epoll -keep"
			pair "Go floor (epoll, loop parked in the runtime's netpoller, sockets left there: -park -keep) against the C WebSocket server, $n connections" goecho "$n" "-mode epoll -park -keep"
			pair "Go floor (netpoll, goroutine per connection) against the C WebSocket server, $n connections" goecho "$n" "-mode netpoll"
		done
		;;
	fanout)
		pair "fan-out, 1,000 members at 100 msg/s" fanout 1000 1500 10 1 bench/fanout-1000.yaml 1
		pair "fan-out, 19,500 members at 5 msg/s" fanout 19500 50 200 16 bench/fanout-19500.yaml 2
		;;
	client-fanout)
		pair "fan-out against the C WebSocket server, 1,000 members at 100 msg/s" wsfanout 1000 1500 10 1 1
		pair "fan-out against the C WebSocket server, 19,500 members at 5 msg/s" wsfanout 19500 50 200 16 2
		;;
	go-fanout-floor)
		for f in "-mode epoll" "-mode epoll -work" "-mode epoll -keep" "-mode epoll -park -keep" "-mode epoll -park -keep -touch 8" "-mode epoll -work -keep -others -1 -timers"; do
			pair "fan-out against the C WebSocket server, 1,000 members at 100 msg/s, the Go reader ($f) in the wsbench column" gofanout 1000 1500 10 1 "$f"
			pair "fan-out against the C WebSocket server, 19,500 members at 5 msg/s, the Go reader ($f) in the wsbench column" gofanout 19500 50 200 16 "$f"
		done
		;;
	client-fanout-tuned)
		pair "fan-out against the C WebSocket server, 1,000 members at 100 msg/s, wsbench GOMAXPROCS=1 --event-loops 1" wsfanouttuned 1000 1500 10 1 1
		pair "fan-out against the C WebSocket server, 19,500 members at 5 msg/s, wsbench in one process, GOMAXPROCS=1 --event-loops 1" wsfanouttuned 19500 50 200 16 1
		;;
	fanout-even)
		pair "fan-out, 1,000 members at 100 msg/s evenly spaced" fanouteven 1000 1500 10 1 bench/fanout-1000-even.yaml 1
		pair "fan-out, 1,000 members at 100 msg/s evenly spaced, both wsbench processes on one CPU and one loop" fanouteventuned 1000 1500 10 1 bench/fanout-1000-even.yaml 1
		pair "fan-out, 19,500 members at 5 msg/s evenly spaced" fanouteven 19500 50 200 16 bench/fanout-19500-even.yaml 2
		;;
	serve-fanout)
		pair "fan-out, 1,000 members at 100 msg/s, the server alone (C readers)" servefanout
		;;
	serve-fanout-tuned)
		pair "fan-out, 1,000 members at 100 msg/s, the server alone (C readers), serve GOMAXPROCS=1 --loops 1" servefanouttuned
		;;
	upgrade)
		pair "upgrade churn, 16 s" upgrade
		pair "upgrade ramp to 19,000 held" ramp
		;;
	*)
		echo "unknown part $part (want echo, client-echo, client-echo-tuned, echo-budget, k6-echo, go-floor, go-fanout-floor, fanout, fanout-tuned, fanout-even, client-fanout, client-fanout-tuned, serve-fanout, serve-fanout-tuned or upgrade)" >&2
		exit 2
		;;
	esac
done

# The table: per label and figure, median (min–max) of each side and of the
# per-pair ratio wsbench / C.
{
echo
echo "bench/ceiling.sh ${parts[*]}: started $started (load average $load), finished $(date -u '+%T UTC')"
echo "tree $tree; wsbench $binary; $(uname -sr), $(nproc) CPUs"
echo "pairs: $pairs (interleaved: C first in odd pairs, wsbench first in even ones); logs: $log"
echo
echo "| workload | figure | C median (min–max) | wsbench median (min–max) | wsbench / C median (min–max) |"
echo "| --- | --- | --- | --- | --- |"
awk -F'\t' '
function med(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
function cell(key, fmt,    n, i, a, s) {
	n = 0
	for (i = 1; i <= maxp; i++) if ((key, i) in v) a[++n] = v[key, i]
	if (n == 0) return "–"
	s = sprintf(fmt, med(a, n))
	return s " (" sprintf(fmt, a[1]) "–" sprintf(fmt, a[n]) ")"
}
{
	k = $1 SUBSEP $2
	if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
	v[k SUBSEP $3, $4] = $5
	if ($4 > maxp) maxp = $4
}
END {
	for (o = 1; o <= nk; o++) {
		k = order[o]; split(k, kp, SUBSEP)
		fmt = (kp[2] ~ /\/s$/) ? "%.0f" : "%.2f"
		for (i = 1; i <= maxp; i++)
			if ((k SUBSEP "c", i) in v && (k SUBSEP "ws", i) in v && v[k SUBSEP "c", i] > 0)
				v[k SUBSEP "r", i] = v[k SUBSEP "ws", i] / v[k SUBSEP "c", i]
		printf "| %s | %s | %s | %s | %s |\n", kp[1], kp[2], cell(k SUBSEP "c", fmt), cell(k SUBSEP "ws", fmt), cell(k SUBSEP "r", "%.2f")
	}
}' "$log/results"
} | tee "$log/table.md"
