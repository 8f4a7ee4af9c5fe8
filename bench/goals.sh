#!/usr/bin/env bash
# goals.sh — measures the rows of BENCHMARKS.md's goals table the same way
# every time: each goal's workload runs RUNS times (default 3) at the
# current commit, and the script prints every figure's runs, median and
# min–max, the commit, and the command, as a Markdown table row. A goal
# counts as met only when the median meets it.
#
# Usage: bench/goals.sh [GOAL...]          (default: all of them)
# Goals: idle-rss upgrades-ramp upgrades-churn fanout-500k fanout-1000
#        fanout-19500 slow-readers vu-memory
# Env:   RUNS (default 3), LOG (folder for each run's full output; default a
#        temporary one, printed at the end), WSBENCH (a prebuilt binary).
# Needs python3 (for the results JSON) and curl. Loopback only; everything it
# starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
[ "$runs" -ge 3 ] || echo "warning: RUNS=$runs; the table wants the median of at least 3" >&2
log=${LOG:-$(mktemp -d /tmp/wsbench-goals.XXXXXX)}
mkdir -p "$log"
bin=$log/wsbench
if [ -n "${WSBENCH:-}" ]; then cp "$WSBENCH" "$bin"; else go build -o "$bin" .; fi
export WSBENCH=$bin
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!BENCHMARKS.md' || echo "+dirty")
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT

# json FILE EXPR: evaluates a Python expression over the results file d.
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# lat FILE NAME FIELD: a latency quantile of the results file in ms.
lat() { json "$1" "next((l['$3']/1e6 for l in d['latencies'] if l['name']=='$2'), 'nan')"; }
ctr() { json "$1" "d['counters'].get('$2', 0)"; }
# serve_up PORT: starts `wsbench serve` on PORT in the background, waits for /healthz.
serve_up() {
  "$bin" serve --addr 127.0.0.1:$1 --log-level warn ${SERVE_FLAGS:-} & srv=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$1/healthz >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "serve did not come up on :$1" >&2; return 1
}
serve_down() { kill -TERM "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; }
metric() { curl -sf http://127.0.0.1:$1/metrics | awk -v m="$2" '$1 == m {print $2}'; }

# Each goal_X runs its workload once, writes everything to $out, and prints
# "figure value" lines (one per figure) on stdout.

goal_idle_rss() { # serve: idle RSS per upgraded connection at 19,500; goal ≤ 1.5 KiB
  cmd="bench/server-idle.sh"
  bash bench/server-idle.sh > "$out" 2>&1
  awk '/marginal RSS per upgraded connection/ {print "KiB/conn", $(NF-1)}' "$out"
}

goal_upgrades_ramp() { # serve: ≥ 10,000 upgrades/s while building 19,000 held connections
  # --source: 19,000 connections from one address fill more than half of the
  # local port range, and then connect() walks the range (62 % of the
  # client's CPU; see "Upgrades and the local port search" in BENCHMARKS.md).
  cmd="wsbench run bench/upgrade-hold.yaml --workers 2 --source 127.0.0.1-127.0.0.8 (ramp asks for 20,000/s); rate = server's upgrades between 5 % and 95 % of 19,000, polled every 50 ms"
  local port=9321; serve_up $port
  "$bin" run bench/upgrade-hold.yaml --workers 2 --source 127.0.0.1-127.0.0.8 --target ws://127.0.0.1:$port --quiet --out "$out.json" > "$out" 2>&1 & local cli=$!
  : > "$out.poll"
  while kill -0 $cli 2>/dev/null; do
    echo "$(date +%s.%N) $(metric $port wsbench_upgrades_total)" >> "$out.poll"; sleep 0.05
  done
  wait $cli || true; serve_down
  awk '$2 != "" { if (!a && $2 >= 950) { a = 1; t0 = $1; u0 = $2 } if (!b && $2 >= 18050) { b = 1; t1 = $1; u1 = $2 } }
       END { if (a && b && t1 > t0) printf "upgrades/s %.0f\n", (u1 - u0) / (t1 - t0); else print "upgrades/s nan" }' "$out.poll"
  # every error the run counted (dial, handshake status such as 429, ...)
  echo "errors $(json "$out.json" "sum(v for k, v in d['counters'].items() if k.startswith('errors.'))")"
}

goal_upgrades_churn() { # serve: sustained connect+upgrade+echo+close at 15,000 arrivals/s
  cmd="STEADY_FROM=4 STEADY_TO=14 bench/against-serve.sh bench/upgrade-churn.yaml --workers 2 --source 127.0.0.1-127.0.0.16"
  STEADY_FROM=4 STEADY_TO=14 PORT=9322 KEEP_RESULTS="$out.json" bash bench/against-serve.sh bench/upgrade-churn.yaml \
    --workers 2 --source 127.0.0.1-127.0.0.16 > "$out" 2>&1 || true
  awk '/^steady:/ { for (i = 2; i <= NF; i++) if ($i == "wsbench_upgrades_total") { v = $(i+2); gsub(/[(\/s)]/, "", v); print "upgrades/s", v } }' "$out"
  echo "dropped $(ctr "$out.json" arrivals.dropped)"
}

goal_fanout_500k() { # serve: ≥ 500,000 deliveries/s, 0 lost
  cmd="STEADY_FROM=8 STEADY_TO=18 bench/against-serve.sh bench/fanout-500k.yaml --workers 2"
  STEADY_FROM=8 STEADY_TO=18 PORT=9323 KEEP_RESULTS="$out.json" bash bench/against-serve.sh bench/fanout-500k.yaml --workers 2 > "$out" 2>&1 || true
  awk '/^steady:/ { for (i = 2; i <= NF; i++) if ($i == "wsbench_deliveries_total") { v = $(i+2); gsub(/[(\/s)]/, "", v); print "deliveries/s", v } }' "$out"
  echo "p99_ms $(lat "$out.json" delivery p99_ns)"
  # Every recipient: the 100 watchers check sequences, the 850 members count
  # says; what the 950 non-speakers should have received is says × 950.
  # says = messages sent less each VU's nick and join.
  echo "lost_all $(json "$out.json" "(int(d['counters']['msgs.sent']) - 2*1000)*950 - int(d['counters'].get('listener.delivery',0)) - int(d['counters'].get('listener.said',0))")"
  echo "lost_seq $(ctr "$out.json" delivery.lost)"
}

goal_fanout_1000() { # serve: 1,000-member room at 100 msg/s, p99 ≤ 10 ms
  cmd="STEADY_FROM=8 STEADY_TO=20 bench/against-serve.sh bench/fanout-1000.yaml"
  STEADY_FROM=8 STEADY_TO=20 PORT=9324 KEEP_RESULTS="$out.json" bash bench/against-serve.sh bench/fanout-1000.yaml > "$out" 2>&1 || true
  echo "p99_ms $(lat "$out.json" delivery p99_ns)"
  awk '/^server delivery delay/ { for (i = 1; i <= NF; i++) if ($i == "p99") { v = $(i+1); gsub(/ms|>/, "", v); print "server_p99_ms", v } }' "$out" | tail -1
  echo "lost $(ctr "$out.json" delivery.lost)"
}

goal_fanout_19500() { # serve: 19,500-member room at 5 msg/s, p99 ≤ 100 ms
  cmd="bench/against-serve.sh bench/fanout-19500.yaml --workers 2 --source 127.0.0.1-127.0.0.4"
  PORT=9325 KEEP_RESULTS="$out.json" bash bench/against-serve.sh bench/fanout-19500.yaml --workers 2 --source 127.0.0.1-127.0.0.4 > "$out" 2>&1 || true
  echo "p99_ms $(lat "$out.json" delivery p99_ns)"
  echo "lost $(ctr "$out.json" delivery.lost)"
}

goal_slow_readers() { # serve: readers' p99 with 10 % stalled vs the baseline's own spread
  cmd="bench/against-serve.sh on bench/slow-readers.yaml, and on a copy whose stalled members read (baseline), one pair per run"
  sed 's/read: false/read: true/' bench/slow-readers.yaml > "$log/slow-baseline.yaml"
  local m f
  for m in baseline stalled; do
    f=bench/slow-readers.yaml; [ $m = baseline ] && f=$log/slow-baseline.yaml
    STEADY_FROM=7 STEADY_TO=25 PORT=9326 KEEP_RESULTS="$out.$m.json" bash bench/against-serve.sh "$f" > "$out.$m" 2>&1 || true
    echo "${m}_p99_ms $(lat "$out.$m.json" delivery p99_ns)"
    awk -v m=$m '/^server: / { for (i = 1; i <= NF; i++) if ($i == "RSS") print m "_server_peak_rss_mib", $(i+1) / 1024 }' "$out.$m"
    sleep 3
  done
}

goal_vu_memory() { # run: ≤ 16 KiB RSS per idle VU at 19,500
  cmd="bench/vu-memory.sh 1000 19500"
  WSBENCH=$bin bash bench/vu-memory.sh 1000 19500 > "$out" 2>&1 || true
  awk '/marginal RSS per VU/ {print "KiB/VU", $(NF-1)}' "$out"
}

goals=("$@")
[ ${#goals[@]} -gt 0 ] || goals=(idle-rss upgrades-ramp upgrades-churn fanout-500k fanout-1000 fanout-19500 slow-readers vu-memory)
echo "| goal | figure | median | min–max | runs | commit | command |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for g in "${goals[@]}"; do
  fn=goal_${g//-/_}
  declare -F "$fn" >/dev/null || { echo "unknown goal $g" >&2; exit 2; }
  : > "$log/$g.figures"
  for r in $(seq "$runs"); do
    out=$log/$g.$r.log
    $fn > "$log/$g.$r.fig"   # not in a pipe: $fn sets cmd for the table
    sed "s/^/$r /" "$log/$g.$r.fig" >> "$log/$g.figures"
    sleep 3 # let sockets in TIME_WAIT and the previous processes go
  done
  python3 - "$log/$g.figures" "$g" "$commit" "$cmd" <<'PY'
import sys, statistics
path, goal, commit, cmd = sys.argv[1:]
figs = {}
for line in open(path):
    parts = line.split()
    if len(parts) < 3:
        continue
    try:
        figs.setdefault(parts[1], []).append(float(parts[2]))
    except ValueError:
        pass
for name, vals in figs.items():
    vals = [v for v in vals if v == v]  # drop nan
    if not vals:
        print(f"| {goal} | {name} | no figure | | 0 | {commit} | `{cmd}` |"); continue
    if all(v.is_integer() for v in vals) or max(abs(v) for v in vals) >= 100:
        fmt = lambda v: f"{v:,.0f}"
    else:
        fmt = lambda v: f"{v:,.2f}"
    print(f"| {goal} | {name} | {fmt(statistics.median(vals))} | {fmt(min(vals))}–{fmt(max(vals))} | "
          f"{len(vals)} ({', '.join(fmt(v) for v in vals)}) | {commit} | `{cmd}` |")
PY
done
echo
echo "full output of every run: $log"
