# delay-quantiles.awk — reads a /metrics page of `wsbench serve` and prints
# p50, p90, p99 and p99.9 of wsbench_delivery_delay_seconds, interpolated
# linearly inside a bucket the way Prometheus's histogram_quantile does.
# With two pages (before.txt after.txt), the quantiles are of the samples
# taken between the two.
# Usage: curl -s http://127.0.0.1:9313/metrics | awk -f bench/delay-quantiles.awk
#        awk -f bench/delay-quantiles.awk before.txt after.txt
FNR == 1 { file++ }
/^wsbench_delivery_delay_seconds_bucket/ {
  match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5)
  key = le
  if (!(key in idx)) { n++; idx[key] = n; bound[n] = (le == "+Inf") ? -1 : le + 0 }
  i = idx[key]
  if (file == 1 && ARGC > 2) base[i] = $2 + 0; else cum[i] = $2 + 0 - base[i]
}
END {
  total = cum[n]
  if (total == 0) { print "server delivery delay: no samples"; exit }
  split("0.5 0.9 0.99 0.999", qs, " ")
  line = sprintf("server delivery delay (%d samples):", total)
  for (k = 1; k <= 4; k++) {
    rank = qs[k] * total; prevb = 0; prevc = 0; v = -1
    for (i = 1; i <= n; i++) {
      if (cum[i] >= rank) {
        if (bound[i] < 0) { v = -1 } else { v = prevb + (bound[i] - prevb) * (rank - prevc) / (cum[i] - prevc) }
        break
      }
      prevb = bound[i]; prevc = cum[i]
    }
    name = (qs[k] == 0.5) ? "p50" : (qs[k] == 0.9) ? "p90" : (qs[k] == 0.99) ? "p99" : "p99.9"
    line = line sprintf(" %s %s", name, (v < 0) ? ">" prevb*1000 "ms" : sprintf("%.2fms", v * 1000))
  }
  print line
}
