package scenario

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/wsbench/wsbench/internal/wsproto"
)

// step_close.go is the close step: it starts the close handshake and
// waits (closeWait) for the peer's close frame.

// StepClose is the kind of a `close` step; its number is its index in
// the kind table (steps.go).
const StepClose StepKind = 6

func init() {
	registerStep(StepClose, stepKind{name: "close", parse: parseClose, compile: compileClose, run: runClose, conn: connEnds})
}

var (
	closeFields = []string{"code", "reason"}
)

// CloseStep starts the close handshake.
type CloseStep struct {
	Code   uint16 // default 1000
	Reason string
}

func (d *decoder) close(v *ynode, f string) *CloseStep {
	c := &CloseStep{Code: 1000}
	if !d.needMap(v, f, closeFields, true) {
		return c
	}
	for i, k := range v.keys {
		val, kf := v.vals[i], join(f, k.str)
		switch k.str {
		case "code":
			if code, ok := d.int(val, kf, 0, 65535); ok {
				if code < 0 || code > 0xffff || !wsproto.ValidCloseCode(uint16(code)) {
					d.fail(val, kf, "%d is not a close code an endpoint may send (1000-1003, 1007-1014, 3000-4999)", code)
				}
				c.Code = uint16(code)
			}
		case "reason":
			c.Reason, _ = d.str(val, kf)
			if len(c.Reason) > wsproto.MaxCloseReason {
				d.fail(val, kf, "a close reason is at most %d bytes, got %d", wsproto.MaxCloseReason, len(c.Reason))
			} else if !utf8.ValidString(c.Reason) {
				d.fail(val, kf, "a close reason must be valid UTF-8")
			}
		}
	}
	return c
}

func parseClose(d *decoder, st *Step, v *ynode, f string, _ ConnectOptions) { st.Close = d.close(v, f) }

func compileClose(s *scenarioRun, c *cstep, env compileEnv) error {
	if c.Close == nil {
		return fmt.Errorf("%s: close step without options", c.Pos)
	}
	return nil
}

func runClose(v *vu, st *cstep, _ sched) error {
	l, err := v.liveLink()
	if err != nil {
		return err
	}
	code := st.Close.Code
	if code == 0 {
		code = 1000
	}
	l.closing = true
	l.goodbye()
	if err := l.c.SendClose(code, st.Close.Reason); err != nil {
		v.m.errSend.Inc()
	} else if l.readUntil(time.Now().Add(closeWait)) != readEnded && v.ctx.Err() == nil {
		v.m.errCloseTimeout.Inc()
	}
	v.dropLink()
	if v.ctx.Err() != nil {
		return errCancelled
	}
	return nil
}
