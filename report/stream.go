package report

// stream.go carries measurements from worker processes to the process that
// started them (`wsbench run --workers N`): each worker writes one JSON
// line per closed interval and one with its final Results; the parent
// decodes them and a Combiner folds the workers' intervals into one live
// view for the progress line and the interval log. The final summary comes
// from Merge of the workers' Results, which is exact.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// StreamRecord is one line of a worker's stream.
type StreamRecord struct {
	Type     string          `json:"type"` // StreamInterval or StreamResults
	Interval *streamInterval `json:"interval,omitempty"`
	Results  *Results        `json:"results,omitempty"`
}

// Stream record types.
const (
	StreamInterval = "interval"
	StreamResults  = "results"
)

type streamInterval struct {
	Start     time.Time         `json:"start"`
	End       time.Time         `json:"end"`
	Elapsed   time.Duration     `json:"elapsed_ns"`
	Counters  map[string]int64  `json:"counters,omitempty"`
	Totals    map[string]int64  `json:"totals,omitempty"`
	Gauges    map[string]int64  `json:"gauges,omitempty"`
	Peaks     map[string]int64  `json:"peaks,omitempty"`
	Latencies map[string]string `json:"latencies,omitempty"` // V2 compressed, base64
}

// StreamWriter writes a worker's stream; it is safe for concurrent use.
type StreamWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewStreamWriter returns a StreamWriter on w.
func NewStreamWriter(w io.Writer) *StreamWriter { return &StreamWriter{enc: json.NewEncoder(w)} }

// Interval writes iv as one line. Histograms without samples are left out.
func (s *StreamWriter) Interval(iv *Interval) error {
	si := &streamInterval{
		Start: iv.Start, End: iv.End, Elapsed: iv.Elapsed,
		Counters: iv.Counters, Totals: iv.Totals, Gauges: iv.Gauges, Peaks: iv.Peaks,
		Latencies: make(map[string]string, len(iv.Latencies)),
	}
	for name, h := range iv.Latencies {
		if h.TotalCount() == 0 {
			continue
		}
		b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
		if err != nil {
			return fmt.Errorf("stream interval: encode %q: %w", name, err)
		}
		si.Latencies[name] = string(b)
	}
	return s.write(StreamRecord{Type: StreamInterval, Interval: si})
}

// Close does nothing: the stream ends with WriteResults. It makes
// StreamWriter a Sink.
func (s *StreamWriter) Close() error { return nil }

// WriteResults writes the worker's final results as one line.
func (s *StreamWriter) WriteResults(r *Results) error {
	return s.write(StreamRecord{Type: StreamResults, Results: r})
}

func (s *StreamWriter) write(rec StreamRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enc.Encode(rec); err != nil {
		return fmt.Errorf("write %s record: %w", rec.Type, err)
	}
	return nil
}

// StreamReader decodes a worker's stream.
type StreamReader struct {
	sc   *bufio.Scanner
	line int
}

// NewStreamReader returns a StreamReader on r.
func NewStreamReader(r io.Reader) *StreamReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 256<<20) // a results line holds every histogram
	return &StreamReader{sc: sc}
}

// Next returns the next record: exactly one of iv and res is set. It
// returns io.EOF at the end of the stream, and an error naming the line
// for anything that is not a stream record.
func (s *StreamReader) Next() (iv *Interval, res *Results, err error) {
	if !s.sc.Scan() {
		if err := s.sc.Err(); err != nil {
			return nil, nil, fmt.Errorf("stream line %d: %w", s.line+1, err)
		}
		return nil, nil, io.EOF
	}
	s.line++
	var rec struct {
		Type     string          `json:"type"`
		Interval *streamInterval `json:"interval"`
		Results  json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(s.sc.Bytes(), &rec); err != nil {
		return nil, nil, fmt.Errorf("stream line %d: %w", s.line, err)
	}
	switch {
	case rec.Type == StreamInterval && rec.Interval != nil:
		iv, err := rec.Interval.decode()
		if err != nil {
			return nil, nil, fmt.Errorf("stream line %d: %w", s.line, err)
		}
		return iv, nil, nil
	case rec.Type == StreamResults && rec.Results != nil:
		res, err := ReadJSON(bytes.NewReader(rec.Results))
		if err != nil {
			return nil, nil, fmt.Errorf("stream line %d: %w", s.line, err)
		}
		return nil, res, nil
	}
	return nil, nil, fmt.Errorf("stream line %d: not an interval or results record (type %q)", s.line, rec.Type)
}

func (si *streamInterval) decode() (*Interval, error) {
	iv := &Interval{
		Start: si.Start, End: si.End, Elapsed: si.Elapsed,
		Counters: orEmpty(si.Counters), Totals: orEmpty(si.Totals), Gauges: orEmpty(si.Gauges),
		Peaks:     orEmpty(si.Peaks),
		Latencies: make(map[string]*hdr.Histogram, len(si.Latencies)),
	}
	for name, enc := range si.Latencies {
		h, err := hdr.Decode([]byte(enc))
		if err != nil {
			return nil, fmt.Errorf("interval latency %q: %w", name, err)
		}
		iv.Latencies[name] = h
	}
	return iv, nil
}

func orEmpty(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// Combiner folds the intervals of several sources (worker processes) into
// one interval per Tick: counter deltas and histograms add up over what
// arrived since the previous Tick; totals and gauges are the sum of each
// source's latest values, gauge peaks the sum of each source's highest
// peak since the previous Tick (an upper bound of the combined peak). It
// is safe for concurrent use.
type Combiner struct {
	mu       sync.Mutex
	start    time.Time
	lastTick time.Time
	deltas   map[string]int64
	hists    map[string]*hdr.Histogram
	totals   []map[string]int64 // per source, latest
	gauges   []map[string]int64 // per source, latest
	peaks    []map[string]int64 // per source, highest since the last Tick
}

// NewCombiner returns a Combiner for n sources of a run started at start.
func NewCombiner(n int, start time.Time) *Combiner {
	return &Combiner{
		start: start, lastTick: start,
		deltas: map[string]int64{}, hists: map[string]*hdr.Histogram{},
		totals: make([]map[string]int64, n), gauges: make([]map[string]int64, n),
		peaks: make([]map[string]int64, n),
	}
}

// Add takes one interval of source src (0-based).
func (c *Combiner) Add(src int, iv *Interval) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range iv.Counters {
		c.deltas[k] += v
	}
	for name, h := range iv.Latencies {
		dst := c.hists[name]
		if dst == nil {
			dst = newHist()
			c.hists[name] = dst
		}
		dst.Merge(h)
	}
	if src >= 0 && src < len(c.totals) {
		c.totals[src] = iv.Totals
		c.gauges[src] = iv.Gauges
		if c.peaks[src] == nil {
			c.peaks[src] = map[string]int64{}
		}
		for k, v := range iv.Peaks {
			c.peaks[src][k] = max(c.peaks[src][k], v)
		}
	}
}

// Tick closes the combined interval at now.
func (c *Combiner) Tick(now time.Time) *Interval {
	c.mu.Lock()
	defer c.mu.Unlock()
	iv := &Interval{
		Start: c.lastTick, End: now, Elapsed: now.Sub(c.start),
		Counters: c.deltas, Totals: map[string]int64{}, Gauges: map[string]int64{},
		Peaks: map[string]int64{}, Latencies: c.hists,
	}
	for i := range c.totals {
		for k, v := range c.totals[i] {
			iv.Totals[k] += v
		}
		for k, v := range c.gauges[i] {
			iv.Gauges[k] += v
		}
		peaks := c.peaks[i]
		if peaks == nil { // nothing new from this source: its latest value
			peaks = c.gauges[i]
		}
		for k, v := range peaks {
			iv.Peaks[k] += v
		}
		c.peaks[i] = nil
	}
	for k := range iv.Totals {
		if _, ok := iv.Counters[k]; !ok {
			iv.Counters[k] = 0
		}
	}
	for _, h := range c.hists {
		h.SetStartTimeMs(iv.Start.UnixMilli())
		h.SetEndTimeMs(now.UnixMilli())
	}
	c.deltas, c.hists = map[string]int64{}, map[string]*hdr.Histogram{}
	c.lastTick = now
	return iv
}
