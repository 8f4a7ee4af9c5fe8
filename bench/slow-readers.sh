#!/usr/bin/env bash
# Slow readers: runs bench/slow-readers.yaml twice against a fresh
# `wsbench serve` each time — once as written (100 of 1,000 members stalled)
# and once with the stalled members reading (baseline) — and prints the
# readers' delivery latency, the server's peak RSS, its own delivery delay
# and its drop / slow-consumer counters for both. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/read: false/read: true/' bench/slow-readers.yaml > "$tmp/baseline.yaml"
for run in baseline stalled; do
  file=bench/slow-readers.yaml; [ $run = baseline ] && file=$tmp/baseline.yaml
  echo "== $run ($file)"
  PORT=${PORT:-9313} DELAY_FROM=${DELAY_FROM:-7} bash bench/against-serve.sh "$file" "$@" 2>&1 |
    grep -E '│ delivery |│ wsbench.sched|delivery.lost|conn.closed|errors \(all\)|^client:|^server|^wsbench_|^\('
done
