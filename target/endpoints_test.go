package target

import "testing"

// TestEndpointsCoverEveryRoute: every route has a row in endpoints that
// either answers plain HTTP or handles WebSocket messages, never both (a
// new route with no row would be upgraded and then drop its messages).
func TestEndpointsCoverEveryRoute(t *testing.T) {
	for r := route(0); r < numRoutes; r++ {
		e := endpoints[r]
		if r == routeSIOPoll { // a parked poll: answered by its session, only its end matters
			if e.gone == nil {
				t.Errorf("route %d (parked poll) has no gone hook", r)
			}
			continue
		}
		if (e.answer == nil) == (e.message == nil) && r != routeSIO {
			t.Errorf("route %d: answer set %v, message set %v; want exactly one", r, e.answer != nil, e.message != nil)
		}
		if e.answer == nil && e.message == nil {
			t.Errorf("route %d has neither an answer nor a message handler", r)
		}
	}
}
