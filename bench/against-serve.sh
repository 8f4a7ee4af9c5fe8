#!/usr/bin/env bash
# Runs a scenario with `wsbench run` against `wsbench serve` in its own
# process, both on loopback, and prints the summary plus each process's CPU
# time and peak RSS, and the server's own delivery-delay quantiles from
# /metrics. With --workers N the client figures cover the parent and its
# worker processes (CPU summed; peak RSS summed over the processes). Usage: bench/against-serve.sh SCENARIO.yaml [run flags…]
# Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 SCENARIO.yaml [wsbench run flags]" >&2; exit 2; }
scenario=$1; shift
port=${PORT:-9313}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
if [ -n "${WSBENCH:-}" ]; then cp "$WSBENCH" "$tmp/wsbench"; else go build -o "$tmp/wsbench" .; fi
# SERVE_CPUS / RUN_CPUS (e.g. 0 and 1) pin each side to its own cores with
# taskset, so neither preempts the other.
pin() { if [ -n "$1" ]; then echo taskset -c "$1"; fi; }
# SERVE_ENV (e.g. GOMAXPROCS=1): environment of the server only.
$(pin "${SERVE_CPUS:-}") env ${SERVE_ENV:-} "$tmp/wsbench" serve --addr 127.0.0.1:$port --log-level warn ${SERVE_FLAGS:-} &
srv=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:$port/healthz >/dev/null 2>&1 && break; sleep 0.1; done

cpu() { awk '{printf "%.2f", ($14+$15)/100}' /proc/$1/stat; }
hwm() { awk '/^VmHWM/ {print $2}' /proc/$1/status; }
# RUN_ENV (e.g. GOMAXPROCS=1): environment of the client only.
$(pin "${RUN_CPUS:-}") env ${RUN_ENV:-} "$tmp/wsbench" run "$scenario" --target ws://127.0.0.1:$port --quiet --out "$tmp/results.json" "$@" > "$tmp/summary.txt" &
cli=$!
# Sample the client while it runs (its /proc entry vanishes at exit), with
# shell builtins only: a sampler that started pgrep and awk five times a
# second took about a tenth of a CPU and delayed wsbench's threads by up
# to 6 ms (perf sched latency), inflating the latencies it was measuring.
# The parent's cutime/cstime hold its workers' CPU once it has waited for
# them; the workers themselves are looked up during the first seconds only.
mkfifo "$tmp/nap"
exec 9<>"$tmp/nap"
nap() { read -rt "$1" -u 9 _ || true; }
tk=0
ticks() { # PID [all]: its CPU in clock ticks into tk (all: with its waited children's)
  local f
  tk=0
  { read -r -a f < "/proc/$1/stat"; } 2>/dev/null || return 0 # the process may be gone
  tk=$(( f[13] + f[14] ))
  [ "${2:-}" = all ] && tk=$(( tk + f[15] + f[16] ))
  return 0
}
hw=0
peak() { # PID: its VmHWM in KiB into hw
  local k v u
  hw=0
  { while read -r k v u; do [ "$k" = VmHWM: ] && { hw=$v; break; }; done < "/proc/$1/status"; } 2>/dev/null || true
  return 0
}
cticks=0; chwm=0; kids=""; started=$SECONDS; steady_from=${STEADY_FROM:-${DELAY_FROM:-}}
while kill -0 $cli 2>/dev/null; do
  # STEADY_FROM=S (or DELAY_FROM=S) and STEADY_TO=E: the server's delivery
  # delay quantiles and its delivery/drop counters cover only seconds S to E
  # of the client's run (e.g. the speaking phase, not the joins and not the
  # goodbyes). Without STEADY_TO the window runs to the end.
  el=$(( SECONDS - started ))
  if [ -n "$steady_from" ] && [ ! -e "$tmp/metrics0.txt" ] && [ $el -ge "$steady_from" ]; then
    curl -sf http://127.0.0.1:$port/metrics > "$tmp/metrics0.txt" || true
    echo "$EPOCHREALTIME" > "$tmp/t0"
  fi
  if [ -n "${STEADY_TO:-}" ] && [ ! -e "$tmp/metrics1.txt" ] && [ $el -ge "$STEADY_TO" ]; then
    curl -sf http://127.0.0.1:$port/metrics > "$tmp/metrics1.txt" || true
    echo "$EPOCHREALTIME" > "$tmp/t1"
  fi
  [ $el -le 5 ] && kids=$(pgrep -P $cli || true) # the workers, while they start
  ticks $cli all; c=$tk; peak $cli; h=$hw
  for k in $kids; do ticks $k; c=$(( c + tk )); peak $k; h=$(( h + hw )); done
  [ $c -gt $cticks ] && cticks=$c
  [ $h -gt $chwm ] && chwm=$h
  nap 0.2
done
ccpu=$(awk -v t="$cticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
wait $cli && rc=0 || rc=$?
cat "$tmp/summary.txt"
echo
echo "wsbench run exit status: $rc"
echo "client: CPU ≥ ${ccpu}s (sampled every 0.2 s), peak RSS ${chwm} KiB"
echo "server: CPU $(cpu $srv)s, peak RSS $(hwm $srv) KiB"
curl -sf http://127.0.0.1:$port/metrics > "$tmp/metrics.txt" || true
grep -E '^wsbench_(deliveries_total|drops_total|slow_consumer_disconnects_total|upgrades_total|bytes_out_total|compressed_frames_total) ' "$tmp/metrics.txt" | tr '\n' ' '; echo
if [ -s "$tmp/metrics0.txt" ]; then
  end=$tmp/metrics.txt; [ -s "$tmp/metrics1.txt" ] && end=$tmp/metrics1.txt
  t1=$(cat "$tmp/t1" 2>/dev/null || echo "$EPOCHREALTIME")
  echo "(steady window: ${steady_from}s to ${STEADY_TO:-end} of the run)"
  awk -f bench/delay-quantiles.awk "$tmp/metrics0.txt" "$end"
  # Counter deltas over the window only, as totals and per second.
  awk -v t0="$(cat "$tmp/t0")" -v t1="$t1" '
    FNR == 1 { f++ }
    /^wsbench_(deliveries_total|drops_total|upgrades_total|slow_consumer_disconnects_total|bytes_out_total|compressed_frames_total) / { v[f, $1] = $2; names[$1] = 1 }
    END { printf "steady:"; for (n in names) printf " %s %d (%.0f/s)", n, v[2, n] - v[1, n], (v[2, n] - v[1, n]) / (t1 - t0); print "" }
  ' "$tmp/metrics0.txt" "$end"
else
  awk -f bench/delay-quantiles.awk "$tmp/metrics.txt"
fi
[ -n "${KEEP_RESULTS:-}" ] && cp "$tmp/results.json" "$KEEP_RESULTS"
kill -TERM $srv; wait $srv || true
