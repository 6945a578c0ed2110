// Package cfapi checks what every caller of Cloudflare's API sends before
// its first request: the zone id that goes into request paths, the API
// token, and the API's base URL. Callers wrap the errors with the name of
// the setting they came from.
package cfapi

import (
	"errors"
	"fmt"
	"strings"

	"livecommerce/internal/baseurl"
)

// DefaultURL is Cloudflare's API.
const DefaultURL = "https://api.cloudflare.com/client/v4"

// CheckZoneID accepts a zone id: 32 lowercase hex characters. Anything
// else could change the request path ("../", "?", "#").
func CheckZoneID(id string) error {
	if id == "" {
		return errors.New("is empty")
	}
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return fmt.Errorf("%q is not 32 lowercase hex characters", id)
	}
	return nil
}

// CheckToken accepts a non-empty token of visible ASCII characters. The
// error never repeats the token.
func CheckToken(token string) error {
	if token == "" {
		return errors.New("is empty")
	}
	for _, r := range token {
		if r <= ' ' || r > '~' {
			return errors.New("contains a space, control or non-ASCII character")
		}
	}
	return nil
}

// CheckURL accepts the API's base URL: http(s), a path allowed, no
// credentials, query or fragment (see baseurl.Check; the error does not
// repeat the value). It returns the URL without a trailing slash.
func CheckURL(raw string) (string, error) { return baseurl.Check(raw, true) }
