package recgen

// generate.go is the generator's entry point: recorded connections in,
// one YAML scenario file out (one scenario per connection, or per group of
// alike connections), written deterministically.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options shape the generated file.
type Options struct {
	Target       string        // the file's target; "" = ws:// and the first recorded Host
	VUs          int           // VUs in all, split over the scenarios (at least 1 each)
	Duration     time.Duration // the file's duration; 0 = none
	Iterations   int           // per VU; 0 = until the duration ends
	ThinkScale   float64       // recorded pauses are multiplied by it
	ThinkMax     time.Duration // and capped at it (0: no cap)
	ThinkMin     time.Duration // shorter pauses are left out
	ReplyWindow  time.Duration // a server message later than this after a send is not its reply
	NoParams     bool          // keep recorded values as they are
	KeepAuth     bool          // write credential headers as {{env.…}} placeholders
	MergeSimilar bool          // one scenario per group of connections that did the same thing
	Version      string        // wsbench's version, for the header
}

// DefaultOptions are the command's defaults.
func DefaultOptions() Options {
	return Options{VUs: 10, Iterations: 1, ThinkScale: 1, ThinkMax: 10 * time.Second, ThinkMin: 10 * time.Millisecond, ReplyWindow: 5 * time.Second}
}

// Source is a file the connections came from, for the header.
type Source struct {
	Path  string
	Conns int
}

// Result is a generated file and what was changed to make it.
type Result struct {
	YAML      []byte
	Scenarios int
	Changes   []*Change // parameterisations
	Notes     []string  // what could not be replayed as recorded
}

// Generate writes the scenario file of conns (in the order given).
func Generate(sources []Source, conns []*Conn, o Options) (*Result, error) {
	if len(conns) == 0 {
		return nil, fmt.Errorf("no WebSocket connection in the recording")
	}
	if o.Iterations == 0 && o.Duration <= 0 {
		return nil, fmt.Errorf("--iterations 0 (replay until the end) needs --duration")
	}
	if o.VUs < 1 {
		o.VUs = 1
	}
	if o.ThinkScale < 0 {
		return nil, fmt.Errorf("--think-scale %g: use 0 or more", o.ThinkScale)
	}
	multi := len(sources) > 1
	res := &Result{}
	var kept []*Conn
	for _, c := range conns {
		// A refused upgrade, or plain HTTP through the relay (a page and
		// its assets): not a WebSocket connection.
		if st := c.Response.Status; c.Handshake && st != 0 && st != 101 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: the upgrade was answered %d, not 101: left out", c.Name(), st))
			continue
		}
		kept = append(kept, c)
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("no WebSocket connection in the recording (%s, none upgraded)", plural(len(conns), "connection"))
	}
	conns = kept
	var scripts []*script
	sigs := map[string]*script{}
	for _, c := range conns {
		s, p := buildScript(c, &o)
		res.Changes = append(res.Changes, p.changes...)
		for _, n := range s.notes {
			res.Notes = append(res.Notes, c.Name()+": "+n)
		}
		if o.MergeSimilar {
			sig := s.signature()
			if g := sigs[sig]; g != nil {
				g.members = append(g.members, c)
				continue
			}
			sigs[sig] = s
		}
		s.name = "c" + strconv.FormatUint(c.N, 10)
		if multi {
			s.name = safeName(strings.TrimSuffix(filepath.Base(c.Source), filepath.Ext(c.Source)), "source") + "-" + s.name
		}
		scripts = append(scripts, s)
	}
	// Names must be unique (two sources with one base name).
	seen := map[string]int{}
	for _, s := range scripts {
		seen[s.name]++
		if n := seen[s.name]; n > 1 {
			s.name += "-" + strconv.Itoa(n)
		}
	}
	res.Changes = mergeChanges(res.Changes)
	res.Scenarios = len(scripts)
	res.YAML = []byte(writeFile(sources, conns, scripts, &o))
	return res, nil
}

// signature is what --merge-similar compares: the protocol, the path
// without its query, and the steps' kinds and message kinds (not their
// times or values).
func (s *script) signature() string {
	var b strings.Builder
	b.WriteString(strconv.FormatBool(s.connect.socketio) + " " + strings.SplitN(s.connect.path, "?", 2)[0] + " " + s.connect.namespace)
	for _, st := range s.steps {
		switch st.kind {
		case sSend:
			k := "text"
			switch {
			case st.binary != nil:
				k = "binary"
			case st.json != nil:
				k = "json:" + discriminator(st.json)
			}
			b.WriteString("|send " + k)
		case sExpect:
			b.WriteString("|expect " + st.name + " " + st.event)
			if st.match != nil {
				b.WriteString(" " + discriminator(st.match))
			}
		case sEmit:
			b.WriteString("|emit " + st.event + " " + strconv.FormatBool(st.ack))
		}
	}
	return b.String()
}

// splitVUs shares total over weights: in proportion, largest remainder
// first, at least 1 each.
func splitVUs(total int, weights []int) []int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	out := make([]int, len(weights))
	type rem struct {
		i int
		r float64
	}
	var rems []rem
	given := 0
	for i, w := range weights {
		exact := float64(total) * float64(w) / float64(sum)
		out[i] = int(exact)
		given += out[i]
		rems = append(rems, rem{i, exact - float64(out[i])})
	}
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.r > b.r:
			return -1
		case a.r < b.r:
			return 1
		}
		return 0
	})
	for k := 0; given < total && k < len(rems); k++ {
		out[rems[k].i]++
		given++
	}
	for i := range out {
		if out[i] < 1 {
			out[i] = 1
		}
	}
	return out
}

// fmtOffset is a time since a connection's start, as comments show it.
func fmtOffset(d time.Duration) string {
	return "+" + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

// fmtLatency is a recorded latency for a comment.
func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

// writeFile renders the scenario file.
func writeFile(sources []Source, conns []*Conn, scripts []*script, o *Options) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	version := o.Version
	if version == "" {
		version = "dev"
	}
	w("# Generated by `wsbench scenario from` (wsbench %s) from:\n", version)
	for _, s := range sources {
		w("#   %s: %s\n", filepath.Base(s.Path), plural(s.Conns, "connection"))
	}
	w("# Each scenario replays one recorded connection (or, with --merge-similar,\n")
	w("# a group of connections that did the same thing): the upgrade, the\n")
	w("# client's messages as sends or emits, the server replies the client waited\n")
	w("# for as expects (recorded latency in a comment), its pauses as thinks.\n")
	w("# Per-VU values are templates; the generator's rules and limits are in\n")
	w("# docs/recording.md.\n")
	target, why := o.Target, "given with --target"
	if target == "" {
		target, why = "builtin", "no Host was recorded"
		for _, c := range conns {
			if h := c.Request.Get("Host"); h != "" {
				target, why = "ws://"+h, "the recorded Host header (a relay's own address when recorded through inspect --listen); wsbench run --target URL overrides it"
				break
			}
		}
	}
	w("target: %s  # %s\n", quote(target), why)
	if o.Duration > 0 {
		w("duration: %s\n", o.Duration)
	}
	w("thresholds:\n  - errors count == 0\n")
	w("scenarios:\n")
	weights := make([]int, len(scripts))
	for i, s := range scripts {
		weights[i] = len(s.members)
	}
	vus := splitVUs(o.VUs, weights)
	for i, s := range scripts {
		c := s.conn
		w("  %s:\n", s.name)
		w("    # %s: upgrade at %s, %s sent, %s received\n", c.Name(), c.Start.UTC().Format("2006-01-02T15:04:05.000000Z"), plural(s.sent, "message"), plural(s.recv, "message"))
		if len(s.members) > 1 {
			w("    # the same sequence (--merge-similar): %s\n", connRanges(s.members[1:]))
		}
		for _, n := range s.notes {
			w("    # note: %s\n", n)
		}
		w("    vus: %d\n", vus[i])
		if o.Iterations > 0 {
			w("    iterations: %d\n", o.Iterations)
		}
		s.writeConnect(w)
		w("    steps:\n")
		for _, st := range s.steps {
			s.writeStep(w, &st, o)
		}
	}
	return b.String()
}

func (s *script) writeConnect(w func(string, ...any)) {
	co := &s.connect
	w("    connect:\n")
	if co.socketio {
		w("      protocol: socketio\n")
	}
	if co.path != "" {
		w("      path: %s\n", quote(co.path))
	}
	if co.namespace != "" {
		w("      namespace: %s\n", quote(co.namespace))
	}
	if co.auth != nil {
		w("      auth: %s\n", co.auth.yamlString())
	}
	if len(co.headers) > 0 {
		w("      headers:\n")
		for _, h := range co.headers {
			w("        %s: %s\n", quote(h[0]), quote(h[1]))
		}
	}
	if len(co.omitted) > 0 {
		w("      # left out: %s (credentials; --keep-auth writes them as {{env.…}} placeholders)\n", strings.Join(co.omitted, ", "))
	}
	if len(co.subprotocols) > 0 {
		var q []string
		for _, p := range co.subprotocols {
			q = append(q, quote(p))
		}
		w("      subprotocols: [%s]\n", strings.Join(q, ", "))
	}
	if co.compression {
		w("      compression: true\n")
	}
}

func (s *script) writeStep(w func(string, ...any), st *step, o *Options) {
	switch st.kind {
	case sConnect:
		w("      - connect\n")
	case sClose:
		w("      - close  # %s\n", fmtOffset(st.at))
	case sThink:
		comment := ""
		if st.recorded.Round(time.Millisecond) != st.think {
			comment = "  # recorded " + fmtLatency(st.recorded)
		}
		w("      - think: %s%s\n", st.think, comment)
	case sSend:
		var payload string
		switch {
		case st.binary != nil:
			payload = "binary_base64: " + quote(b64(st.binary))
		case st.json != nil:
			payload = "json: " + st.json.yamlString()
		default:
			payload = "text: " + quote(st.text)
		}
		w("      - send: {%s}  # %s\n", payload, fmtOffset(st.at))
	case sEmit:
		fields := []string{"event: " + quote(st.event)}
		if len(st.args) > 0 {
			a := &value{kind: kArr, arr: st.args}
			fields = append(fields, "args: "+a.yamlString())
		}
		if st.binary != nil {
			fields = append(fields, "binary_base64: "+quote(b64(st.binary)))
		}
		comment := fmtOffset(st.at)
		if st.ack {
			fields = append(fields, "name: "+st.name, "ack: true")
			if st.timeout > 0 {
				fields = append(fields, "timeout: "+st.timeout.String())
			}
			comment += ", ack after " + fmtLatency(st.latency)
		}
		w("      - emit: {%s}  # %s\n", strings.Join(fields, ", "), comment)
	case sExpect:
		fields := []string{"name: " + st.name}
		if st.event != "" {
			fields = append(fields, "event: "+quote(st.event))
		}
		if st.match != nil {
			fields = append(fields, "json: "+st.match.yamlString())
		}
		if st.regex != "" {
			fields = append(fields, "regex: "+quote(st.regex))
		}
		if st.binOnly {
			fields = append(fields, "binary: true")
		}
		if st.timeout > 0 {
			fields = append(fields, "timeout: "+st.timeout.String())
		}
		w("      - expect: {%s}  # %s, after %s\n", strings.Join(fields, ", "), fmtOffset(st.at), fmtLatency(st.latency))
	}
}
