package scenario

// connfail.go names why a dial failed, for conn.failed.<reason> and the
// example message the summary shows beside each reason.

import (
	"errors"

	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/report"
)

// Reasons of failed dials (conn.failed.<reason>), besides the Socket.IO
// ones of socketio.go.
const (
	FailRefused    = string(dialer.KindRefused) // TCP connection refused
	FailTimeout    = string(dialer.KindTimeout) // connect or upgrade timed out
	FailDNS        = string(dialer.KindDNS)
	FailTLS        = string(dialer.KindTLS)       // TLS handshake or certificate verification
	FailAddr       = string(dialer.KindAddr)      // no local address/port: bad --source, ephemeral ports used up
	FailHTTPStatus = "http_status"                // the server answered the upgrade with another status than 101
	FailHandshake  = string(dialer.KindHandshake) // a malformed 101, or the server closed before answering
	FailReset      = string(dialer.KindReset)
	FailOther      = string(dialer.KindOther)
)

// connFailReason classifies a failed dial.
func connFailReason(err error) string {
	k := dialer.Kind(err)
	switch k {
	case dialer.KindHandshake:
		var he *dialer.HandshakeError
		if errors.As(err, &he) && he.Status != 0 && he.Status != 101 {
			return FailHTTPStatus
		}
		return FailHandshake
	case dialer.KindClosed, dialer.KindProtocol, "":
		return FailOther
	}
	return string(k)
}

// countDialFailure counts a failed dial under its reason and keeps the
// first error of each reason as the summary's example.
func (m *metrics) countDialFailure(reason string, err error) {
	name := report.PrefixConnFailed + reason
	m.counter(name).Inc()
	m.reg.Example(name, err.Error())
}
