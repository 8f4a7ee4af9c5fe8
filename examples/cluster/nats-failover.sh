#!/usr/bin/env bash
# nats-failover.sh — serve --cluster on a NATS cluster that loses a server,
# with Debian's nats-server binary: three routed `nats-server -js`, two
# serve nodes with --cluster-replicas 3 and every NATS URL. A member of
# node A says 20 acked messages (failover-writer.yaml); the NATS server
# leading the history stream is killed with SIGKILL; three latecomers on
# node B must each get all 20 as history (failover-latecomers.yaml), and
# both nodes must be connected to NATS again. With --cluster-replicas 1 the
# history dies with its server (REPLICAS=1 shows it: the run then fails).
# Without nats-server it says so and exits 0 unless REQUIRE_NATS=1.
#
#   examples/cluster/nats-failover.sh    # WSBENCH=path/to/wsbench to skip the build
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
REPLICAS=${REPLICAS:-3}
wait_healthy() { # port: /healthz answers 200 once the node is up and has NATS
	for _ in $(seq 300); do
		curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "the node on port $1 is not connected to NATS after 30 s"
}

nats-server --version >&2
declare -a client route mon nats_pid
for i in 0 1 2; do
	client[i]=$(free_port)
	route[i]=$(free_port)
	mon[i]=$(free_port)
done
routes="nats://127.0.0.1:${route[0]},nats://127.0.0.1:${route[1]},nats://127.0.0.1:${route[2]}"
for i in 0 1 2; do
	nats-server -js -sd "$DIR/js$i" -n "n$i" -a 127.0.0.1 -p "${client[i]}" -m "${mon[i]}" \
		--cluster_name failover --cluster "nats://127.0.0.1:${route[i]}" --routes "$routes" \
		>"$DIR/nats-$i.log" 2>&1 &
	nats_pid[i]=$!
	pids+=($!)
done
for i in 0 1 2; do wait_port "${client[i]}"; done
urls="nats://127.0.0.1:${client[0]},nats://127.0.0.1:${client[1]},nats://127.0.0.1:${client[2]}"

# The nodes start while JetStream elects its leader: they wait it out.
declare -a port
for n in a b; do
	p=$(free_port)
	port+=("$p")
	"$WSBENCH" serve --addr "127.0.0.1:$p" --cluster "$urls" --cluster-name failover \
		--cluster-replicas "$REPLICAS" --log-level warn >"$DIR/node-$n.log" 2>&1 &
	pids+=($!)
done
for p in "${port[@]}"; do wait_healthy "$p"; done

"$WSBENCH" run "$here/failover-writer.yaml" --target "ws://127.0.0.1:${port[0]}" -q >"$DIR/writer.log" 2>&1 ||
	fail "failover-writer.yaml (see writer.log)"

# Which NATS server leads the history stream (its monitoring endpoint).
leader=$(curl -fsS "http://127.0.0.1:${mon[0]}/jsz?accounts=true&streams=true" | python3 -c '
import json, sys
for acc in json.load(sys.stdin).get("account_details", []):
    for s in acc.get("stream_detail", []):
        if s["name"] == "wsbench_failover_history":
            print(s.get("cluster", {}).get("leader", ""))
') || fail "jsz"
case "$leader" in n0 | n1 | n2) ;; *) fail "no leader of the history stream in jsz: '$leader'" ;; esac
i=${leader#n}
kill -9 "${nats_pid[i]}"
echo "nats-failover.sh: killed NATS server $leader (pid ${nats_pid[i]}), the history stream's leader" >&2

# JetStream elects new leaders for what the dead server led (a few
# seconds: meanwhile nickname claims and acks fail with an error, as
# docs/protocol.md says), and both nodes reconnect to a surviving server
# (those on the dead one within their reconnect wait). Then latecomers on
# node B read the history.
alive=$(( (i + 1) % 3 ))
for _ in $(seq 300); do
	curl -fsS "http://127.0.0.1:${mon[alive]}/jsz?accounts=true&streams=true" 2>/dev/null | python3 -c '
import json, sys
dead, want = sys.argv[1], {"wsbench_failover_history", "KV_wsbench_failover_nicks", "KV_wsbench_failover_nodes"}
jsz = json.load(sys.stdin)
meta = jsz.get("meta_cluster", {}).get("leader", "")
led = {s["name"] for acc in jsz.get("account_details", [])
       for s in acc.get("stream_detail", []) if s.get("cluster", {}).get("leader", "") not in ("", dead)}
sys.exit(0 if meta not in ("", dead) and want <= led else 1)
' "$leader" && break
	sleep 0.1
done || true
sleep 1
for p in "${port[@]}"; do wait_healthy "$p"; done
"$WSBENCH" run "$here/failover-latecomers.yaml" --target "ws://127.0.0.1:${port[1]}" -q >"$DIR/late.log" 2>&1 ||
	fail "failover-latecomers.yaml: the acked history did not survive (see late.log)"
cat "$DIR/late.log"
echo "nats-failover.sh: PASS" >&2
