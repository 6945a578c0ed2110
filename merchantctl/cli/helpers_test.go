package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
	"livecommerce/merchantctl/cli"
	"livecommerce/origin/origintest"
)

// result is one merchantctl run.
type result struct {
	code           int
	stdout, stderr string
}

// run runs merchantctl in-process with only the given environment.
func run(t testing.TB, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// envFor points merchantctl at e as e's merchant.
func envFor(e *origintest.Env) map[string]string {
	return map[string]string{"ORIGIN_URL": e.URL, "MERCHANT_API_KEY": e.Key}
}

func uniqueID(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func count(t testing.TB, e *origintest.Env, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func liveProducts(t testing.TB, e *origintest.Env, live string) int {
	t.Helper()
	return count(t, e, "SELECT COUNT(*) FROM products WHERE live_id = ?", live)
}

// purgeAtEnd removes a live's stock events from the machine's shared
// STOCK stream when the test ends, as origintest.SetUpLive does.
func purgeAtEnd(t testing.TB, e *origintest.Env, live string) {
	t.Cleanup(func() {
		js, err := jetstream.New(e.Server.Deps().NATS)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if s, err := js.Stream(ctx, stockstream.Name); err == nil {
			s.Purge(ctx, jetstream.WithPurgeSubject(stock.LiveSubject(live)))
		}
	})
}

const header = "sku,name,price,currency,stock,per_buyer_limit,low_stock_threshold\n"

// productsCSV writes n good rows with skus prefix0..prefix(n-1).
func productsCSV(t testing.TB, prefix string, n int) string {
	t.Helper()
	var b strings.Builder
	b.Grow(n * 48)
	b.WriteString(header)
	for i := range n {
		fmt.Fprintf(&b, "%s%d,Product %d,1999,JPY,%d,5,2\n", prefix, i, i, 100+i%50)
	}
	return writeFile(t, "products.csv", b.String())
}
