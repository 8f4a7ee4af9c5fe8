package scenario

import (
	_ "embed"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/wsbench/wsbench/report"
)

// checkConnected reports send, expect, ping and close steps that can run
// while the VU has no connection: before any connect, or after a close with
// no connect in between. Repeat bodies are walked twice so a close at the
// end of one round is caught before the next round's sends.
func (d *decoder) checkConnected(steps []Step, field string) {
	d.walkConnected(steps, field, false)
}

func (d *decoder) walkConnected(steps []Step, field string, connected bool) bool {
	for i := range steps {
		st := &steps[i]
		f := index(field, i)
		switch stepKinds[st.Kind].conn {
		case connOpens:
			connected = true
		case connNeeds, connEnds:
			if !connected {
				d.errs = append(d.errs, &Error{Pos: st.Pos, Field: f, Msg: fmt.Sprintf("%s without an open connection: add a `connect` step before it", st.Kind)})
				connected = true // report once per gap
			}
			if stepKinds[st.Kind].conn == connEnds {
				connected = false
			}
		}
		if inner, rounds := blockSteps(st); inner != nil {
			body := join(f, st.Kind.String()+".steps")
			connected = d.walkConnected(inner, body, connected)
			if rounds {
				connected = d.walkConnected(inner, body, connected)
			}
		}
	}
	return connected
}

// scenarioCaptures returns the variable names captured by any expect in steps.
func scenarioCaptures(steps []Step) map[string]bool {
	out := map[string]bool{}
	WalkSteps(steps, func(st *Step) {
		if st.Kind == StepExpect {
			for name := range st.Expect.Capture {
				out[name] = true
			}
		}
	})
	return out
}

func sortStrings(s []string) []string {
	slices.Sort(s)
	return s
}

// checkThreshold validates an expression with the report package's parser,
// the one that evaluates it after the run.
func checkThreshold(expr string) error {
	_, err := report.ParseThreshold(expr)
	return err
}

// checkSource validates a source address spec: an IP, an IPv4 range
// "a.b.c.d-a.b.c.e", or a CIDR prefix.
func checkSource(spec string) error {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil
	case strings.Contains(spec, "/"):
		if _, _, err := net.ParseCIDR(spec); err != nil {
			return fmt.Errorf("invalid source prefix %q: %w", spec, err)
		}
	case strings.Contains(spec, "-"):
		lo, hi, _ := strings.Cut(spec, "-")
		a, b := net.ParseIP(strings.TrimSpace(lo)).To4(), net.ParseIP(strings.TrimSpace(hi)).To4()
		if a == nil || b == nil {
			return fmt.Errorf("invalid source range %q: want IPv4 addresses like 127.0.0.1-127.0.0.32", spec)
		}
		if string(a) > string(b) {
			return fmt.Errorf("invalid source range %q: start after end", spec)
		}
	default:
		if net.ParseIP(spec) == nil {
			return fmt.Errorf("invalid source address %q", spec)
		}
	}
	return nil
}

// mergeConnect returns base with every non-zero field of over applied;
// headers merge by name.
func mergeConnect(base, over ConnectOptions) ConnectOptions {
	out := base
	if over.Path != "" {
		out.Path = over.Path
	}
	if len(over.Headers) > 0 {
		out.Headers = maps.Clone(base.Headers)
		if out.Headers == nil {
			out.Headers = make(map[string]string, len(over.Headers))
		}
		maps.Copy(out.Headers, over.Headers)
	}
	if over.Subprotocols != nil {
		out.Subprotocols = over.Subprotocols
	}
	if over.ConnectTimeout != 0 {
		out.ConnectTimeout = over.ConnectTimeout
	}
	if over.HandshakeTimeout != 0 {
		out.HandshakeTimeout = over.HandshakeTimeout
	}
	out.Compression = base.Compression || over.Compression
	out.Insecure = base.Insecure || over.Insecure
	if over.CAFile != "" {
		out.CAFile = over.CAFile
	}
	if over.Source != "" {
		out.Source = over.Source
	}
	if over.RecvBuffer != 0 {
		out.RecvBuffer = over.RecvBuffer
	}
	if over.Backoff.Initial != 0 {
		out.Backoff.Initial = over.Backoff.Initial
	}
	if over.Backoff.Max != 0 {
		out.Backoff.Max = over.Backoff.Max
	}
	mergeSocketIO(&out, over)
	return out
}

// JSONSchema is the JSON Schema (draft 2020-12) of scenario files, for
// editors (yaml-language-server) and tooling. It describes the same format
// Parse accepts; Parse additionally checks what a schema cannot (templates,
// regexes, connection order, thresholds).
//
//go:embed schema/wsbench.schema.json
var JSONSchema []byte
