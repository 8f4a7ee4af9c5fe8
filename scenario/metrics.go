package scenario

// metrics.go answers which metric names a plan can record, so that a
// threshold on a name nothing records (a typo) is rejected before the run
// instead of failing with "no data" after it.

import (
	"slices"

	"github.com/wsbench/wsbench/report"
)

// Metric names of the Socket.IO layer (socketio.go), recorded by plans that
// speak Socket.IO.
const (
	metricSIOConnect      = "socketio.connect"
	metricSIOPongs        = "socketio.pongs"
	metricSIODisconnected = "socketio.disconnected"
	errSIO                = "errors.socketio"
	errSIOAckMismatch     = "errors.ack_mismatch"
	errSIOAckTimeout      = "errors.ack_timeout"
	errSIOPacket          = "errors.socketio_packet"
)

// MetricNames lists, sorted, every latency, counter and gauge name a run of
// p can record: the fixed ones of every run (report.RecordedMetrics), the
// latencies its expect, ping, group and emit steps name (with "<name>.raw"
// under a paced repeat), its listeners' counters and latencies, and the
// Socket.IO metrics when it speaks Socket.IO. The counter families whose
// members are named at run time (conn.failed.<kind>, conn.closed.<code>)
// are not listed; report.Recordable knows them.
func (p *Plan) MetricNames() []string { return p.MetricNamesFor(nil) }

// MetricNamesFor lists, sorted, the names MetricNames lists that a series
// whose tags contain sel can record (all of them for an empty sel): the
// fixed metrics, listeners and Socket.IO metrics of the scenarios whose
// tags contain sel, and the latencies of the steps recorded under tags that
// contain it (tags.go).
func (p *Plan) MetricNamesFor(sel report.Tags) []string {
	var names []string
	sioFile := p.Connect.Protocol == ProtoSocketIO
	for _, sc := range p.Scenarios {
		base := sc.Tags()
		scenarioWide := base.Contains(sel)
		sio := sioFile || sc.Connect.Protocol == ProtoSocketIO
		var walk func(steps []Step, paced bool, tags report.Tags)
		walk = func(steps []Step, paced bool, tags report.Tags) {
			for i := range steps {
				st := &steps[i]
				t := tags
				if len(st.Tags) > 0 {
					t = mergeTags(tags, st.Tags)
				}
				k := &stepKinds[st.Kind]
				if k.latency != nil && t.Contains(sel) {
					if name, timed := k.latency(st); name != "" {
						names = append(names, name)
						if paced && timed {
							names = append(names, name+report.RawSuffix)
						}
					}
				}
				switch st.Kind {
				case StepConnect:
					sio = sio || st.Connect.Options.Protocol == ProtoSocketIO
				case StepEmit:
					sio = true
				}
				if inner, _ := blockSteps(st); inner != nil {
					walk(inner, paced || (st.Kind == StepRepeat && st.Repeat.Every > 0), t)
				}
			}
		}
		walk(sc.Steps, false, base)
		if !scenarioWide {
			continue
		}
		names = append(names, report.RecordedMetrics()...)
		for _, l := range sc.Listeners {
			names = append(names, report.PrefixListener+l.Name)
			if l.LatencyField != "" {
				names = append(names, l.Name)
			}
		}
		if sio {
			names = append(names, metricSIOConnect, metricSIOPongs, metricSIODisconnected,
				errSIO, errSIOAckMismatch, errSIOAckTimeout, errSIOPacket)
		}
	}
	if len(sel) == 0 {
		names = append(names, report.RecordedMetrics()...) // a plan without scenarios still records them
	} else {
		// The load generator's own metrics belong to no scenario.
		names = slices.DeleteFunc(names, func(n string) bool { return n == report.SchedLatency || n == report.ErrClampedSample })
	}
	slices.Sort(names)
	return slices.Compact(names)
}
