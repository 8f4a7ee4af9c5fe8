#!/usr/bin/env bash
# smoke.sh — the cluster smoke test against Debian's nats-server binary (the
# one a user installs): nats-server -js, three serve nodes on one port
# (--reuse-port), smoke.yaml through them, one node killed with SIGKILL in
# the middle. Passes when smoke.yaml's thresholds hold (no gap in any
# sender's messages, deliveries across nodes, history for latecomers), the
# members of the dead node reconnected, and a surviving node's /metrics
# shows broker traffic. Without nats-server it says so and exits 0 unless
# REQUIRE_NATS=1.
#
#   examples/cluster/smoke.sh        # WSBENCH=path/to/wsbench to skip the build
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
NATS_PORT=$(free_port)
PORT=$(free_port)

nats-server --version >&2
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$DIR/js" >"$DIR/nats.log" 2>&1 &
pids+=($!)
wait_port "$NATS_PORT"
node_pids=()
for i in 1 2 3; do
	"$WSBENCH" serve --addr "127.0.0.1:$PORT" --reuse-port --cluster "nats://127.0.0.1:$NATS_PORT" \
		--cluster-name smoke --cluster-node-ttl 2s --log-level warn >"$DIR/node-$i.log" 2>&1 &
	pids+=($!)
	node_pids+=($!)
done
wait_port "$PORT"
sleep 0.5

(sleep 3 && kill -9 "${node_pids[0]}" && echo "smoke.sh: killed node 1 (pid ${node_pids[0]})" >&2) &
pids+=($!)
"$WSBENCH" run "$here/smoke.yaml" --target "ws://127.0.0.1:$PORT" -q -o "$DIR/results.json" >"$DIR/run.log" 2>&1 ||
	fail "smoke.yaml's thresholds (see run.log)"
cat "$DIR/run.log"

python3 - "$DIR/results.json" <<'PY' || fail "results"
import json, sys
r = json.load(open(sys.argv[1]))
def count(name):
    for k in ("counters", "metrics"):
        v = r.get(k, {}).get(name)
        if isinstance(v, dict):
            return v.get("count", v.get("value", 0))
        if isinstance(v, (int, float)):
            return v
    return 0
rec = count("reconnects")
print(f"smoke.sh: reconnects {rec}", file=sys.stderr)
if rec <= 0:
    sys.exit("no member reconnected after the node was killed")
PY
metrics=$(curl -fsS "http://127.0.0.1:$PORT/metrics") || fail "/metrics"
echo "$metrics" | grep -E '^wsbench_broker_(up|published_total|received_total) ' >&2
echo "$metrics" | grep -q '^wsbench_broker_up 1' || fail "broker not up on a surviving node"
echo "smoke.sh: PASS" >&2
