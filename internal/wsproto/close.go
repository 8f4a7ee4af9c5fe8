package wsproto

import (
	"encoding/binary"
	"unicode/utf8"
)

// Close status codes with a meaning of their own (RFC 6455 section 7.4.1
// and the IANA "WebSocket Close Code Number" registry).
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001
	CloseProtocolError   uint16 = 1002
	CloseUnsupportedData uint16 = 1003
	CloseNoStatus        uint16 = 1005 // never on the wire: the frame had no body
	CloseAbnormal        uint16 = 1006 // never on the wire: no close frame at all
	CloseInvalidPayload  uint16 = 1007
	ClosePolicyViolation uint16 = 1008
	CloseTooBig          uint16 = 1009
	CloseMandatoryExt    uint16 = 1010
	CloseInternalError   uint16 = 1011
	CloseServiceRestart  uint16 = 1012
	CloseTryAgainLater   uint16 = 1013
	CloseBadGateway      uint16 = 1014
	CloseTLSHandshake    uint16 = 1015 // never on the wire
)

// ValidCloseCode reports whether an endpoint may put code in a close frame
// and whether a receiver must accept it:
//
//   - 1000-1003 and 1007-1011 are defined by RFC 6455;
//   - 1012-1014 were registered with IANA later (npm ws and browsers accept
//     them; gobwas/ws v1.5 predates them);
//   - 1004 is reserved, and 1005, 1006 and 1015 must never be sent;
//   - 1016-2999 are reserved for future protocol use, so no one may send
//     them yet;
//   - 3000-3999 are registered for libraries and 4000-4999 private;
//   - below 1000 and above 4999 is outside the protocol.
//
// A receiver that gets an invalid code fails the connection with 1002.
func ValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// CloseCodeName names a close status code: its registered name, or the
// range it falls in.
func CloseCodeName(code uint16) string {
	switch code {
	case 1000:
		return "Normal Closure"
	case 1001:
		return "Going Away"
	case 1002:
		return "Protocol Error"
	case 1003:
		return "Unsupported Data"
	case 1004:
		return "Reserved"
	case 1005:
		return "No Status Rcvd"
	case 1006:
		return "Abnormal Closure"
	case 1007:
		return "Invalid Payload Data"
	case 1008:
		return "Policy Violation"
	case 1009:
		return "Message Too Big"
	case 1010:
		return "Mandatory Extension"
	case 1011:
		return "Internal Error"
	case 1012:
		return "Service Restart"
	case 1013:
		return "Try Again Later"
	case 1014:
		return "Bad Gateway"
	case 1015:
		return "TLS Handshake"
	}
	switch {
	case code < 1000:
		return "Unused"
	case code < 3000:
		return "Unassigned"
	case code < 4000:
		return "Registered"
	case code < 5000:
		return "Private Use"
	}
	return "Out of Range"
}

// ParseCloseBody reads the body of a received close frame (RFC 6455
// section 5.5.1 and 7.4): empty, which means CloseNoStatus, or a code that
// ValidCloseCode accepts followed by a UTF-8 reason. The reason aliases p.
// On a fault, code and reason are what could be read.
func ParseCloseBody(p []byte) (code uint16, reason []byte, f Fault) {
	switch len(p) {
	case 0:
		return CloseNoStatus, nil, FaultNone
	case 1:
		return 0, nil, FaultCloseLen1
	}
	code = binary.BigEndian.Uint16(p)
	if !ValidCloseCode(code) {
		return code, p[2:], FaultCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return code, p[2:], FaultCloseUTF8
	}
	return code, p[2:], FaultNone
}

// TrimCloseReason cuts reason to the MaxCloseReason bytes a close frame
// has room for, at a UTF-8 boundary. A reason that fits is returned as is.
func TrimCloseReason(reason string) string {
	if len(reason) <= MaxCloseReason {
		return reason
	}
	r := reason[:MaxCloseReason]
	for len(r) > 0 && !utf8.ValidString(r) {
		r = r[:len(r)-1]
	}
	return r
}

// AppendCloseBody appends the body of a close frame to send: code and
// reason cut by TrimCloseReason. Code 0 (none given) or CloseNoStatus gives
// an empty body. It never allocates when dst has room for
// MaxControlPayload bytes.
func AppendCloseBody(dst []byte, code uint16, reason string) []byte {
	if code == 0 || code == CloseNoStatus {
		return dst
	}
	dst = append(dst, byte(code>>8), byte(code))
	return append(dst, TrimCloseReason(reason)...)
}
