// Package baseurl checks the base URL of a server a command talks to (an
// origin, an edge's purge listener, a public site, Cloudflare's API) before
// any request. Its errors never repeat the value, which may carry a
// password; callers wrap them with the name of the setting.
package baseurl

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// MaxLen bounds a URL setting.
const MaxLen = 2048

// ErrUserinfo is a URL with a user name or password in it.
var ErrUserinfo = errors.New("must not hold a user name or password")

// Check accepts http(s)://host[:port], and a path when allowPath is set,
// and returns it without a trailing slash.
func Check(raw string, allowPath bool) (string, error) {
	switch {
	case raw == "":
		return "", errors.New("is empty")
	case len(raw) > MaxLen:
		return "", fmt.Errorf("is longer than %d bytes", MaxLen)
	case strings.ContainsFunc(raw, func(r rune) bool { return r < 0x21 || r == 0x7f }):
		return "", errors.New("must be a URL without spaces or control characters")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("not a URL, e.g. http://127.0.0.1:8000")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("scheme must be http or https, not %.20q", u.Scheme)
	case u.User != nil:
		return "", ErrUserinfo
	case u.Host == "" || u.Hostname() == "":
		return "", errors.New("has no host, e.g. http://127.0.0.1:8000")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return "", errors.New("must not have a query or fragment")
	case !allowPath && u.Path != "" && u.Path != "/":
		return "", errors.New("must not have a path")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", errors.New("port must be 1 to 65535")
		}
	}
	return strings.TrimRight(u.String(), "/"), nil
}
