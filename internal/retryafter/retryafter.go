// Package retryafter reads the Retry-After header of a throttled or
// unavailable answer: the edge invalidator's purge backends and the
// merchant CLI both wait as long as the server asks, within a cap.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max caps what a server may ask for, so a bogus header cannot stall
// purging for good.
const Max = 10 * time.Minute

// Parse reads delay-seconds or an HTTP date relative to now. It returns 0
// when v is empty, unreadable or in the past, and at most Max.
func Parse(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		// Compare in seconds first: a huge value would overflow a Duration.
		d = time.Duration(min(max(n, 0), int64(Max/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, Max))
}
