// Package redisconn turns the settings of a connection to the system's
// Redis (ACL user and password, TLS) into go-redis options, for every
// program that talks to it: the origin and the load generator. A password
// is never printed, and a setting Redis refuses stops a program at start.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/envflag"
)

// maxFile bounds a password file or CA bundle read into memory.
const maxFile = 1 << 20

// Settings are how to reach and sign in to Redis, besides its address.
type Settings struct {
	Username     string // REDIS_USERNAME: an ACL user; "" = the default user
	Password     string // REDIS_PASSWORD (environment only) or the content of PasswordFile
	PasswordFile string // REDIS_PASSWORD_FILE
	TLS          bool   // REDIS_TLS
	CAFile       string // REDIS_TLS_CA_FILE: PEM bundle; "" = the system's roots
}

// Bind binds the settings to s. The password has no flag: it would show
// in ps and shell history.
func Bind(s *envflag.Set, c *Settings) {
	s.String(&c.Username, "redis-username", "REDIS_USERNAME", "", "Redis ACL user (empty: the default user)")
	s.Secret(&c.Password, "REDIS_PASSWORD")
	s.String(&c.PasswordFile, "redis-password-file", "REDIS_PASSWORD_FILE", "", "file holding the Redis password; or set REDIS_PASSWORD (no flag takes the password itself)")
	s.Bool(&c.TLS, "redis-tls", "REDIS_TLS", false, "talk to Redis over TLS 1.2 or later, checking its certificate")
	s.String(&c.CAFile, "redis-tls-ca-file", "REDIS_TLS_CA_FILE", "", "PEM bundle of the CAs that sign Redis's certificate (empty: the system's)")
}

// Check checks the settings, reading the files they name; each error
// names its setting.
func (c Settings) Check() error {
	_, err := c.Options("127.0.0.1:6379")
	return err
}

// Options returns the options of a client of the Redis at addr (host:port)
// with the settings applied; the caller adds timeouts and pool sizes.
func (c Settings) Options(addr string) (*redis.Options, error) {
	o := &redis.Options{Addr: addr, Username: c.Username}
	var errs []error
	switch {
	case c.Password != "" && c.PasswordFile != "":
		errs = append(errs, errors.New("REDIS_PASSWORD and REDIS_PASSWORD_FILE: set one, not both"))
	case c.PasswordFile != "":
		pw, err := readPassword(c.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("REDIS_PASSWORD_FILE: %w", err))
		}
		o.Password = pw
	case c.Password != "":
		if badPassword(c.Password) {
			errs = append(errs, errors.New("REDIS_PASSWORD: must be one line without control characters (a newline copied with it?)"))
		}
		o.Password = c.Password
	}
	if c.Username != "" && c.Password == "" && c.PasswordFile == "" {
		errs = append(errs, errors.New("REDIS_USERNAME: set, but no password (REDIS_PASSWORD or REDIS_PASSWORD_FILE)"))
	}
	if badPassword(c.Username) || len(c.Username) > 256 {
		errs = append(errs, errors.New("REDIS_USERNAME: must be one line of at most 256 bytes without control characters"))
	}
	switch {
	case c.TLS:
		conf, err := c.tlsConfig(addr)
		if err != nil {
			errs = append(errs, err)
		}
		o.TLSConfig = conf
	case c.CAFile != "":
		// Ignoring it would leave a reader of the settings believing
		// the connection is encrypted.
		errs = append(errs, errors.New("REDIS_TLS_CA_FILE: set, but REDIS_TLS is off"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}

func (c Settings) tlsConfig(addr string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	// An IP address as ServerName is checked against the certificate's
	// IP addresses.
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.CAFile == "" {
		return conf, nil
	}
	pem, err := readFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %s holds no PEM certificate", c.CAFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, maxFile>>10)
	}
	return b, nil
}

// readPassword reads a password file: its one line, without the newline
// an editor or echo adds.
func readPassword(path string) (string, error) {
	b, err := readFile(path)
	if err != nil {
		return "", err
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case pw == "":
		return "", fmt.Errorf("%s is empty", path)
	case badPassword(pw):
		return "", fmt.Errorf("%s must hold one line without control characters", path)
	}
	return pw, nil
}

func badPassword(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Sentinel errors of Verify, for errors.Is.
var (
	// ErrRefused is Redis refusing the user name or password.
	ErrRefused = errors.New("the Redis server refused the user name or password (REDIS_USERNAME, REDIS_PASSWORD or REDIS_PASSWORD_FILE)")
	// ErrTLS is a TLS handshake that failed: a certificate that does not
	// check out (REDIS_TLS_CA_FILE, REDIS_ADDR's host name), or a server
	// answering in plain text. (A plain Redis mostly stays silent, which
	// looks like one that is down.)
	ErrTLS = errors.New("the TLS handshake with Redis failed (REDIS_TLS, REDIS_TLS_CA_FILE, REDIS_ADDR)")
)

// Verify asks Redis once, on a connection of its own, whether it accepts
// the options. Settings it refuses are an error; Redis being unreachable
// is not one here: a program starts anyway, and its circuit breaker and
// readiness check deal with that.
func Verify(ctx context.Context, o *redis.Options) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	one := *o
	one.PoolSize, one.MinIdleConns, one.MaxRetries = 1, 0, -1
	rdb := redis.NewClient(&one)
	defer rdb.Close()
	err := rdb.Ping(ctx).Err()
	var rerr redis.Error
	var recordErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rerr) && refusal(rerr.Error()):
		return fmt.Errorf("%w: %s", ErrRefused, rerr.Error())
	case errors.As(err, &recordErr), errors.As(err, &certErr), errors.As(err, &alert):
		return fmt.Errorf("%w: %w", ErrTLS, err)
	}
	return nil
}

// refusal reports an answer refusing the credentials. Redis's wording
// never repeats the password.
func refusal(msg string) bool {
	for _, p := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "ERR AUTH", "ERR invalid password", "ERR Client sent AUTH"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
