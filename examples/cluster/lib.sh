# lib.sh — the set-up smoke.sh and nats-failover.sh share; they source it
# right after `set -euo pipefail` and setting here (their directory).
# Without nats-server on PATH it says so and exits the script: 0, or 1 with
# REQUIRE_NATS=1. Then it sets DIR (a temporary directory, removed at exit
# unless KEEP=1) and WSBENCH (built into DIR unless given), kills every pid
# in pids at exit, and defines free_port, fail and wait_port.
name=$(basename "$0")
if ! command -v nats-server >/dev/null; then
	echo "$name: SKIP: no nats-server on PATH (apt-get install nats-server)" >&2
	[ "${REQUIRE_NATS:-0}" = 1 ] && exit 1
	exit 0
fi
DIR=$(mktemp -d "/tmp/wsbench-${name%.sh}.XXXXXX")
if [ -z "${WSBENCH:-}" ]; then
	WSBENCH=$DIR/wsbench
	(cd "$here/../.." && go build -o "$WSBENCH" .)
fi
# Free ports: bind port 0 and read what the kernel chose.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT
fail() {
	echo "$name: FAIL: $*" >&2
	for f in "$DIR"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
	exit 1
}
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "nothing listens on port $1"
}
