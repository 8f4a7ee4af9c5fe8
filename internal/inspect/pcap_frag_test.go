package inspect

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestCaptureFragments: a conversation whose IP packets are fragmented
// (IPv4 and IPv6, fragments out of order) renders the same frames as the
// same conversation unfragmented.
func TestCaptureFragments(t *testing.T) {
	for _, tc := range []struct{ name, client, server string }{
		{"IPv4", "10.0.0.1", "10.0.0.2"},
		{"IPv6", "fd00::1", "fd00::2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := newConv(t, captureStart, tc.client, tc.server, 51000, 9999)
			conversation(t, plain, scriptedEvents(), -1, false)
			frag := newConv(t, captureStart, tc.client, tc.server, 51000, 9999)
			frag.fragMTU = 64
			conversation(t, frag, scriptedEvents(), -1, false)
			if len(frag.pkts) <= len(plain.pkts)+10 {
				t.Fatalf("%d packets fragmented, %d whole: nothing was fragmented", len(frag.pkts), len(plain.pkts))
			}
			var want, got bytes.Buffer
			wst, err := RenderCapture(&want, bytes.NewReader(writePcap(t, plain.pkts)), RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			gst, err := RenderCapture(&got, bytes.NewReader(writePcap(t, frag.pkts)), RenderOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, got.String())
			}
			if frameLines(got.String()) != frameLines(want.String()) || gst.Frames != wst.Frames || gst.Frames < 8 {
				t.Errorf("fragmented capture renders differently:\n--- fragmented\n%s\n--- whole\n%s", got.String(), want.String())
			}
			if !regexp.MustCompile(`-- \d+ IP fragment\(s\) reassembled into \d+ packet\(s\); 0 fragment\(s\) left over`).MatchString(got.String()) {
				t.Errorf("no reassembly note:\n%s", got.String())
			}
		})
	}
}

// TestCaptureFragmentMissing: a datagram missing a fragment is counted as
// left over, and the TCP bytes it carried show as a gap.
func TestCaptureFragmentMissing(t *testing.T) {
	conv := newConv(t, captureStart, "10.0.0.1", "10.0.0.2", 51000, 9999)
	conv.fragMTU = 64
	conversation(t, conv, scriptedEvents(), -1, false)
	// Drop the first fragment of the largest datagram (the server's
	// 300-byte binary frame).
	var drop = -1
	for i, p := range conv.pkts {
		if len(p.data) == 14+20+64 && bytes.Contains(p.data, []byte{1, 2, 3, 4, 5, 1, 2}) {
			drop = i
			break
		}
	}
	if drop < 0 {
		t.Fatal("no fragment to drop")
	}
	pkts := append(append([]capPkt(nil), conv.pkts[:drop]...), conv.pkts[drop+1:]...)
	var out bytes.Buffer
	if _, err := RenderCapture(&out, bytes.NewReader(writePcap(t, pkts)), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !regexp.MustCompile(`fragment\(s\) reassembled into \d+ packet\(s\); [1-9]\d* fragment\(s\) left over`).MatchString(s) || !strings.Contains(s, " gap ") {
		t.Errorf("want left-over fragments and a gap:\n%s", s)
	}
}
