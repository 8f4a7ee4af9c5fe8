#!/usr/bin/env bash
# run.sh — a local wsbench serve cluster: Debian's nats-server with JetStream
# and three serve nodes sharing one address (--reuse-port), until Ctrl-C.
#
#   examples/cluster/run.sh                  # ws://127.0.0.1:8080/chat
#   NODES=3 PORT=8080 NATS_PORT=4222 examples/cluster/run.sh
#   go run . run --workers 2 examples/cluster/cluster-chat.yaml   # in another shell
#
# Each node logs to $DIR/node-N.log and NATS to $DIR/nats.log. WSBENCH names
# the wsbench binary (default: built from this checkout).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
NODES=${NODES:-3}
PORT=${PORT:-8080}
NATS_PORT=${NATS_PORT:-4222}
DIR=${DIR:-$(mktemp -d /tmp/wsbench-cluster.XXXXXX)}

if ! command -v nats-server >/dev/null; then
	echo "run.sh: installing nats-server (Debian package)" >&2
	if [ "$(id -u)" = 0 ]; then apt-get install -y -qq nats-server; else sudo apt-get install -y -qq nats-server; fi
fi
if [ -z "${WSBENCH:-}" ]; then
	WSBENCH=$DIR/wsbench
	(cd "$here/../.." && go build -o "$WSBENCH" .)
fi

pids=()
stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop EXIT INT TERM

nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$DIR/jetstream" >"$DIR/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break
	sleep 0.1
done

for i in $(seq "$NODES"); do
	"$WSBENCH" serve --addr "127.0.0.1:$PORT" --reuse-port \
		--cluster "nats://127.0.0.1:$NATS_PORT" --cluster-node-ttl 5s \
		--max-conns 19900 --presence-limit 100 \
		${SERVE_FLAGS:-} >"$DIR/node-$i.log" 2>&1 &
	pids+=($!)
done
echo "cluster: nats://127.0.0.1:$NATS_PORT (JetStream in $DIR/jetstream), $NODES nodes on ws://127.0.0.1:$PORT/chat; logs in $DIR" >&2
echo "node pids: ${pids[*]:1}" >&2
wait -n "${pids[@]}" || true
echo "run.sh: a process exited; stopping the cluster" >&2
