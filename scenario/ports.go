package scenario

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/wsbench/wsbench/dialer"
)

// SourcePressure says, when the plan can hold more connections from one
// source address than half of the machine's ephemeral port range, that
// connect() will slow down and how to spread the load.
//
// Linux's connect() picks a free local port by walking the range, first over
// the ports of one parity (the other half is kept for bind()); once that half
// is in use every connect() walks most of the range. Measured on the 2-core
// machine behind BENCHMARKS.md: 19,000 held connections from 127.0.0.1 spent
// 62 % of the load generator's CPU inside connect(), 13 % when spread over
// eight loopback addresses with --source. The warning is empty when the plan
// is under the bound; ports is the size of the local port range (0: read it
// from /proc, with Linux's default when that fails).
func (p *Plan) SourcePressure(ports int) string {
	if ports <= 0 {
		ports = LocalPortRange()
	}
	perSpec := map[string]int{}
	for _, sc := range p.Scenarios {
		perSpec[sc.Connect.Source] += sc.Load.peakConns()
	}
	worst, spec, n := 0.0, "", 1
	for s, conns := range perSpec {
		addrs := 1
		if s != "" {
			if pool, err := dialer.ParseSources(s); err == nil {
				addrs = pool.Len()
			}
		}
		if per := float64(conns) / float64(addrs); per > worst {
			worst, spec, n = per, s, addrs
		}
	}
	if worst <= float64(ports)/2 {
		return ""
	}
	need := int(worst*float64(n)/(float64(ports)/4)) + 1 // a quarter of the range each
	from := "one source address"
	if spec != "" {
		from = fmt.Sprintf("--source %s (%d address(es))", spec, n)
	}
	return fmt.Sprintf("up to %.0f connections per address from %s, more than half of the %d local ports: "+
		"connect() slows down as the port search fills; spread them, e.g. --source 127.0.0.1-127.0.0.%d against a loopback target",
		worst, from, ports, min(need, 254))
}

// peakConns is the most connections the load can hold at once: the peak VU
// count of a closed model, max_vus of an open one.
func (l *Load) peakConns() int {
	if l.Model == Open {
		return l.MaxVUs
	}
	return int(l.peak())
}

// LocalPortRange is the number of ports in
// /proc/sys/net/ipv4/ip_local_port_range, or Linux's default 28,232 when it
// cannot be read.
func LocalPortRange() int {
	const linuxDefault = 60999 - 32768 + 1
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return linuxDefault
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return linuxDefault
	}
	return hi - lo + 1
}
