#!/usr/bin/env bash
# output-cost.sh — what `--push prometheus-rw=URL` and `--html FILE` cost
# the load generator: the same 1,000-VU scenario (bench/fanout-1000.yaml,
# 1,000 members of one room, 100,000 deliveries/s) runs against
# `wsbench serve` in a process of its own, plain, with --push to a real
# Prometheus (started here with --web.enable-remote-write-receiver on a
# loopback port), with --html, and with both. The configurations take turns
# (RUNS rounds, default 3), and the script reports the CPU seconds (user +
# system, from /usr/bin/time) of the `wsbench run` process per
# configuration as the median with min–max, and each one's extra CPU over
# the plain run's median.
#
# Usage: bench/output-cost.sh
# Env:   RUNS (default 3), SCENARIO (default bench/fanout-1000.yaml),
#        WSBENCH (a prebuilt binary), LOG (folder for each run's output;
#        default a temporary one, printed at the end), PROMETHEUS (the
#        binary; default `prometheus` on PATH, installed with apt-get when
#        missing and we are root).
# Loopback only; everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
scenario=${SCENARIO:-bench/fanout-1000.yaml}
log=${LOG:-$(mktemp -d /tmp/wsbench-output-cost.XXXXXX)}
mkdir -p "$log"
bin=$log/wsbench
if [ -n "${WSBENCH:-}" ]; then cp "$WSBENCH" "$bin"; else go build -o "$bin" .; fi
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 1; }

prom=${PROMETHEUS:-$(command -v prometheus || true)}
if [ -z "$prom" ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
    prom=$(command -v prometheus)
  else
    echo "prometheus not found: apt-get install prometheus, or set PROMETHEUS" >&2; exit 1
  fi
fi
# Debian's package starts a service of its own where systemd runs; it would
# compete for the CPU, so stop it for the measurement.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "$1 did not come up" >&2; return 1; }

sport=$(free_port)
"$bin" serve --addr 127.0.0.1:$sport --log-level warn > "$log/serve.log" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:$sport/healthz

pport=$(free_port)
printf 'global:\n  scrape_interval: 1m\n' > "$log/prometheus.yml"
"$prom" --config.file="$log/prometheus.yml" --storage.tsdb.path="$log/tsdb" \
  --web.listen-address=127.0.0.1:$pport --web.enable-remote-write-receiver \
  --log.level=warn > "$log/prometheus.log" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:$pport/-/ready
push=http://127.0.0.1:$pport/api/v1/write

configs=(plain push html push+html)
args_of() {
  case $1 in
    plain) echo "" ;;
    push) echo "--push prometheus-rw=$push" ;;
    html) echo "--html $log/report.html" ;;
    push+html) echo "--push prometheus-rw=$push --html $log/report.html" ;;
  esac
}
echo "scenario $scenario against wsbench serve on 127.0.0.1:$sport; prometheus $("$prom" --version 2>&1 | head -1 | awk '{print $3}') on :$pport; $runs round(s)" >&2
for r in $(seq "$runs"); do
  for c in "${configs[@]}"; do
    out=$log/$c.$r
    # shellcheck disable=SC2046
    /usr/bin/time -f "%U %S %e" -o "$out.time" \
      "$bin" run "$scenario" --target ws://127.0.0.1:$sport --quiet --format json $(args_of "$c") \
      > "$out.json" 2> "$out.err" || true
    read -r u s e < "$out.time"
    if grep -q '^push:' "$out.err"; then acct=$(grep '^push:' "$out.err" | sed 's/.*: //'); else acct=""; fi
    echo "round $r $c: cpu $(python3 -c "print(round($u+$s,2))") s (user $u, sys $s), wall $e s${acct:+; push: $acct}" >&2
    echo "$c $(python3 -c "print($u+$s)")" >> "$log/cpu.txt"
  done
done

python3 - "$log/cpu.txt" "${configs[@]}" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
base = None
print("| configuration | CPU s of `wsbench run`, median (min–max) | extra over plain |")
print("| --- | --- | --- |")
for c in sys.argv[2:]:
    v = [float(x) for k, x in rows if k == c]
    med = statistics.median(v)
    if base is None:
        base = med
    extra = "—" if c == "plain" else f"{(med - base) / base * 100:+.1f} %"
    print(f"| {c} | {med:.2f} ({min(v):.2f}–{max(v):.2f}), n={len(v)} | {extra} |")
EOF
echo "runs, results and logs: $log" >&2
