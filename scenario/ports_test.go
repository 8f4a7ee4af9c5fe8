package scenario

import (
	"strings"
	"testing"
)

func TestSourcePressure(t *testing.T) {
	const ports = 28232
	cases := []struct {
		name, yaml string
		warn       string // substring; "" means no warning
	}{
		{"small closed run", "scenarios:\n  a:\n    vus: 1000\n    steps: [connect]\n", ""},
		{"19,000 from one address", "scenarios:\n  a:\n    vus: 0\n    stages: [{duration: 1s, target: 19000}]\n    steps: [connect]\n",
			"up to 19000 connections per address from one source address"},
		{"two scenarios add up", "scenarios:\n  a:\n    vus: 8000\n    steps: [connect]\n  b:\n    vus: 8000\n    steps: [connect]\n",
			"16000 connections"},
		{"spread over eight addresses", "connect: {source: 127.0.0.1-127.0.0.8}\nscenarios:\n  a:\n    vus: 19000\n    steps: [connect]\n", ""},
		{"open model counts max_vus", "scenarios:\n  a:\n    arrival_rate: 100\n    max_vus: 15000\n    steps: [connect]\n",
			"--source 127.0.0.1-127.0.0.3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("t.yaml", []byte("target: ws://127.0.0.1:1\nduration: 1s\n"+c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := p.SourcePressure(ports)
			if c.warn == "" && got != "" || c.warn != "" && !strings.Contains(got, c.warn) {
				t.Fatalf("SourcePressure = %q, want %q", got, c.warn)
			}
		})
	}
}
