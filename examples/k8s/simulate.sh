#!/usr/bin/env bash
# simulate.sh [N] [SCENARIO] [RUN FLAGS…] — a distributed run as the chart's
# Jobs do it, as N processes on this machine: `wsbench serve` stands for
# the target, N runners differ only in JOB_COMPLETION_INDEX (and start at
# different times, as pods do), all begin the load at the same instant
# (--start-at), and the merge, started first like its Job, waits for the N
# segment files and exits with the threshold verdict.
#   examples/k8s/simulate.sh 4 examples/broadcast-fanout.yaml --vus 200
# The Go test simulate_test.go does the same with the Job objects rendered
# from the chart; this script mirrors their command lines.
set -euo pipefail
n=${1:-4}
scenario=${2:-examples/broadcast-fanout.yaml}
shift $(( $# < 2 ? $# : 2 ))
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

go build -o "$work/wsbench" .
bin=$work/wsbench
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --addr "127.0.0.1:$port" --log-level warn &
pids+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

base=$(date -u +%Y-%m-%dT%H:%M:%SZ) # the chart renders this once per install
results=$work/results/run-${base//:/}
mkdir -p "$results"

html=()
if "$bin" report --help | grep -q -- --html; then html=(--html="$results/report.html"); fi
"$bin" report --wait="$n" --wait-timeout=10m "$results/segment-*.json" --out="$results/merged.json" "${html[@]}" >"$work/merge.out" 2>"$work/merge.err" &
merge=$!

for ((i = 0; i < n; i++)); do
	env -i JOB_COMPLETION_INDEX="$i" WSBENCH_SEGMENTS="$n" WSBENCH_START_BASE="$base" WSBENCH_HOST="$(hostname)" \
		"$bin" run "$scenario" --segment=auto --start-at=+5s --defer-thresholds --log-every=1s --run-id="run-${base//:/}" \
		--target="ws://127.0.0.1:$port" --out="$results/segment-$i.json" "$@" \
		>"$work/runner-$i.out" 2>"$work/runner-$i.err" &
	pids+=($!)
	sleep 0.5 # pods are scheduled one after another
done
failed=0
for ((i = 0; i < n; i++)); do
	if ! wait "${pids[i + 1]}"; then
		echo "runner $i failed:" >&2
		cat "$work/runner-$i.err" >&2
		failed=1
	fi
done
status=0
wait "$merge" || status=$?
echo "== runner 0 log (logfmt progress, as kubectl logs shows it), last lines"
tail -n 3 "$work/runner-0.err"
echo "== merge (kubectl logs job/…-merge)"
cat "$work/merge.err" "$work/merge.out"
echo "== results in $results (merge exit status $status)"
ls "$results"
if [[ -s $results/merged.json ]]; then
	# The merge is exact: every counter and every latency's sample count of
	# merged.json is the sum of the segments'.
	python3 - "$results" "$n" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
parts = [json.load(open(f"{d}/segment-{i}.json")) for i in range(n)]
m = json.load(open(f"{d}/merged.json"))
bad = [k for k in m["counters"] if m["counters"][k] != sum(p["counters"].get(k, 0) for p in parts)]
lat = lambda r: {l["name"]: l["count"] for l in r["latencies"]}
bad += [k for k, c in lat(m).items() if c != sum(lat(p).get(k, 0) for p in parts)]
print(f"merged = sum of the {n} segments: {len(m['counters'])} counters, {len(m['latencies'])} latency counts" if not bad else f"MISMATCH: {bad}")
sys.exit(1 if bad else 0)
PY
fi
trap - EXIT
cleanup
[[ $failed == 0 ]] || exit 3
exit "$status"
