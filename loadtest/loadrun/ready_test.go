package loadrun

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWaitReady(t *testing.T) {
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		t.Cleanup(srv.Close)
		return srv.URL + "/readyz"
	}
	ok, notFound := status(http.StatusOK), status(http.StatusNotFound)
	soon := func() time.Time { return time.Now().Add(500 * time.Millisecond) }
	ctx := context.Background()
	if err := waitReady(ctx, []string{ok}, soon(), http.StatusOK); err != nil {
		t.Errorf("200 wanted, 200 answered: %v", err)
	}
	// The local edge answers its /readyz with 404 itself.
	if err := waitReady(ctx, []string{notFound}, soon(), http.StatusOK, http.StatusNotFound); err != nil {
		t.Errorf("200 or 404 wanted, 404 answered: %v", err)
	}
	err := waitReady(ctx, []string{ok, notFound}, soon(), http.StatusOK)
	if err == nil || !strings.Contains(err.Error(), notFound) || !strings.Contains(err.Error(), "404") {
		t.Errorf("200 wanted, 404 answered: got %v, want an error naming the URL and its status", err)
	}
}
