package redisconn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/envflag"
	"livecommerce/internal/redisconn"
)

func redisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load binds the settings the way the programs do, from env and args.
func load(t *testing.T, env map[string]string, args ...string) (redisconn.Settings, string, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var help strings.Builder
	fs.SetOutput(&help)
	s := envflag.New(fs, func(k string) string { return env[k] })
	var c redisconn.Settings
	redisconn.Bind(s, &c)
	err := s.Parse(args)
	fs.PrintDefaults()
	return c, help.String(), err
}

func TestSettings(t *testing.T) {
	ca := testCA(t)
	caFile := write(t, "ca.pem", string(ca.certPEM))
	pwFile := write(t, "pw", "hunter2-file\n")
	crlfFile := write(t, "pw-crlf", "hunter2-crlf\r\n")
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		user, pw string
		tls      bool
		sni      string
		roots    bool
	}{
		{name: "nothing", pw: ""},
		{name: "password from the environment", env: map[string]string{"REDIS_PASSWORD": "hunter2-env"}, pw: "hunter2-env"},
		{name: "user and password", env: map[string]string{"REDIS_USERNAME": "origin", "REDIS_PASSWORD": "hunter2-env"}, user: "origin", pw: "hunter2-env"},
		{name: "password file", env: map[string]string{"REDIS_PASSWORD_FILE": pwFile}, pw: "hunter2-file"},
		{name: "password file by flag", args: []string{"--redis-password-file", crlfFile}, pw: "hunter2-crlf"},
		{name: "tls, system roots", env: map[string]string{"REDIS_TLS": "true"}, tls: true, sni: "redis.example"},
		{name: "tls with CA", args: []string{"--redis-tls", "--redis-tls-ca-file", caFile}, tls: true, sni: "redis.example", roots: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, help, err := load(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(help, "hunter2") {
				t.Errorf("-h shows the password:\n%s", help)
			}
			if err := c.Check(); err != nil {
				t.Fatalf("Check: got %v, want nil", err)
			}
			o, err := c.Options("redis.example:6380")
			if err != nil {
				t.Fatalf("Options: %v", err)
			}
			if o.Addr != "redis.example:6380" || o.Username != tc.user || o.Password != tc.pw {
				t.Errorf("got addr %q user %q password %q, want redis.example:6380 %q %q", o.Addr, o.Username, o.Password, tc.user, tc.pw)
			}
			if got := o.TLSConfig != nil; got != tc.tls {
				t.Fatalf("TLS: got %v, want %v", got, tc.tls)
			}
			if !tc.tls {
				return
			}
			if o.TLSConfig.MinVersion != tls.VersionTLS12 || o.TLSConfig.ServerName != tc.sni || o.TLSConfig.InsecureSkipVerify {
				t.Errorf("TLS: got min %x server name %q skip %v, want TLS 1.2, %q, verified", o.TLSConfig.MinVersion, o.TLSConfig.ServerName, o.TLSConfig.InsecureSkipVerify, tc.sni)
			}
			if got := o.TLSConfig.RootCAs != nil; got != tc.roots {
				t.Errorf("RootCAs set: got %v, want %v", got, tc.roots)
			}
		})
	}
	// The server name is the address's host, whatever its form.
	for addr, want := range map[string]string{"127.0.0.1:6380": "127.0.0.1", "[::1]:6380": "::1", "redis.internal": "redis.internal"} {
		o, err := redisconn.Settings{TLS: true}.Options(addr)
		if err != nil || o.TLSConfig.ServerName != want {
			t.Errorf("Options(%q): got %v, want server name %q", addr, err, want)
		}
	}
}

func TestSettingsRejects(t *testing.T) {
	dir := t.TempDir()
	garbageCA := write(t, "garbage.pem", "-----BEGIN CERTIFICATE-----\nhunter2\n-----END CERTIFICATE-----\n")
	keyOnly := write(t, "key.pem", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"both passwords", map[string]string{"REDIS_PASSWORD": "hunter2", "REDIS_PASSWORD_FILE": write(t, "pw", "x")}, "REDIS_PASSWORD and REDIS_PASSWORD_FILE: set one, not both"},
		{"password with newline", map[string]string{"REDIS_PASSWORD": "hunter2\n"}, "REDIS_PASSWORD: must be one line without control characters"},
		{"password with NUL", map[string]string{"REDIS_PASSWORD": "hun\x00ter2"}, "REDIS_PASSWORD: must be one line"},
		{"missing password file", map[string]string{"REDIS_PASSWORD_FILE": filepath.Join(dir, "nope")}, "REDIS_PASSWORD_FILE: open " + dir + "/nope: no such file or directory"},
		{"password file is a folder", map[string]string{"REDIS_PASSWORD_FILE": dir}, "REDIS_PASSWORD_FILE: read " + dir},
		{"empty password file", map[string]string{"REDIS_PASSWORD_FILE": write(t, "empty", "")}, "REDIS_PASSWORD_FILE: /"},
		{"just a newline", map[string]string{"REDIS_PASSWORD_FILE": write(t, "nl", "\n")}, "is empty"},
		{"two lines", map[string]string{"REDIS_PASSWORD_FILE": write(t, "two", "hunter2\nsecond\n")}, "must hold one line without control characters"},
		{"huge password file", map[string]string{"REDIS_PASSWORD_FILE": write(t, "huge", strings.Repeat("h", 2<<20))}, "larger than 1024 KiB"},
		{"user without password", map[string]string{"REDIS_USERNAME": "origin"}, "REDIS_USERNAME: set, but no password"},
		{"user with newline", map[string]string{"REDIS_USERNAME": "origin\nx", "REDIS_PASSWORD": "hunter2"}, "REDIS_USERNAME: must be one line"},
		{"CA without TLS", map[string]string{"REDIS_TLS_CA_FILE": garbageCA}, "REDIS_TLS_CA_FILE: set, but REDIS_TLS is off"},
		{"missing CA", map[string]string{"REDIS_TLS": "1", "REDIS_TLS_CA_FILE": filepath.Join(dir, "ca.pem")}, "REDIS_TLS_CA_FILE: open " + dir + "/ca.pem: no such file"},
		{"garbage CA", map[string]string{"REDIS_TLS": "1", "REDIS_TLS_CA_FILE": garbageCA}, "REDIS_TLS_CA_FILE: " + garbageCA + " holds no PEM certificate"},
		{"key instead of CA", map[string]string{"REDIS_TLS": "1", "REDIS_TLS_CA_FILE": keyOnly}, "holds no PEM certificate"},
		{"binary CA", map[string]string{"REDIS_TLS": "true", "REDIS_TLS_CA_FILE": write(t, "bin", "\x00\xff\xfe")}, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := load(t, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a secret", err)
			}
			if _, err := c.Options("127.0.0.1:6379"); err == nil {
				t.Error("Options: got nil, want the same error")
			}
		})
	}
	// A flag for the password itself does not exist.
	if _, _, err := load(t, nil, "--redis-password", "hunter2"); err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -redis-password") {
		t.Errorf("--redis-password: got %v, want it unknown", err)
	}
}

// aclUser creates a Redis ACL user allowed only keys under lctest: and
// deletes it when the test ends.
func aclUser(t *testing.T, password string) string {
	t.Helper()
	admin := redis.NewClient(&redis.Options{Addr: redisAddr()})
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	user := "lctest-" + hex.EncodeToString(b)
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+password, "~lctest:*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	return user
}

// TestAuthAgainstRedis: the machine's Redis accepts the right password of
// an ACL user and refuses a wrong one with a clear error.
func TestAuthAgainstRedis(t *testing.T) {
	user := aclUser(t, "right-pass-hunter2")
	pwFile := write(t, "pw", "right-pass-hunter2\n")
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		refused bool
	}{
		{"right password", map[string]string{"REDIS_USERNAME": user, "REDIS_PASSWORD": "right-pass-hunter2"}, false},
		{"right password from a file", map[string]string{"REDIS_USERNAME": user, "REDIS_PASSWORD_FILE": pwFile}, false},
		{"wrong password", map[string]string{"REDIS_USERNAME": user, "REDIS_PASSWORD": "wrong-pass-hunter3"}, true},
		{"unknown user", map[string]string{"REDIS_USERNAME": user + "-nobody", "REDIS_PASSWORD": "right-pass-hunter2"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := load(t, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			o, err := c.Options(redisAddr())
			if err != nil {
				t.Fatal(err)
			}
			err = redisconn.Verify(ctx, o)
			if !tc.refused {
				rdb := redis.NewClient(o)
				defer rdb.Close()
				if err != nil {
					t.Fatalf("Verify: got %v, want nil", err)
				}
				if err := rdb.Set(ctx, "lctest:"+user, "1", time.Minute).Err(); err != nil {
					t.Errorf("SET under lctest: got %v, want it allowed", err)
				}
				rdb.Del(ctx, "lctest:"+user)
				return
			}
			if !errors.Is(err, redisconn.ErrRefused) || !strings.Contains(err.Error(), "REDIS_PASSWORD") {
				t.Errorf("Verify: got %v, want ErrRefused naming REDIS_PASSWORD", err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	// Nothing listening is not a settings error: the program starts, and
	// its breaker and readiness check cope.
	start := time.Now()
	if err := redisconn.Verify(ctx, &redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}); err != nil {
		t.Errorf("Verify with Redis down: got %v, want nil", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Verify with Redis down took %v, want it bounded", d)
	}
}

// ca is a throwaway certificate authority with one server certificate
// for 127.0.0.1.
type ca struct {
	certPEM, serverCertPEM, serverKeyPEM []byte
}

func testCA(t *testing.T) ca {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lctest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return ca{
		certPEM:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		serverCertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		serverKeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// startTLSRedis starts a throwaway redis-server speaking only TLS on a
// free loopback port, and stops it when the test ends.
func startTLSRedis(t *testing.T, c ca) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server on PATH for the TLS test")
	}
	dir := t.TempDir()
	files := map[string][]byte{"ca.pem": c.certPEM, "server.pem": c.serverCertPEM, "server.key": c.serverKeyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", "0", "--bind", "127.0.0.1", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(dir, "server.pem"), "--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"), "--tls-auth-clients", "no",
		"--dir", dir, "--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server with TLS did not start:\n%s", log)
		}
	}
}

// TestTLSAgainstRedis: a TLS-only redis-server with its own CA is reached
// with REDIS_TLS_CA_FILE, and refused when the certificate cannot be
// checked or the server speaks no TLS.
func TestTLSAgainstRedis(t *testing.T) {
	c := testCA(t)
	addr := startTLSRedis(t, c)
	_, port, _ := net.SplitHostPort(addr)
	caFile := write(t, "ca.pem", string(c.certPEM))
	otherCA := write(t, "other.pem", string(testCA(t).certPEM))
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		addr       string
		env        map[string]string
		wantTLSErr bool
	}{
		{"own CA", addr, map[string]string{"REDIS_TLS": "true", "REDIS_TLS_CA_FILE": caFile}, false},
		{"system roots", addr, map[string]string{"REDIS_TLS": "true"}, true},
		{"another CA", addr, map[string]string{"REDIS_TLS": "true", "REDIS_TLS_CA_FILE": otherCA}, true},
		{"name not in the certificate", "localhost:" + port, map[string]string{"REDIS_TLS": "true", "REDIS_TLS_CA_FILE": caFile}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := load(t, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			o, err := s.Options(tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			o.DialTimeout = time.Second
			err = redisconn.Verify(ctx, o)
			if tc.wantTLSErr {
				if !errors.Is(err, redisconn.ErrTLS) {
					t.Errorf("Verify: got %v, want ErrTLS", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: got %v, want nil", err)
			}
			rdb := redis.NewClient(o)
			defer rdb.Close()
			if err := rdb.Set(ctx, "lctest:tls", "1", time.Minute).Err(); err != nil {
				t.Errorf("SET over TLS: %v", err)
			}
		})
	}
}
