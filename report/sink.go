package report

// sink.go is how the per-interval outputs of a run (the progress line, the
// interval log, a worker's stream to its parent, the Prometheus push in
// report/promrw) receive its measurements: each implements Sink, and one
// Sinks value fed by Feed hands every closed Interval to all of them.

import (
	"errors"
	"fmt"
	"time"
)

// Sink receives the intervals of a run as they close, then Close once
// after the last.
type Sink interface {
	Interval(iv *Interval) error
	Close() error
}

// Sinks hands each interval to every sink added, in the order added. A
// sink whose Interval fails gets no further intervals; its first error is
// returned by Close, named. Sinks is itself a Sink.
type Sinks struct {
	sinks  []namedSink
	closed bool
}

type namedSink struct {
	Sink
	name string // what the errors are about, e.g. "--hlog out.hlog"
	err  error
}

// Add attaches s under name.
func (s *Sinks) Add(name string, sink Sink) {
	s.sinks = append(s.sinks, namedSink{Sink: sink, name: name})
}

// Interval hands iv to every sink that has not failed. It returns nil:
// failures are kept for Close, so that one failing output does not stop
// the others.
func (s *Sinks) Interval(iv *Interval) error {
	for i := range s.sinks {
		if k := &s.sinks[i]; k.err == nil {
			k.err = k.Interval(iv)
		}
	}
	return nil
}

// Close closes every sink in order, once (later calls return nil), and
// returns each sink's first Interval error and its Close error, named.
func (s *Sinks) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, k := range s.sinks {
		err := errors.Join(k.err, k.Close())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.name, err))
		}
	}
	return errors.Join(errs...)
}

// Feed closes an interval with next every period and hands it to s until
// done is closed; then it closes the last, partial interval at once and
// returns its end.
func Feed(s Sink, period time.Duration, done <-chan struct{}, next func(now time.Time) *Interval) time.Time {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			_ = s.Interval(next(now))
		case <-done:
			end := time.Now()
			_ = s.Interval(next(end))
			return end
		}
	}
}
