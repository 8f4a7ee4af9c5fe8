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
// are not listed; report.CheckThresholdMetric knows them.
func (p *Plan) MetricNames() []string {
	names := report.RecordedMetrics()
	sio := p.Connect.Protocol == ProtoSocketIO
	var walk func(steps []Step, paced bool)
	latency := func(name string, paced bool) {
		names = append(names, name)
		if paced {
			names = append(names, name+report.RawSuffix)
		}
	}
	walk = func(steps []Step, paced bool) {
		for i := range steps {
			st := &steps[i]
			k := &stepKinds[st.Kind]
			if k.latency != nil {
				if name, timed := k.latency(st); name != "" {
					latency(name, paced && timed)
				}
			}
			switch st.Kind {
			case StepConnect:
				sio = sio || st.Connect.Options.Protocol == ProtoSocketIO
			case StepEmit:
				sio = true
			}
			if inner, _ := blockSteps(st); inner != nil {
				walk(inner, paced || (st.Kind == StepRepeat && st.Repeat.Every > 0))
			}
		}
	}
	for _, sc := range p.Scenarios {
		sio = sio || sc.Connect.Protocol == ProtoSocketIO
		walk(sc.Steps, false)
		for _, l := range sc.Listeners {
			names = append(names, report.PrefixListener+l.Name)
			if l.LatencyField != "" {
				names = append(names, l.Name)
			}
		}
	}
	if sio {
		names = append(names, metricSIOConnect, metricSIOPongs, metricSIODisconnected,
			errSIO, errSIOAckMismatch, errSIOAckTimeout, errSIOPacket)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
