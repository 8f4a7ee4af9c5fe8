package scenario

import (
	"context"
	"time"

	"github.com/wsbench/wsbench/dialer"
)

// Dials run apart from the VU's goroutine: dialing runs deep call chains
// (net, TLS, the HTTP upgrade) that grow the dialing goroutine's stack to
// 8 KiB, and a VU's goroutine would keep that stack while idle (measured:
// 8.3 KiB of stack per idle VU dialing in place, 4.3 KiB dialing apart).
// The goroutines that dial are kept for dialIdle after a dial and take the
// next one, stack already grown: a VU that reconnects in a loop (churn)
// would otherwise pay a new goroutine and two stack copies per dial.
const dialIdle = time.Second

type dialJob struct {
	d   *cdial
	ctx context.Context
	v   *Vars
	c   *dialer.Conn
	tm  dialer.Timings
	err error
	out chan *dialJob
}

// dialJobs hands a dial to an idle dialing goroutine, if one waits.
var dialJobs = make(chan *dialJob)

// dialApart dials d on a dialing goroutine and waits for it.
func (d *cdial) dialApart(ctx context.Context, v *Vars) (*dialer.Conn, dialer.Timings, error) {
	j := &dialJob{d: d, ctx: ctx, v: v, out: make(chan *dialJob, 1)}
	select {
	case dialJobs <- j:
	default:
		go dialLoop(j)
	}
	<-j.out
	return j.c, j.tm, j.err
}

// dialLoop runs j, then the dials handed to it until none came for
// dialIdle.
func dialLoop(j *dialJob) {
	var idle *time.Timer
	for {
		j.c, j.tm, j.err = j.d.dial(j.ctx, j.v)
		j.out <- j
		j = nil // the VU has it now
		if idle == nil {
			idle = time.NewTimer(dialIdle)
		} else {
			idle.Reset(dialIdle)
		}
		select {
		case j = <-dialJobs:
		case <-idle.C:
			return
		}
	}
}
