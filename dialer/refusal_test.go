package dialer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// A refused upgrade's error carries the start of what the server said.
func TestRefusalBody(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
		chunked          bool
	}{
		{name: "length", body: `{"code":0,"message":"Transport unknown"}`, want: `HTTP 400 Bad Request: {"code":0,"message":"Transport unknown"}`},
		{name: "chunked", body: "nope\n", chunked: true, want: "HTTP 400 Bad Request: nope"},
		{name: "empty", body: "", want: "HTTP 400 Bad Request"},
		{name: "long", body: strings.Repeat("x", 1000), want: "HTTP 400 Bad Request: " + strings.Repeat("x", refusalBodyMax)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if !tt.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(tt.body)))
				}
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer s.Close()
			_, _, err := NewDialer(Options{}).Dial(context.Background(), wsURL(s))
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != 400 {
				t.Fatalf("err = %v, want a HandshakeError with status 400", err)
			}
			if !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to end in %q", err, tt.want)
			}
		})
	}
}
