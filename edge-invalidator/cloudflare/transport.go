package cloudflare

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	cf "github.com/cloudflare/cloudflare-go"

	"livecommerce/internal/retryafter"
)

// answer is what the transport saw of a call's response, for the parts
// cloudflare-go does not report: the status of a 429 or 5xx (it returns
// an untyped error for those once its retries are spent), Retry-After,
// and the body carrying the API's messages.
type answer struct {
	status     int
	retryAfter time.Duration
	body       []byte // of a 429 or 5xx only
}

// answerKey carries a call's *answer in its request context, so one
// client serves concurrent calls without sharing state.
type answerKey struct{}

// recorder is the SDK's transport: it fills the request's *answer.
type recorder struct{ next http.RoundTripper }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	next := r.next
	if next == nil {
		next = http.DefaultTransport
	}
	res, err := next.RoundTrip(req)
	ans, _ := req.Context().Value(answerKey{}).(*answer)
	if err != nil || ans == nil {
		return res, err
	}
	// RoundTrip runs on the caller's goroutine, inside PurgeCache: these
	// writes are seen when it returns.
	ans.status = res.StatusCode
	if res.StatusCode == http.StatusTooManyRequests {
		ans.retryAfter = retryafter.Parse(res.Header.Get("Retry-After"), time.Now())
	}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		// The SDK neither reads nor closes these bodies when it gives up,
		// which would pin the connection: take the body here and hand it
		// an in-memory copy.
		ans.body, _ = io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(ans.body))
	}
	return res, nil
}

// decodeErrors reads the errors of an API answer; nil when body is not one.
func decodeErrors(body []byte) []cf.ResponseInfo {
	var r cf.Response
	if json.Unmarshal(body, &r) != nil {
		return nil
	}
	return r.Errors
}
