package feedclient

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestOpenSendsHeaderAndReadsEvents(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Forwarded-For") + " " + r.URL.Path
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": heartbeat\n\nretry: 1000\n\nevent: snapshot\ndata: {}\n\n")
	}))
	defer srv.Close()
	h := http.Header{"X-Forwarded-For": {"10.0.0.7"}}
	s, err := Open(t.Context(), strings.TrimPrefix(srv.URL, "http://"), "/v1/lives/L1/events", h, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if g := <-got; g != "10.0.0.7 /v1/lives/L1/events" {
		t.Errorf("server saw %q", g)
	}
	b, err := s.NextEvent()
	if err != nil || b.Type != "snapshot" || b.Data != "{}" {
		t.Fatalf("NextEvent = %+v, %v; want the snapshot", b, err)
	}
	if err := s.Ready(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, "{}")
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"code":"unavailable","message":"full"}}`)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name, path string
		header     http.Header
		want       string
	}{
		{"error status", "/full", nil, "503"},
		{"not an event stream", "/json", nil, "content type"},
		{"line break in a value", "/x", http.Header{"X-Forwarded-For": {"1.2.3.4\r\nX-Evil: 1"}}, "line break"},
		{"line break in a name", "/x", http.Header{"X-A\r\nB": {"1"}}, "line break"},
		{"path with a space", "/x HTTP/1.1\r\n", nil, "path"},
		{"relative path", "x", nil, "path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), addr, tt.path, tt.header, 5*time.Second)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
