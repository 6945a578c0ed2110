package natsconn_test

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"livecommerce/internal/natsconn"
)

func TestCheckURL(t *testing.T) {
	for _, raw := range []string{
		"nats://127.0.0.1:4222",
		"tls://nats.example:4222",
		"nats://127.0.0.1:4222/",
		"nats://user:hunter2@127.0.0.1:4222",
		"nats://s3cr3t-token@127.0.0.1:4222",
		"nats://[::1]:4222",
		"nats://a:4222,nats://b:4222, tls://c:4222",
		"NATS://127.0.0.1",
	} {
		if err := natsconn.CheckURL(raw); err != nil {
			t.Errorf("CheckURL(%q): got %v, want nil", raw, err)
		}
	}
	for _, tc := range []struct{ raw, want string }{
		{"", "is empty"},
		{"   ", "is empty"},
		{"127.0.0.1:4222", "not a URL"},
		{"localhost", "must start with nats:// or tls://"},
		{"http://127.0.0.1:4222", "must start with nats:// or tls://"},
		{"ws://127.0.0.1:4222", "must start with nats:// or tls://"},
		{"nats://user:hunter2@[::1", "not a URL"},
		{"nats://user:hunter2@host:99999", "port must be 1 to 65535"},
		{"nats://user:hunter2@host:0", "port must be 1 to 65535"},
		{"nats://user:hunter2@", "has no host"},
		{"nats://user:hunter2@host:4222/path", "must not have a path"},
		{"nats://user:hunter2@host:4222?x=1", "query"},
		{"nats://user:hunter2@host:4222#f", "fragment"},
		{"nats://user:hunter2@host\n:4222", "control characters"},
		{"nats://user:hunter2@host:4222,", "server 2 of 2: has an empty server URL"},
		{"nats://a:1,nats://user:hunter2@b c:2", "server 2 of 2: not a URL"},
		{"nats://user:hunter2@h:1" + strings.Repeat(",nats://h:1", 500), "longer than 4096 bytes"},
	} {
		err := natsconn.CheckURL(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckURL(%.40q): got %v, want an error saying %q", tc.raw, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("CheckURL(%.40q): error %q repeats the password", tc.raw, err)
		}
	}
}

func TestCheckNamesSettings(t *testing.T) {
	err := natsconn.Check("nats://u:hunter2@[::1", filepath.Join(t.TempDir(), "missing.creds"))
	if err == nil || !strings.Contains(err.Error(), "NATS_URL: not a URL") || !strings.Contains(err.Error(), "NATS_CREDS: cannot read a user JWT from") {
		t.Errorf("got %v, want errors naming NATS_URL and NATS_CREDS", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q repeats the password", err)
	}
	if err := natsconn.Check("nats://127.0.0.1:4222", ""); err != nil {
		t.Errorf("no creds: got %v, want nil", err)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:hunter2@127.0.0.1:4222", "nats://user:xxxxx@127.0.0.1:4222"},
		{"nats://user:xxxxx@127.0.0.1:4222", "nats://user:xxxxx@127.0.0.1:4222"},
		{"nats://s3cr3t-token@127.0.0.1:4222", "nats://xxxxx@127.0.0.1:4222"},
		{"nats://user:hunter2@[::1", "(unreadable URL)"},
		{"", ""},
	} {
		if got := natsconn.Redact(tc.raw); got != tc.want {
			t.Errorf("Redact(%q): got %q, want %q", tc.raw, got, tc.want)
		}
	}
}

// TestConnectMachineNATS: the options every service gets, against the
// machine's server.
func TestConnectMachineNATS(t *testing.T) {
	u := os.Getenv("NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	nc, err := natsconn.Connect(u, "natsconn-test", natsconn.Options{ReconnectBufSize: 16 << 20}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatalf("flush: %v", err)
	}
	o := nc.Opts
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"Name", o.Name, "natsconn-test"},
		{"RetryOnFailedConnect", o.RetryOnFailedConnect, true},
		{"MaxReconnect", o.MaxReconnect, -1},
		{"ReconnectWait", o.ReconnectWait, 250 * time.Millisecond},
		{"ReconnectBufSize", o.ReconnectBufSize, 16 << 20},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestConnectRefusesBadSettings: a bad URL or creds file fails before any
// connection, naming the setting and never the password.
func TestConnectRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.creds")
	os.WriteFile(garbage, []byte("not a creds file\n"), 0o600)
	for _, tc := range []struct {
		name, url, creds, want string
	}{
		{"malformed URL", "nats://user:hunter2@[::1", "", "NATS_URL: not a URL"},
		{"missing creds", "nats://127.0.0.1:4222", filepath.Join(dir, "nope.creds"), "NATS_CREDS: cannot read a user JWT from " + dir},
		{"garbage creds", "nats://127.0.0.1:4222", garbage, "NATS_CREDS: " + garbage + " holds no user JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := natsconn.Connect(tc.url, "t", natsconn.Options{Creds: tc.creds}, slog.New(slog.DiscardHandler))
			if err == nil {
				nc.Close()
				t.Fatalf("got a connection, want an error saying %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("got %q, want %q and no password", err, tc.want)
			}
		})
	}
}

// restartable is an in-process server that can be stopped and started on
// the same port, as a restarted NATS would be.
type restartable struct {
	t    *testing.T
	opts *server.Options
	srv  *server.Server
}

func startServer(t *testing.T, opts *server.Options, setUp func(*server.Server)) *restartable {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	r := &restartable{t: t, opts: opts}
	r.start(setUp)
	r.opts.Port = r.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) start(setUp func(*server.Server)) {
	r.t.Helper()
	srv, err := server.NewServer(r.opts)
	if err != nil {
		r.t.Fatalf("nats server: %v", err)
	}
	if setUp != nil {
		setUp(srv)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		r.t.Fatal("nats server did not start")
	}
	r.srv = srv
}

func (r *restartable) stop() {
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv.WaitForShutdown()
		r.srv = nil
	}
}

// syncBuffer is a log destination written by nats.go's callbacks.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReconnectLogRedacted: the disconnect and reconnect lines name the
// server without its password or token.
func TestReconnectLogRedacted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     *server.Options
		userinfo string
		want     string
	}{
		{"password", &server.Options{Username: "lc", Password: "hunter2-pass"}, "lc:hunter2-pass@", "nats://lc:xxxxx@127.0.0.1:"},
		{"token", &server.Options{Authorization: "hunter2-token"}, "hunter2-token@", "nats://xxxxx@127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.opts, nil)
			var logs syncBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			u := "nats://" + tc.userinfo + srv.srv.Addr().String()
			nc, err := natsconn.Connect(u, "redact-test", natsconn.Options{}, log)
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			defer nc.Close()
			if err := nc.FlushTimeout(5 * time.Second); err != nil {
				t.Fatalf("flush: %v", err)
			}
			srv.stop()
			srv.start(nil)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(logs.String(), "nats reconnected") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			got := logs.String()
			if !strings.Contains(got, "nats disconnected") || !strings.Contains(got, `"msg":"nats reconnected","url":"`+tc.want) {
				t.Errorf("logs: got %s, want a disconnect and a reconnect to %s...", got, tc.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("logs show the secret: %s", got)
			}
		})
	}
}

// operator is a NATS operator with one account, for servers that admit
// only users holding a .creds file signed by that account.
type operator struct {
	account    nkeys.KeyPair
	claims     *jwt.OperatorClaims
	accountJWT string
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	if _, err := oc.Encode(okp); err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	return &operator{account: akp, claims: oc, accountJWT: ajwt}
}

// creds writes a .creds file of a new user signed by signer.
func (o *operator) creds(t *testing.T, signer nkeys.KeyPair) string {
	t.Helper()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	ujwt, err := jwt.NewUserClaims(upub).Encode(signer)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	b, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCredsFile: NATS_CREDS signs the connection in; the server refuses
// the same service without it, and a user of another account.
func TestCredsFile(t *testing.T) {
	op := newOperator(t)
	apub, _ := op.account.PublicKey()
	srv := startServer(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{op.claims}, AccountResolver: &server.MemAccResolver{}},
		func(s *server.Server) { s.AccountResolver().Store(apub, op.accountJWT) })
	u := srv.srv.ClientURL()
	log := slog.New(slog.DiscardHandler)

	good := op.creds(t, op.account)
	if err := natsconn.CheckCreds(good); err != nil {
		t.Fatalf("CheckCreds(good): got %v, want nil", err)
	}
	nc, err := natsconn.Connect(u, "creds-test", natsconn.Options{Creds: good}, log)
	if err != nil {
		t.Fatalf("Connect with creds: %v", err)
	}
	defer nc.Close()
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Errorf("with creds: got %v, want a working connection", err)
	}

	// The server really demands them: without, or signed by a stranger,
	// it refuses.
	stranger, _ := nkeys.CreateAccount()
	for name, opts := range map[string][]nats.Option{
		"no creds":      nil,
		"other account": {nats.UserCredentials(op.creds(t, stranger))},
	} {
		if nc, err := nats.Connect(u, opts...); err == nil {
			nc.Close()
			t.Errorf("%s: got a connection, want it refused", name)
		}
	}
}

// TestCheckCreds: files that cannot sign a connection are refused at start.
func TestCheckCreds(t *testing.T) {
	dir := t.TempDir()
	op := newOperator(t)
	good, err := os.ReadFile(op.creds(t, op.account))
	if err != nil {
		t.Fatal(err)
	}
	jwtOnly := good[:bytes.Index(good, []byte("************************* IMPORTANT"))]
	seedOnly := good[bytes.Index(good, []byte("-----BEGIN USER NKEY SEED")):]
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing.creds"), "cannot read a user JWT from " + dir + "/missing.creds: nats: open"},
		{"a folder", dir, "cannot read a user JWT from " + dir},
		{"empty", write("empty.creds", nil), "holds no user JWT"},
		{"garbage", write("garbage.creds", []byte("SUPERSECRET\x00\xff line\n")), "holds no user JWT"},
		{"jwt only", write("jwt.creds", jwtOnly), "holds no usable user seed: nkeys: no nkey seed found"},
		{"seed only", write("seed.creds", seedOnly), "holds no user JWT"},
		{"bad seed", write("badseed.creds", bytes.Replace(good, []byte("\nSU"), []byte("\nSUXX"), 1)), "holds no usable user seed"},
	} {
		err := natsconn.CheckCreds(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SUPERSECRET") {
			t.Errorf("%s: error %q repeats the file", tc.name, err)
		}
	}
	if os.Getuid() != 0 {
		unreadable := write("unreadable.creds", good)
		os.Chmod(unreadable, 0)
		if err := natsconn.CheckCreds(unreadable); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable: got %v, want permission denied", err)
		}
	}
}
