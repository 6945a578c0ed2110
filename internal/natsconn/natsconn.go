// Package natsconn opens the NATS connection each service keeps for its
// whole life: named, retrying for ever, logging disconnects and reconnects
// without the password, and signed in with a .creds file when NATS_CREDS
// names one. It also checks NATS_URL and NATS_CREDS at start; its errors
// never repeat a URL, which may carry a password or token.
package natsconn

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ReconnectWait is the pause between reconnect attempts.
const ReconnectWait = 250 * time.Millisecond

// maxURLLen bounds NATS_URL, a list of server URLs.
const maxURLLen = 4096

// Options are what differs between the services.
type Options struct {
	// Creds is a NATS .creds file (user JWT and nkey seed); "" = none.
	Creds string
	// ReconnectBufSize is how many bytes of publishes are kept while
	// disconnected; 0 keeps nats.go's default.
	ReconnectBufSize int
}

// Check checks NATS_URL and NATS_CREDS; each error names its setting.
func Check(rawURL, creds string) error {
	var errs []error
	if err := CheckURL(rawURL); err != nil {
		errs = append(errs, fmt.Errorf("NATS_URL: %w", err))
	}
	if creds != "" {
		if err := CheckCreds(creds); err != nil {
			errs = append(errs, fmt.Errorf("NATS_CREDS: %w", err))
		}
	}
	return errors.Join(errs...)
}

// CheckURL accepts one or more comma-separated nats:// or tls:// server
// URLs, as nats.Connect does. A user and password or token in them is
// fine; what is wrong is said without the value.
func CheckURL(raw string) error {
	switch {
	case strings.TrimSpace(raw) == "":
		return errors.New("is empty")
	case len(raw) > maxURLLen:
		return fmt.Errorf("is longer than %d bytes", maxURLLen)
	case strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("must not hold control characters")
	}
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		if err := checkOne(strings.TrimSpace(p)); err != nil {
			if len(parts) > 1 {
				return fmt.Errorf("server %d of %d: %w", i+1, len(parts), err)
			}
			return err
		}
	}
	return nil
}

func checkOne(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("has an empty server URL (a stray comma?)")
	case err != nil:
		// url.Parse's error quotes the whole URL, password included.
		return errors.New("not a URL such as nats://127.0.0.1:4222")
	case u.Scheme != "nats" && u.Scheme != "tls":
		return errors.New("must start with nats:// or tls://")
	case u.Hostname() == "":
		return errors.New("has no host, e.g. nats://127.0.0.1:4222")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a path, query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("port must be 1 to 65535")
		}
	}
	return nil
}

// CheckCreds reads a .creds file as nats.go will at each connect, so a
// missing, unreadable or wrong file stops the service at start instead of
// failing every reconnect in the background. The file's path is not a
// secret; its content is never repeated.
func CheckCreds(path string) error {
	var o nats.Options
	// The option reads the user JWT at once.
	if err := nats.UserCredentials(path)(&o); err != nil {
		return fmt.Errorf("cannot read a user JWT from %s: %w", path, err)
	}
	jwt, err := o.UserJWT()
	if err != nil {
		return fmt.Errorf("cannot read a user JWT from %s: %w", path, err)
	}
	// Without its markers the whole file is taken for the JWT.
	if strings.Count(jwt, ".") != 2 || strings.ContainsFunc(jwt, func(r rune) bool { return r <= ' ' }) {
		return fmt.Errorf("%s holds no user JWT: is it a .creds file (nsc generate creds)?", path)
	}
	if _, err := o.SignatureCB([]byte("natsconn-check")); err != nil {
		return fmt.Errorf("%s holds no usable user seed: %w", path, errors.Unwrap(err))
	}
	return nil
}

// Redact returns a server URL fit for a log: a password, or a token
// given as the user name, becomes xxxxx.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unreadable URL)"
	}
	if u.User == nil {
		return u.String()
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

// Connect connects to the servers in rawURL as name. NATS may be down:
// the connection keeps retrying in the background, for ever, and
// publishes are buffered meanwhile.
func Connect(rawURL, name string, o Options, log *slog.Logger) (*nats.Conn, error) {
	if err := Check(rawURL, o.Creds); err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name(name), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(ReconnectWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				// Closed on purpose, at shutdown.
				log.Info("nats disconnected")
				return
			}
			log.Warn("nats disconnected", slog.Any("error", err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			// ConnectedUrlRedacted hides a password but shows a token.
			log.Info("nats reconnected", slog.String("url", Redact(nc.ConnectedUrlRedacted())))
		}),
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.ReconnectBufSize > 0 {
		opts = append(opts, nats.ReconnectBufSize(o.ReconnectBufSize))
	}
	nc, err := nats.Connect(rawURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect: %w", scrub(err))
	}
	return nc, nil
}

// scrub drops a *url.Error, whose text repeats the URL.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
