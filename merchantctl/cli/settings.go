package cli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"livecommerce/internal/baseurl"
)

// Settings say which origin to talk to, as whom, and how long to wait.
type Settings struct {
	Origin  string
	Key     string
	Timeout time.Duration
}

// Defaults: the local edge of `make run`, and enough time for a chunk of
// 5,000 rows on a busy origin.
const (
	DefaultOrigin  = "http://127.0.0.1:8000"
	DefaultTimeout = 60 * time.Second
	maxConfigBytes = 64 << 10
)

// usageError is wrong usage: bad flags or settings. It exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// optString is a flag that remembers whether it was given, so the same
// setting can be accepted before and after the command name.
type optString struct {
	v   string
	set bool
}

func (o *optString) String() string     { return o.v }
func (o *optString) Set(v string) error { o.v, o.set = v, true; return nil }

// common holds the connection flags every command takes.
type common struct {
	origin, key, config, timeout optString
}

func (c *common) register(fs *flag.FlagSet) {
	fs.Var(&c.origin, "origin", "origin or edge URL (env ORIGIN_URL; default "+DefaultOrigin+")")
	fs.Var(&c.key, "key", "merchant API key (env MERCHANT_API_KEY; prefer the environment or a config file: flags show in ps)")
	fs.Var(&c.config, "config", "settings file of `key = value` lines: origin, key, timeout (env MERCHANTCTL_CONFIG)")
	fs.Var(&c.timeout, "timeout", "time allowed for each request, e.g. 30s (env MERCHANTCTL_TIMEOUT; default 60s)")
}

// setting is a value and where it came from, to name it in messages.
type setting struct{ value, source string }

// load resolves the settings: flags beat the environment, which beats the
// config file, which beats the defaults. needKey is false for commands
// that send nothing.
func (c *common) load(getenv func(string) string, needKey bool) (Settings, error) {
	file := map[string]setting{}
	path := c.config.v
	if !c.config.set {
		path = getenv("MERCHANTCTL_CONFIG")
	}
	if path != "" {
		var err error
		if file, err = readConfig(path); err != nil {
			return Settings{}, err
		}
	}
	pick := func(flagName string, o optString, env, fileKey, def string) setting {
		switch {
		case o.set:
			return setting{o.v, "--" + flagName}
		case getenv(env) != "":
			return setting{getenv(env), env}
		}
		if s, ok := file[fileKey]; ok {
			return s
		}
		return setting{def, "default"}
	}
	origin := pick("origin", c.origin, "ORIGIN_URL", "origin", DefaultOrigin)
	key := pick("key", c.key, "MERCHANT_API_KEY", "key", "")
	timeout := pick("timeout", c.timeout, "MERCHANTCTL_TIMEOUT", "timeout", DefaultTimeout.String())

	var s Settings
	var err error
	if s.Origin, err = checkOrigin(origin); err != nil {
		return Settings{}, err
	}
	if s.Timeout, err = checkTimeout(timeout); err != nil {
		return Settings{}, err
	}
	if key.value == "" {
		if needKey {
			return Settings{}, usagef("no API key: set MERCHANT_API_KEY, pass --key, or put `key = ...` in a config file (--config)")
		}
		return s, nil
	}
	if err := checkKey(key); err != nil {
		return Settings{}, err
	}
	s.Key = key.value
	return s, nil
}

func checkOrigin(o setting) (string, error) {
	u, err := baseurl.Check(o.value, true)
	if errors.Is(err, baseurl.ErrUserinfo) {
		return "", usagef("%s: %v; pass the API key with MERCHANT_API_KEY", o.source, err)
	}
	if err != nil {
		return "", usagef("%s: %v", o.source, err)
	}
	// Every request carries the key: over plain http anyone on the path
	// could read it. baseurl.Check has parsed u already.
	if pu, _ := url.Parse(u); pu.Scheme == "http" && !isLoopback(pu.Hostname()) {
		return "", usagef("%s: http:// sends the API key unencrypted; use https://, or http:// only to this machine (localhost, 127.0.0.0/8, ::1)", o.source)
	}
	return u, nil
}

// isLoopback reports whether host is this machine by name or address.
// Names other than localhost are refused even if they resolve to
// 127.0.0.1: what they resolve to can change.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkTimeout(t setting) (time.Duration, error) {
	d, err := time.ParseDuration(t.value)
	switch {
	case err != nil:
		return 0, usagef("%s: timeout must be a duration such as 30s or 2m, got %q", t.source, t.value)
	case d <= 0:
		return 0, usagef("%s: timeout must be positive, got %s", t.source, t.value)
	case d > time.Hour:
		return 0, usagef("%s: timeout must be at most 1h", t.source)
	}
	return d, nil
}

// checkKey refuses a key that cannot be a header value. The key itself is
// never echoed.
func checkKey(k setting) error {
	if len(k.value) > 512 {
		return usagef("%s: the API key is longer than 512 characters", k.source)
	}
	for _, r := range k.value {
		if r <= ' ' || r >= 0x7f {
			return usagef("%s: the API key must be one line of printable ASCII without spaces (a newline or space was copied with it?)", k.source)
		}
	}
	return nil
}

// readConfig reads `key = value` lines; # starts a comment line. Like ssh
// with its config and private keys, it trusts only a file that no other
// user can change, and one holding a key only if no other user can read it.
func readConfig(path string) (map[string]setting, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("config file: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, usagef("config file: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, usagef("config file %s: not a regular file", path)
	}
	// Whoever can change the file can point origin at a server of theirs
	// and collect the key with the next command: checked before reading.
	if uid, ok := fileOwner(fi); ok && !trustedOwner(uid, os.Getuid()) {
		return nil, usagef("config %s belongs to another user (uid %d), who could change it; use a file of your own", path, uid)
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return nil, usagef("config %s can be changed by other users (mode %04o); run: chmod go-w %s", path, perm, path)
	}
	out := map[string]setting{}
	sc := bufio.NewScanner(io.LimitReader(f, maxConfigBytes))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok {
			return nil, usagef("config %s:%d: expected `key = value`", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		switch k {
		case "origin", "key", "timeout":
		default:
			return nil, usagef("config %s:%d: unknown setting %s (the settings are origin, key, timeout)", path, n, shown(k))
		}
		if _, dup := out[k]; dup {
			return nil, usagef("config %s:%d: %s is set twice", path, n, k)
		}
		out[k] = setting{v, fmt.Sprintf("%s in %s:%d", k, path, n)}
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("config %s: %v", path, err)
	}
	// ssh refuses a private key its group can read, not only one anyone
	// can read: a group is often wider than it looks.
	if _, hasKey := out["key"]; hasKey && perm&0o044 != 0 {
		return nil, usagef("config %s holds an API key but other users can read it (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	return out, nil
}

// trustedOwner reports whether a config file owned by uid may be used by
// the user me: their own, or root's (root can change the user's files
// anyway, so trusting it gives nothing away; ssh does the same).
func trustedOwner(uid, me int) bool { return uid == me || uid == 0 }
