package natstest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// StartWithCreds starts a server like Start that admits only users of one
// account (operator mode, as a production NATS signs its users in), and
// returns it with the path of a .creds file of one such user.
func StartWithCreds(t testing.TB) (*Server, string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	op := jwt.NewOperatorClaims(opub)
	// The system account JetStream and the server's own bookkeeping use.
	skp, _ := nkeys.CreateAccount()
	spub, _ := skp.PublicKey()
	op.SystemAccount = spub
	_, err = op.Encode(okp)
	must(err)
	sysJWT, err := jwt.NewAccountClaims(spub).Encode(okp)
	must(err)

	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := ac.Encode(okp)
	must(err)

	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	userJWT, err := jwt.NewUserClaims(upub).Encode(akp)
	must(err)
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)
	path := filepath.Join(t.TempDir(), "user.creds")
	must(os.WriteFile(path, creds, 0o600))

	resolver := &server.MemAccResolver{}
	must(resolver.Store(spub, sysJWT))
	must(resolver.Store(apub, accJWT))
	n := &Server{t: t, opts: &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
		TrustedOperators: []*jwt.OperatorClaims{op}, SystemAccount: spub, AccountResolver: resolver,
	}}
	n.start()
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	n.URL = n.srv.ClientURL()
	t.Cleanup(n.Stop)
	return n, path
}
