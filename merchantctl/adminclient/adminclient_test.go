package adminclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livecommerce/merchantctl/adminclient"
	"livecommerce/origin/adminapi"
)

const key = "lck_test_SECRETsecretSECRET"

// TestRedirectNotFollowed: a 3xx answer is an error naming where it
// pointed; the key never reaches that place, and nothing is retried.
func TestRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the key reached the redirect's target: %s %s", r.Method, r.URL)
		}
		w.Write([]byte(`{"lives":[]}`))
	}))
	defer other.Close()

	long := other.URL + "/" + strings.Repeat("a", 5000)
	for _, tc := range []struct {
		name     string
		status   int
		location string
		want     string
		notWant  string
	}{
		{"301", http.StatusMovedPermanently, other.URL + "/admin/v1/lives", "HTTP 301 redirect to " + other.URL + "/admin/v1/lives, not followed", ""},
		{"302", http.StatusFound, other.URL + "/x", "HTTP 302 redirect to " + other.URL + "/x", ""},
		{"303", http.StatusSeeOther, other.URL, "HTTP 303 redirect to " + other.URL, ""},
		{"307 keeps the method", http.StatusTemporaryRedirect, other.URL + "/admin/v1/lives", "HTTP 307 redirect", ""},
		{"308", http.StatusPermanentRedirect, other.URL + "/admin/v1/lives", "HTTP 308 redirect", ""},
		{"userinfo not repeated", http.StatusFound, "https://mallory:hunter2@evil.example/collect", "redirect to https://evil.example/collect", "hunter2"},
		{"relative", http.StatusFound, "/login?next=%2Fadmin", "/login?next=%2Fadmin, not followed", ""},
		{"scheme-relative", http.StatusFound, "//evil.example/k", "redirect to http://evil.example/k", ""},
		{"long", http.StatusFound, long, "aaaa...", strings.Repeat("a", 300)},
		{"bidi override", http.StatusFound, "http://evil.example/\u202egpj.exe", "redirect to http://evil.example/%E2%80%AEgpj.exe", "\u202e"},
		{"bad host", http.StatusFound, "http://evil\u202e.example/", "redirect to http://evil%E2%80%AE.example/", "\u202e"},
		{"no location", http.StatusFound, "", "redirect to nowhere (no Location header)", ""},
		{"not modified", http.StatusNotModified, "", "HTTP 304 redirect", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			elsewhere.Store(0)
			var hits atomic.Int64
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if tc.location != "" {
					w.Header()["Location"] = []string{tc.location}
				}
				w.WriteHeader(tc.status)
			}))
			defer origin.Close()
			c := adminclient.New(origin.URL, key, 5*time.Second)
			c.Backoff, c.MaxBackoff = time.Millisecond, time.Millisecond

			_, _, err := c.Lives(context.Background())
			var apiErr *adminclient.Error
			if !errors.As(err, &apiErr) || !apiErr.Redirect() {
				t.Fatalf("got %v, want a redirect *adminclient.Error", err)
			}
			if apiErr.Status != tc.status {
				t.Errorf("status: got %d, want %d", apiErr.Status, tc.status)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error: got %q, want %q in it", err, tc.want)
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("error: got %q, want no %q in it", err, tc.notWant)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error shows the key: %q", err)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("requests to the origin: got %d, want 1 (a redirect is not retried)", n)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("requests to the redirect's target: got %d, want 0", n)
			}
		})
	}
}

// TestRedirectNotFollowedOnWrites: the same for a POST and a PUT, whose
// bodies must not be replayed elsewhere either.
func TestRedirectNotFollowedOnWrites(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer origin.Close()
	c := adminclient.New(origin.URL, key, 5*time.Second)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"AdjustStock": func() error { _, err := c.AdjustStock(ctx, "A1", 5, "r"); return err },
		"PutLive":     func() error { _, err := c.PutLive(ctx, "L1", adminapi.LiveBody{Title: "t"}); return err },
		"PutProducts": func() error { _, err := c.PutProducts(ctx, "L1", []byte(`[]`)); return err },
		"Report":      func() error { _, _, err := c.Report(ctx, "L1"); return err },
	} {
		var apiErr *adminclient.Error
		if err := call(); !errors.As(err, &apiErr) || apiErr.Status != http.StatusTemporaryRedirect {
			t.Errorf("%s: got %v, want a 307 *adminclient.Error", name, err)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("requests to the redirect's target: got %d, want 0", n)
	}
}
