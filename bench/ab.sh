#!/usr/bin/env bash
# ab.sh — did a change slow the hot paths? Builds wsbench at two revisions
# and measures both in the same minutes, interleaved (A B, B A, A B, …) so
# the machine's drift falls on both sides:
#   - echo round trips/s at 50 and 1,000 VUs (bench/echo-throughput.sh);
#   - the 1,000-member room at 100 msg/s (bench/fanout-1000.yaml through
#     bench/against-serve.sh): delivery p99 and the server's CPU;
#   - the Go micro-benchmarks of the read/write paths, the server's
#     fan-out and the recorder, compared with benchstat.
# Prints each figure per run and the median per side.
#
# Usage: bench/ab.sh BASE [NEW]     (NEW defaults to the work tree as it is)
# Env:   RUNS (pairs, default 3), COUNT (micro-benchmark -count, default 6),
#        MICRO=0 to skip the micro-benchmarks. Needs jq, python3, curl and
#        benchstat (go install golang.org/x/perf/cmd/benchstat@latest).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BASE [NEW]" >&2; exit 2; }
base=$1 new=${2:-}
runs=${RUNS:-3}
tmp=$(mktemp -d /tmp/wsbench-ab.XXXXXX)
trees=()
cleanup() { for t in "${trees[@]}"; do git worktree remove --force "$t" 2>/dev/null || true; done; }
trap cleanup EXIT
tree_a=$tmp/tree-a; git worktree add -q --detach "$tree_a" "$base"; trees+=("$tree_a")
if [ -n "$new" ]; then tree_b=$tmp/tree-b; git worktree add -q --detach "$tree_b" "$new"; trees+=("$tree_b"); else tree_b=$PWD; fi
(cd "$tree_a" && go build -o "$tmp/wsbench-a" .)
(cd "$tree_b" && go build -o "$tmp/wsbench-b" .)
echo "A = $(git -C "$tree_a" rev-parse --short HEAD)   B = $(git -C "$tree_b" rev-parse --short HEAD)$( [ -z "$new" ] && ! git diff --quiet HEAD && echo +dirty)"
echo "log: $tmp"

: > "$tmp/figures"
measure() { # measure SIDE RUN
  local side=$1 r=$2 bin=$tmp/wsbench-$1
  WSBENCH=$bin PORT=18195 bash bench/echo-throughput.sh 50 1000 > "$tmp/echo-$side-$r.txt" 2>&1 || true
  awk -v s=$side '$1 ~ /^[0-9]+$/ { print s, "echo_rt/s_" $1, $2 }' "$tmp/echo-$side-$r.txt" >> "$tmp/figures"
  sleep 2
  WSBENCH=$bin STEADY_FROM=8 STEADY_TO=20 PORT=18196 KEEP_RESULTS="$tmp/fan-$side-$r.json" \
    bash bench/against-serve.sh bench/fanout-1000.yaml > "$tmp/fan-$side-$r.txt" 2>&1 || true
  jq -r --arg s "$side" '.latencies[] | select(.name == "delivery") | "\($s) fanout_p99_ms \(.p99_ns / 1e6)"' "$tmp/fan-$side-$r.json" >> "$tmp/figures" || true
  awk -v s=$side '/^server: CPU/ { v = $3; sub(/s,$/, "", v); print s, "fanout_server_cpu_s", v }' "$tmp/fan-$side-$r.txt" >> "$tmp/figures"
  sleep 2
}
for r in $(seq "$runs"); do
  if [ $((r % 2)) -eq 1 ]; then measure a $r; measure b $r; else measure b $r; measure a $r; fi
done
python3 - "$tmp/figures" <<'PY'
import sys, statistics
figs = {}
for line in open(sys.argv[1]):
    side, name, v = line.split()
    figs.setdefault(name, {}).setdefault(side, []).append(float(v))
print(f"{'figure':24} {'A median (runs)':40} {'B median (runs)':40} B/A")
for name, sides in figs.items():
    a, b = sides.get('a', []), sides.get('b', [])
    fa = f"{statistics.median(a):,.1f} ({', '.join(f'{x:,.1f}' for x in a)})" if a else "-"
    fb = f"{statistics.median(b):,.1f} ({', '.join(f'{x:,.1f}' for x in b)})" if b else "-"
    ratio = f"{statistics.median(b) / statistics.median(a):.3f}" if a and b and statistics.median(a) else "-"
    print(f"{name:24} {fa:40} {fb:40} {ratio}")
PY

if [ "${MICRO:-1}" != 0 ]; then
  pat=.  # every benchmark of the wire, the server and the recorder
  for side in a b; do
    t=$tree_a; [ $side = b ] && t=$tree_b
    (cd "$t" && go test -run '^$' -bench "$pat" -benchmem -count "${COUNT:-6}" ./dialer ./target ./report) > "$tmp/micro-$side.txt" 2>&1 || true
  done
  if command -v benchstat >/dev/null; then benchstat "$tmp/micro-a.txt" "$tmp/micro-b.txt"
  elif [ -x ~/go/bin/benchstat ]; then ~/go/bin/benchstat "$tmp/micro-a.txt" "$tmp/micro-b.txt"
  else echo "benchstat not found; raw results in $tmp/micro-{a,b}.txt"; fi
fi
