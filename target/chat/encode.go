package chat

import (
	"strconv"

	"github.com/wsbench/wsbench/internal/wsproto"
)

// Error codes sent in `error` messages (docs/protocol.md lists them).
const (
	CodeBadJSON      = "bad_json"
	CodeUnknownOp    = "unknown_op"
	CodeMissingField = "missing_field"
	CodeBadName      = "bad_name"
	CodeNickTaken    = "nick_taken"
	CodeNoNick       = "no_nick"
	CodeNotInRoom    = "not_in_room"
	CodeUnknownUser  = "unknown_user"
	CodeTooManyRooms = "too_many_rooms"
	CodeRateLimited  = "rate_limited"
	CodeTooLong      = "too_long"
	CodeRoomCreates  = "too_many_room_creates" // the connection created RoomCreates rooms within a minute
	CodeInternal     = "internal"              // the history store failed to persist a message
)

func appendWelcome(dst []byte, name string) []byte {
	dst = append(dst, `{"op":"welcome","name":`...)
	dst = wsproto.AppendJSONString(dst, name)
	return append(dst, '}')
}

// appendRoomCount encodes joined and left.
func appendRoomCount(dst []byte, op string, room string, members int) []byte {
	dst = append(dst, `{"op":"`...)
	dst = append(dst, op...)
	dst = append(dst, `","room":`...)
	dst = wsproto.AppendJSONString(dst, room)
	dst = append(dst, `,"members":`...)
	dst = strconv.AppendInt(dst, int64(members), 10)
	return append(dst, '}')
}

func appendPresence(dst []byte, room, name, event string, members int) []byte {
	dst = append(dst, `{"op":"presence","room":`...)
	dst = wsproto.AppendJSONString(dst, room)
	dst = append(dst, `,"name":`...)
	dst = wsproto.AppendJSONString(dst, name)
	dst = append(dst, `,"event":"`...)
	dst = append(dst, event...)
	dst = append(dst, `","members":`...)
	dst = strconv.AppendInt(dst, int64(members), 10)
	return append(dst, '}')
}

func appendAck(dst []byte, id []byte) []byte {
	dst = append(dst, `{"op":"ack","id":`...)
	dst = append(dst, id...)
	return append(dst, '}')
}

func appendError(dst []byte, id []byte, code, message string) []byte {
	dst = append(dst, `{"op":"error",`...)
	if id != nil {
		dst = append(dst, `"id":`...)
		dst = append(dst, id...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"code":"`...)
	dst = append(dst, code...)
	dst = append(dst, `","message":`...)
	dst = wsproto.AppendJSONString(dst, message)
	return append(dst, '}')
}

// appendPassThrough copies every member of r whose key is not reserved for
// the delivered message, byte for byte.
func appendPassThrough(dst []byte, r *request, reserved func(fieldKey) bool) []byte {
	for _, m := range r.members {
		if reserved(m.key) {
			continue
		}
		dst = append(dst, ',')
		dst = append(dst, r.msg[m.start:m.valEnd]...)
	}
	return dst
}

func saidReserved(k fieldKey) bool    { return k != kOther && k != kName && k != kTo }
func shoutedReserved(k fieldKey) bool { return k != kOther && k != kName && k != kTo && k != kRoom }
func dmReserved(k fieldKey) bool      { return k != kOther && k != kName && k != kRoom && k != kExcludeSelf }

// historySuffix turns a live `said` object into its history form.
const historySuffix = `,"history":true}`
