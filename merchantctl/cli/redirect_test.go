package cli_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRedirectRefused: an origin answering with a redirect gets exit 1 and
// a message naming where it pointed; the key goes nowhere else.
func TestRedirectRefused(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer origin.Close()
	env := map[string]string{"ORIGIN_URL": origin.URL, "MERCHANT_API_KEY": "lck_SECRETsecret"}
	for _, args := range [][]string{{"lives"}, {"report", "--live", "L1"}, {"restock", "--sku", "A1", "--add", "1"}} {
		r := run(t, env, args...)
		want := "HTTP 302 redirect to " + other.URL + "/admin/v1/"
		if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "set ORIGIN_URL") {
			t.Errorf("%v: got %s, want exit 1 with %q and a hint to set ORIGIN_URL", args, r, want)
		}
		if strings.Contains(r.stdout+r.stderr, "SECRET") {
			t.Errorf("%v: the key was printed: %s", args, r)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("requests to the redirect's target: got %d, want 0", n)
	}
}
