#!/usr/bin/env bash
# fanout-variants.sh — several wsbench builds (or one build under several
# environments) in the fan-out room of the C WebSocket server
# (bench/ceiling/fanout-server.c ... ws), interleaved with the C reader
# (fanout-client.c ... ws) round after round, so that the machine's drift
# falls on every variant alike. For each run: the client's CPU from the
# server's first broadcast to its last, per delivery, and the delivery p99.
# Deliveries are counted as members × messages, not from wsbench's own
# counters, so a build with its listeners or counters switched off (an
# ablation) still gets a figure; wsbench runs bench/fanout-c-members.yaml,
# as `bench/ceiling.sh client-fanout` does, with the same sizes:
#   1,000 members at 100 msg/s (1,500 messages, one process);
#   19,500 members at 5 msg/s (50 messages, --workers 2, 16 source addresses).
#
# Usage: bench/fanout-variants.sh NAME=BINARY[@ENV,ENV…][+FLAG,FLAG…] …
#   e.g. bench/fanout-variants.sh base=/tmp/wsb-main new=/tmp/wsb-new \
#        spin=/tmp/wsb-new@WSB_SPIN=20us \
#        one=/tmp/wsb-main@GOMAXPROCS=1+--workers=1,--event-loops=1
#   (the flags go after the script's own, so they override them).
#   A BINARY named go-fanout-client (bench/ceiling/go-fanout-client, the
#   C reader written in Go) runs in wsbench's place with FLAG,… as its
#   options, e.g. floor=/tmp/go-fanout-client@GOMAXPROCS=1+-mode,epoll,-work
# Env:   ROUNDS (default 3), SIZES (default "1000 19500"), PORT (first port,
#        default 21400). Prints "ROUND NAME MEMBERS cpu_us/delivery X p99_ms Y"
#        per run, then the median per variant and size.
# Needs gcc, jq; all traffic stays on 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 NAME=BINARY[@ENV,ENV…] …" >&2; exit 2; }
rounds=${ROUNDS:-3}
sizes=${SIZES:-1000 19500}
port=${PORT:-21400}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
gcc -O2 -Wall -pthread -o "$tmp/fanout-server" bench/ceiling/fanout-server.c
gcc -O2 -Wall -o "$tmp/fanout-client" bench/ceiling/fanout-client.c

# treecpu, nap, has_line, window: the sampling of bench/ceiling.sh.
. bench/cpu-window.sh

# one BINARY|C ENV FLAGS MEMBERS: one run, printing its two figures.
one() {
	local bin=$1 envs=$2 flags=$3 n=$4 count period sources workers out=$tmp/run
	case $n in
	1000) count=1500 period=10 sources=1 workers=1 ;;
	19500) count=50 period=200 sources=16 workers=2 ;;
	*) echo "size $n: want 1000 or 19500" >&2; exit 2 ;;
	esac
	port=$((port + 1))
	rm -rf "$out"; mkdir -p "$out"
	"$tmp/fanout-server" $port $n $count $period 1 ws > "$out/server" & local srv=$!
	sleep 0.3
	local src=()
	[ $sources -gt 1 ] && src=(--source "127.0.0.2-127.0.0.$((1 + sources))")
	if [ "$bin" = C ]; then
		/usr/bin/time -f "client: CPU %U %S s" "$tmp/fanout-client" $port $n $count $sources ws > "$out/client" 2>&1 & local cli=$!
	elif [ "${bin##*/}" = go-fanout-client ]; then
		# shellcheck disable=SC2086 # envs and flags are comma-separated lists
		/usr/bin/time -f "client: CPU %U %S s" env ${envs//,/ } "$bin" ${flags//,/ } $port $n $count $sources > "$out/client" 2>&1 & local cli=$!
	else
		# shellcheck disable=SC2086 # envs and flags are comma-separated lists
		env ${envs//,/ } "$bin" run bench/fanout-c-members.yaml --vus $n --workers $workers "${src[@]}" \
			--target ws://127.0.0.1:$port --quiet --out "$out/r.json" ${flags//,/ } > "$out/client" 2>&1 & local cli=$!
	fi
	window "$out/server" $cli > "$out/cpu"
	local c0 c1 p99
	c0=$(awk '/^cpu0/ { print $2 }' "$out/cpu")
	c1=$(awk '/^cpu1/ { print $2 }' "$out/cpu") # none: the C reader exits after its last message
	wait $cli || true
	wait $srv || true
	if [ "$bin" = C ] || [ "${bin##*/}" = go-fanout-client ]; then
		[ -n "$c1" ] || c1=$(awk '/client: CPU/ { print $3 + $4 }' "$out/client")
		p99=$(awk '/deliveries/ { for (i = 1; i < NF; i++) if ($i == "p99") print $(i+1) }' "$out/client")
	else
		p99=$(jq '[.latencies[]? | select(.name == "delivery" and .count > 0) | .p99_ns / 1e6] | max // "-"' "$out/r.json" 2>/dev/null || echo -)
	fi
	awk -v a="$c0" -v b="$c1" -v d=$((n * count)) -v p="$p99" 'BEGIN { if (a == "" || b == "") print "cpu_us/delivery - p99_ms", p; else printf "cpu_us/delivery %.2f p99_ms %s\n", (b - a) * 1e6 / d, p }'
}

for r in $(seq "$rounds"); do
	for spec in C "$@"; do
		name=${spec%%=*} rest=${spec#*=} bin=C envs="" flags=""
		if [ "$spec" != C ]; then
			case $rest in *+*) flags=${rest#*+} rest=${rest%%+*} ;; esac
			bin=${rest%%@*}
			[ "$rest" != "$bin" ] && envs=${rest#*@}
		fi
		for n in $sizes; do
			echo "$r $name $n $(one "$bin" "$envs" "$flags" "$n")"
		done
	done
done | tee "$tmp/all"
echo
echo "median per variant (min–max):"
awk '$5 != "-" { k = $2 " " $3; v[k] = v[k] " " $5 } END { for (k in v) print k, v[k] }' "$tmp/all" | sort -k2n -k1 |
	while read -r name n vals; do
		sorted=$(tr ' ' '\n' <<< "$vals" | sort -n | grep -v '^$')
		cnt=$(wc -l <<< "$sorted")
		med=$(sed -n "$(( (cnt + 1) / 2 ))p" <<< "$sorted")
		echo "$name, $n members: cpu_us/delivery $med ($(head -1 <<< "$sorted")–$(tail -1 <<< "$sorted"))"
	done
