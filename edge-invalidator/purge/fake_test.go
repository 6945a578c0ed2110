package purge_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"livecommerce/edge-invalidator/cloudflare"
)

const (
	zoneID = "023e105f4ecef8ad9ca31a8372d0c353"
	token  = "test-token"
	// hang, as an answer's status, holds the call without answering
	// until the client gives up.
	hang = -1
)

var tagPattern = regexp.MustCompile(`^(sku|live)-[A-Za-z0-9_-]{1,64}$`)

type call struct {
	at   time.Time
	tags []string
}

// fakeCF plays Cloudflare's purge_cache endpoint. answer, when set, picks
// the reply to the n-th call (from 0): a status and a Retry-After.
type fakeCF struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []call // every call, failed ones included
	answer func(n int) (status int, retryAfter string)
}

func newFakeCF(t *testing.T) *fakeCF {
	t.Helper()
	f := &fakeCF{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { f.srv.CloseClientConnections(); f.srv.Close() })
	return f
}

// client returns a Cloudflare backend for the fake; timeout 0 is the
// default.
func (f *fakeCF) client(t *testing.T, timeout time.Duration) *cloudflare.Client {
	t.Helper()
	c, err := cloudflare.New(cloudflare.Config{Token: token, ZoneID: zoneID, APIURL: f.srv.URL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeCF) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/zones/"+zoneID+"/purge_cache" {
		f.t.Errorf("request %s %s, want POST /zones/%s/purge_cache", r.Method, r.URL.Path, zoneID)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+token {
		f.t.Errorf("Authorization %q, want the bearer token", got)
	}
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Errorf("body %s: %v", raw, err)
	}
	if len(body.Tags) == 0 || len(body.Tags) > 100 {
		f.t.Errorf("call with %d tags, want 1 to 100", len(body.Tags))
	}
	for _, tag := range body.Tags {
		if !tagPattern.MatchString(tag) {
			f.t.Errorf("hostile tag %q reached the API", tag)
		}
	}
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, call{at: time.Now(), tags: body.Tags})
	answer := f.answer
	f.mu.Unlock()
	status, retryAfter := http.StatusOK, ""
	if answer != nil {
		status, retryAfter = answer(n)
	}
	if status == hang {
		<-r.Context().Done() // the body is read: a hang-up is noticed
		return
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		io.WriteString(w, `{"success":true,"errors":[],"messages":[],"result":{"id":"x"}}`)
		return
	}
	io.WriteString(w, `{"success":false,"errors":[{"code":1000,"message":"nope"}],"messages":[],"result":null}`)
}

func (f *fakeCF) setAnswer(fn func(n int) (int, string)) {
	f.mu.Lock()
	f.answer = fn
	f.mu.Unlock()
}

func (f *fakeCF) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// until polls cond every few milliseconds and fails the test after d.
func until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
