package varnish_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"livecommerce/edge-invalidator/varnish"
)

// edge plays the purge listener of the VCL: PURGE / with an xkey header.
type edge struct {
	srv    *httptest.Server
	mu     sync.Mutex
	xkeys  []string
	status int    // answer when the request is well formed (200 when 0)
	header string // Retry-After, when set
	body   string // answer body when status is not 200
}

func newEdge(t *testing.T) *edge {
	t.Helper()
	e := &edge{}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *edge) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != "PURGE" || r.URL.Path != "/" || r.URL.RawQuery != "" {
		http.Error(w, "want PURGE /", http.StatusMethodNotAllowed)
		return
	}
	xkey := r.Header.Get("xkey")
	if xkey == "" {
		http.Error(w, "missing xkey", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.xkeys = append(e.xkeys, xkey)
	status, header, body := e.status, e.header, e.body
	e.mu.Unlock()
	if header != "" {
		w.Header().Set("Retry-After", header)
	}
	if status == 0 || status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"purged":%d}`, len(strings.Fields(xkey)))
		return
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (e *edge) answer(status int, retryAfter, body string) {
	e.mu.Lock()
	e.status, e.header, e.body = status, retryAfter, body
	e.mu.Unlock()
}

func (e *edge) got() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.xkeys)
}

func newClient(t *testing.T, timeout time.Duration, urls ...string) *varnish.Client {
	t.Helper()
	c, err := varnish.New(varnish.Config{URLs: urls, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPurgeSendsXkeyToEveryEdge(t *testing.T) {
	a, b := newEdge(t), newEdge(t)
	c := newClient(t, time.Second, a.srv.URL, b.srv.URL+"/")
	if err := c.Purge(context.Background(), []string{"sku-A1", "live-L1"}); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	for i, e := range []*edge{a, b} {
		if got, want := e.got(), []string{"sku-A1 live-L1"}; !slices.Equal(got, want) {
			t.Errorf("edge %d: got xkey %q, want %q", i, got, want)
		}
	}
	if err := c.Purge(context.Background(), nil); err != nil || len(a.got()) != 1 {
		t.Errorf("empty batch: got %v and %d requests, want nil and no request", err, len(a.got())-1)
	}
}

func TestPurgeAnswers(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    string
		body      string
		temporary bool
		wait      time.Duration
	}{
		{"500", 500, "", "boom", true, 0},
		{"503", 503, "", "", true, 0},
		{"408", 408, "", "", true, 0},
		{"429", 429, "3", "slow down", true, 3 * time.Second},
		// Pointed at the wrong listener or refused by the ACL: an operator
		// fixes that, and the purges must wait rather than be dropped.
		{"403", 403, "", "not allowed", true, 0},
		{"404", 404, "", "", true, 0},
		{"405", 405, "", "", true, 0},
		{"400", 400, "", "no xkey", false, 0},
		{"422", 422, "", "", false, 0},
		{"200 without the contract body", 200, "", "", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEdge(t)
			if tt.status == 200 {
				// Something that is not the purge VCL answering 200.
				e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					io.WriteString(w, "<html>hello</html>")
				})
			} else {
				e.answer(tt.status, tt.header, tt.body)
			}
			err := newClient(t, time.Second, e.srv.URL).Purge(context.Background(), []string{"sku-A1"})
			var vErr *varnish.Error
			if !errors.As(err, &vErr) {
				t.Fatalf("got %v (%T), want a *varnish.Error", err, err)
			}
			if vErr.Temporary() != tt.temporary || vErr.Wait() != tt.wait {
				t.Errorf("got temporary %v wait %v, want %v %v", vErr.Temporary(), vErr.Wait(), tt.temporary, tt.wait)
			}
			if len(vErr.Failed) != 1 || (tt.status != 200 && vErr.Failed[0].Status != tt.status) {
				t.Errorf("got failures %+v, want one with status %d", vErr.Failed, tt.status)
			}
		})
	}
}

func TestOneFailingEdgeFailsTheCall(t *testing.T) {
	ok, down := newEdge(t), newEdge(t)
	down.answer(http.StatusServiceUnavailable, "", "backend sick")
	c := newClient(t, time.Second, ok.srv.URL, down.srv.URL)
	err := c.Purge(context.Background(), []string{"sku-A1"})
	var vErr *varnish.Error
	if !errors.As(err, &vErr) || !vErr.Temporary() {
		t.Fatalf("got %v, want a temporary *varnish.Error", err)
	}
	if len(vErr.Failed) != 1 || vErr.Edges != 2 || vErr.Failed[0].URL != down.srv.URL+"/" {
		t.Errorf("got %d of %d failed (%+v), want only the second edge", len(vErr.Failed), vErr.Edges, vErr.Failed)
	}
	if len(ok.got()) != 1 || len(down.got()) != 1 {
		t.Errorf("got %d and %d requests, want one at each edge", len(ok.got()), len(down.got()))
	}

	// One edge refusing for good makes the whole call permanent.
	down.answer(http.StatusBadRequest, "", "")
	slow := newEdge(t)
	slow.answer(http.StatusTooManyRequests, "2", "")
	err = newClient(t, time.Second, ok.srv.URL, down.srv.URL, slow.srv.URL).Purge(context.Background(), []string{"sku-A1"})
	if !errors.As(err, &vErr) || vErr.Temporary() || vErr.Wait() != 2*time.Second || len(vErr.Failed) != 2 {
		t.Errorf("got %v, want a permanent error with two failures and a 2s wait", err)
	}
}

func TestHangingEdgeTimesOut(t *testing.T) {
	// Accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	ok := newEdge(t)
	c := newClient(t, 150*time.Millisecond, ok.srv.URL, "http://"+ln.Addr().String())
	start := time.Now()
	err = c.Purge(context.Background(), []string{"sku-A1"})
	if took := time.Since(start); took > time.Second {
		t.Errorf("call took %v, want it cut at the 150ms timeout", took)
	}
	var vErr *varnish.Error
	if !errors.As(err, &vErr) || !vErr.Temporary() || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a temporary *varnish.Error wrapping the deadline", err)
	}
}

func TestUnreachableEdgeIsTemporary(t *testing.T) {
	e := newEdge(t)
	url := e.srv.URL
	e.srv.Close()
	err := newClient(t, time.Second, url).Purge(context.Background(), []string{"sku-A1"})
	var vErr *varnish.Error
	if !errors.As(err, &vErr) || !vErr.Temporary() {
		t.Errorf("got %v, want a temporary *varnish.Error", err)
	}
}

func TestBadTagsNeverSent(t *testing.T) {
	e := newEdge(t)
	c := newClient(t, time.Second, e.srv.URL)
	many := make([]string, varnish.MaxTags+1)
	for i := range many {
		many[i] = fmt.Sprintf("sku-S%d", i)
	}
	for _, tags := range [][]string{
		{"sku-A1 live-L1"},
		{"sku-A1\r\nX-Evil: 1"},
		{""},
		{"sku-Ä"},
		{strings.Repeat("a", 129)},
		many,
	} {
		err := c.Purge(context.Background(), tags)
		var vErr *varnish.Error
		if !errors.As(err, &vErr) || vErr.Temporary() || !errors.Is(err, varnish.ErrInvalidTags) {
			t.Errorf("tags %.40q: got %v, want a permanent ErrInvalidTags", tags, err)
		}
	}
	if got := e.got(); len(got) != 0 {
		t.Errorf("got %d requests, want none", len(got))
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	tests := []struct {
		name string
		urls []string
	}{
		{"none", nil},
		{"empty entry", []string{"http://127.0.0.1:8001", ""}},
		{"no scheme", []string{"127.0.0.1:8001"}},
		{"ftp", []string{"ftp://edge"}},
		{"javascript", []string{"javascript:alert(1)"}},
		{"userinfo", []string{"http://admin:hunter2@edge:8001"}},
		{"query", []string{"http://edge:8001/?purge=all"}},
		{"empty query", []string{"http://edge:8001/?"}},
		{"fragment", []string{"http://edge:8001/#x"}},
		{"path", []string{"http://edge:8001/purge"}},
		{"no host", []string{"http://"}},
		{"port only", []string{"http://:8001"}},
		{"bad port", []string{"http://edge:99999"}},
		{"newline", []string{"http://edge:8001/\nX-Evil: 1"}},
		{"space", []string{"http://ed ge:8001"}},
		{"10 KB", []string{"http://" + strings.Repeat("a", 10<<10)}},
		{"too many", slices.Repeat([]string{"http://edge:8001"}, varnish.MaxEdges+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := varnish.New(varnish.Config{URLs: tt.urls})
			if err == nil || !errors.Is(err, varnish.ErrInvalidConfig) || !strings.Contains(err.Error(), "VARNISH_PURGE_URLS") {
				t.Fatalf("got %v, want an invalid configuration naming VARNISH_PURGE_URLS", err)
			}
			if strings.Contains(err.Error(), "hunter2") || len(err.Error()) > 200 {
				t.Errorf("error %q repeats the value", err)
			}
		})
	}
	if _, err := varnish.New(varnish.Config{URLs: []string{"http://127.0.0.1:8001", "https://[::1]:6082/", "http://edge-2"}}); err != nil {
		t.Errorf("got %v, want valid URLs accepted", err)
	}
}

func FuzzNew(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8001", "http://u:p@h", "javascript:x", "http://h/?", "https://[::1]:1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := varnish.New(varnish.Config{URLs: []string{s}}); err != nil {
			return
		}
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
			t.Errorf("accepted %q", s)
		}
		if strings.ContainsAny(s, "@?#\r\n ") {
			t.Errorf("accepted %q", s)
		}
	})
}
