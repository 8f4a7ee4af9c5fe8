// Package promrw streams a run's per-interval measurements to a Prometheus
// remote-write endpoint (`wsbench run --push prometheus-rw=URL`), after
// k6's experimental-prometheus-rw output. In the data flow it sits beside
// the progress line: each closed report.Interval becomes one remote-write
// 1.0 request (protobuf, snappy block compression) with
//
//   - every counter as a cumulative series: wsbench_run_<name>_total, with
//     errors.X, conn.closed.X and conn.failed.X as one family each and X as
//     the label reason, code or kind;
//   - every gauge at the end of the interval (wsbench_run_vus,
//     wsbench_run_conns_open) and its peak during the interval
//     (wsbench_run_vus_peak, …);
//   - for every latency metric with samples in the interval, the interval's
//     percentiles wsbench_run_latency_seconds{metric, quantile} and the
//     cumulative sample count wsbench_run_latency_samples_total{metric};
//
// all labelled run_id, file (the scenario file's name) and segment. Every
// metric is pushed twice over: its run-wide total, with no scenario label,
// and each of its tagged series (report's tags.go), whose tags become
// labels: scenario="talkers" and the step tags (room="big"). A query for
// the totals selects scenario="" (summing every series would count each
// sample twice); one for a scenario selects scenario="talkers". The names
// differ from the reference server's /metrics (wsbench_connections, …) so
// that both can live in one Prometheus.
//
// Pushing never slows the load: Interval encodes on the caller's goroutine
// (microseconds, once per interval) and hands the request to a bounded
// queue drained by one sender goroutine; when the queue is full the batch
// is dropped and counted, and a request that fails is not retried (the
// next interval carries the cumulative counters anyway). Close gives the
// queue a bounded time to drain and reports what was sent and dropped.
package promrw

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/snappy"

	"github.com/wsbench/wsbench/report"
)

// Series names and labels, the contract with dashboards and queries.
const (
	Prefix         = "wsbench_run_"
	LatencySeconds = Prefix + "latency_seconds"       // labels metric, quantile
	LatencySamples = Prefix + "latency_samples_total" // label metric
	ErrorsTotal    = Prefix + "errors_total"          // label reason
	ClosedTotal    = Prefix + "conn_closed_total"     // label code
	FailedTotal    = Prefix + "conn_failed_total"     // label kind
	PeakSuffix     = "_peak"

	LabelRunID = "run_id"
	// LabelFile is the scenario file's name without its extension.
	LabelFile = "file"
	// LabelScenario is the scenario of a tagged series (report.TagScenario);
	// run-wide totals have none.
	LabelScenario = report.TagScenario
	LabelSegment  = "segment"
	LabelMetric   = "metric"
	LabelQuantile = "quantile"
)

// Quantiles are the percentiles pushed for every latency metric, as the
// label values of quantile; "1" is the interval's maximum.
var Quantiles = []struct {
	Label string
	Pct   float64
}{{"0.5", 50}, {"0.9", 90}, {"0.99", 99}, {"0.999", 99.9}, {"1", 100}}

// labelled maps the counter prefixes pushed as one family with a label.
var labelled = []struct{ prefix, family, label string }{
	{report.PrefixErrors, ErrorsTotal, "reason"},
	{report.PrefixConnClosed, ClosedTotal, "code"},
	{report.PrefixConnFailed, FailedTotal, "kind"},
}

// Kind is the name of this output in `wsbench run --push KIND=URL`.
const Kind = "prometheus-rw"

// Defaults of Config.
const (
	DefaultQueue   = 16
	DefaultTimeout = 5 * time.Second
	DefaultGrace   = 2 * time.Second
)

// Config says where and how to push.
type Config struct {
	URL     string // the remote-write endpoint, e.g. http://127.0.0.1:9090/api/v1/write
	RunID   string // label run_id
	File    string // label file: the scenario file's name
	Segment string // label segment ("" is pushed as "0:1")
	// Queue is how many encoded requests may wait for the sender; 0 means
	// DefaultQueue. Past it, batches are dropped.
	Queue int
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	Client  *http.Client // nil: a client of its own
	// Grace is how long Close waits for queued requests; 0 means
	// DefaultGrace.
	Grace time.Duration
	// Account, when set, receives Close's one-line account of what was
	// sent and dropped.
	Account io.Writer
}

// Stats says what became of the pushed intervals.
type Stats struct {
	Batches   int64 // intervals handed to Interval
	Sent      int64 // accepted by the endpoint (2xx)
	QueueFull int64 // dropped because the queue was full
	Failed    int64 // refused by the endpoint or not answered in time
	Unsent    int64 // still queued when Close gave up
	LastError string
}

// Dropped is every batch that did not reach the endpoint.
func (s Stats) Dropped() int64 { return s.QueueFull + s.Failed + s.Unsent }

// String is the one-line account printed after a run.
func (s Stats) String() string {
	line := fmt.Sprintf("%d of %d batch(es) sent, %d dropped", s.Sent, s.Batches, s.Dropped())
	if s.Dropped() > 0 {
		line += fmt.Sprintf(" (queue full %d, failed %d, unsent at exit %d)", s.QueueFull, s.Failed, s.Unsent)
	}
	if s.LastError != "" {
		line += "; last error: " + s.LastError
	}
	return line
}

// Pusher sends intervals to one endpoint; it is a report.Sink. Interval is
// meant to be called from one goroutine (the interval ticker); Stats is
// safe from any.
type Pusher struct {
	cfg    Config
	client *http.Client
	common []Label
	queue  chan []byte
	done   chan struct{}
	stop   context.CancelFunc
	ctx    context.Context

	samples map[string]int64 // cumulative latency sample counts, owned by Interval
	closed  bool

	batches, sent, queueFull, failed, unsent atomic.Int64
	errMu                                    sync.Mutex
	lastErr                                  string
}

// New checks cfg and starts the sender.
func New(cfg Config) (*Pusher, error) {
	if err := CheckURL(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Segment == "" {
		cfg.Segment = "0:1"
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 1}}
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &Pusher{
		cfg: cfg, client: client, ctx: ctx, stop: stop,
		common: []Label{
			{LabelRunID, cfg.RunID}, {LabelFile, cfg.File}, {LabelSegment, cfg.Segment},
		},
		queue:   make(chan []byte, cfg.Queue),
		done:    make(chan struct{}),
		samples: map[string]int64{},
	}
	go p.send()
	return p, nil
}

// CheckURL says what is wrong with a remote-write URL, if anything.
func CheckURL(raw string) error {
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return fmt.Errorf("prometheus-rw URL %q: want http:// or https://, e.g. http://127.0.0.1:9090/api/v1/write", raw)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("prometheus-rw URL %q: %w", raw, err)
	case u.Host == "":
		return fmt.Errorf("prometheus-rw URL %q: no host", raw)
	}
	return nil
}

// Interval encodes iv and queues it for sending. It never blocks: when the
// queue is full the batch is dropped and counted. A nil Pusher does
// nothing. A push that fails does not fail the run (the results are whole
// either way), so it returns nil; Stats and the account say what was
// dropped.
func (p *Pusher) Interval(iv *report.Interval) error {
	if p == nil || iv == nil || p.closed {
		return nil
	}
	p.batches.Add(1)
	body := snappy.Encode(nil, EncodeWriteRequest(p.Series(iv)))
	select {
	case p.queue <- body:
	default:
		p.queueFull.Add(1)
	}
	return nil
}

// Series turns iv into the time series Interval sends, every sample stamped
// with the end of the interval. It updates the cumulative latency counts,
// so call it once per interval.
func (p *Pusher) Series(iv *report.Interval) []TimeSeries {
	ts := iv.End.UnixMilli()
	out := make([]TimeSeries, 0, len(iv.Totals)+2*len(iv.Gauges)+len(iv.Latencies)*(len(Quantiles)+1))
	add := func(v float64, name string, extra ...Label) {
		labels := make([]Label, 0, 1+len(p.common)+len(extra))
		labels = append(labels, Label{"__name__", name})
		labels = append(labels, p.common...)
		labels = append(labels, extra...)
		slices.SortFunc(labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, TimeSeries{Labels: labels, Samples: []Sample{{Value: v, Timestamp: ts}}})
	}
	for _, name := range sortedKeys(iv.Totals) {
		metric, tags := TagLabels(name)
		family, extra := CounterSeries(metric)
		add(float64(iv.Totals[name]), family, append(extra, tags...)...)
	}
	for _, name := range sortedKeys(iv.Gauges) {
		metric, tags := TagLabels(name)
		add(float64(iv.Gauges[name]), GaugeSeries(metric), tags...)
		if peak, ok := iv.Peaks[name]; ok {
			add(float64(peak), GaugeSeries(metric)+PeakSuffix, tags...)
		}
	}
	for _, name := range sortedKeys(iv.Latencies) {
		h := iv.Latencies[name]
		base, tags := TagLabels(name)
		metric := Label{LabelMetric, base}
		if n := h.TotalCount(); n > 0 {
			for _, q := range Quantiles {
				v := h.ValueAtQuantile(q.Pct) // 100: the maximum (report.HistMax)
				add(time.Duration(v).Seconds(), LatencySeconds, append([]Label{metric, {LabelQuantile, q.Label}}, tags...)...)
			}
			p.samples[name] += n
		}
		add(float64(p.samples[name]), LatencySamples, append([]Label{metric}, tags...)...)
	}
	return out
}

// TagLabels splits a series name into its metric name and its tags as
// labels (none for a run-wide total).
func TagLabels(name string) (string, []Label) {
	metric, tags, ok := report.SplitSeries(name)
	if !ok {
		return name, nil
	}
	labels := make([]Label, len(tags))
	for i, t := range tags {
		labels[i] = Label{t.Key, t.Value}
	}
	return metric, labels
}

// CounterSeries returns the series name and extra label of counter name.
func CounterSeries(name string) (string, []Label) {
	for _, l := range labelled {
		if rest, ok := strings.CutPrefix(name, l.prefix); ok && rest != "" {
			return l.family, []Label{{l.label, rest}}
		}
	}
	return Prefix + sanitize(name) + "_total", nil
}

// GaugeSeries returns the series name of gauge name.
func GaugeSeries(name string) string { return Prefix + sanitize(name) }

// sanitize maps a wsbench metric name onto [a-zA-Z0-9_].
func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, name)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// send posts queued requests one at a time until Close.
func (p *Pusher) send() {
	defer close(p.done)
	for body := range p.queue {
		if p.ctx.Err() != nil {
			p.unsent.Add(1)
			continue
		}
		if err := p.post(body); err != nil {
			if p.ctx.Err() != nil { // abandoned by Close, not refused
				p.unsent.Add(1)
				continue
			}
			p.failed.Add(1)
			p.errMu.Lock()
			p.lastErr = err.Error()
			p.errMu.Unlock()
			continue
		}
		p.sent.Add(1)
	}
}

func (p *Pusher) post(body []byte) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "wsbench")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", p.cfg.URL, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Close drains the queue for at most Config.Grace and writes the account
// ("push:      prometheus-rw URL run_id=ID: 9 of 9 batch(es) sent, 0
// dropped") to Config.Account. It returns nil: see Interval.
func (p *Pusher) Close() error {
	if p == nil || p.closed {
		return nil
	}
	st := p.Drain(p.cfg.Grace)
	if p.cfg.Account != nil {
		fmt.Fprintf(p.cfg.Account, "push:      %s %s run_id=%s: %s\n", Kind, p.cfg.URL, p.cfg.RunID, st)
	}
	return nil
}

// Drain stops taking intervals and waits up to grace for the queued ones
// to be sent; what is still queued or in flight then is abandoned and
// counted as unsent. It returns the final Stats. Call it from the
// goroutine that calls Interval, after the last Interval.
func (p *Pusher) Drain(grace time.Duration) Stats {
	if p == nil {
		return Stats{}
	}
	if !p.closed {
		p.closed = true
		close(p.queue)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
			p.stop() // fails the request in flight, skips the rest
			<-p.done
		}
		t.Stop()
		p.stop()
	}
	return p.Stats()
}

// Stats returns the counts so far.
func (p *Pusher) Stats() Stats {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return Stats{
		Batches: p.batches.Load(), Sent: p.sent.Load(), QueueFull: p.queueFull.Load(),
		Failed: p.failed.Load(), Unsent: p.unsent.Load(), LastError: p.lastErr,
	}
}

// NewRunID returns a random run id (16 hex digits).
func NewRunID() string { return fmt.Sprintf("%016x", rand.Uint64()) }
