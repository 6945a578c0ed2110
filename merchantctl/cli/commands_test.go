package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"livecommerce/merchantctl/cli"
	"livecommerce/origin/origintest"
)

func TestRestockAndReport(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	live := uniqueID("S")
	purgeAtEnd(t, e, live)
	path := writeFile(t, "p.csv", header+"S1,Tee,1999,JPY,10,5,2\nS2,Mug,1999,USD,3,5,0\n")
	if r := run(t, envFor(e), "upload", "--live", live, "--title", "Restock", path); r.code != 0 {
		t.Fatalf("%s", r)
	}

	r := run(t, envFor(e), "restock", "--sku", "S1", "--add", "50", "--reason", "new delivery")
	if r.code != 0 || !strings.Contains(r.stdout, "stock is now 60") {
		t.Fatalf("restock --add: got %s, want stock 60", r)
	}
	r = run(t, envFor(e), "restock", "--sku", "S1", "--remove", "5")
	if r.code != 0 || !strings.Contains(r.stdout, "stock is now 55") {
		t.Fatalf("restock --remove: got %s, want stock 55", r)
	}
	var stock int
	e.DB.QueryRow("SELECT stock FROM products WHERE sku = 'S1'").Scan(&stock)
	if stock != 55 {
		t.Errorf("stock in the database: got %d, want 55", stock)
	}
	var reason string
	e.DB.QueryRow("SELECT reason FROM stock_adjustments WHERE sku = 'S1' AND delta = 50").Scan(&reason)
	if reason != "new delivery" {
		t.Errorf("reason: got %q, want %q", reason, "new delivery")
	}

	// The server refuses: below what is sold (nothing sold, stock 3).
	r = run(t, envFor(e), "restock", "--sku", "S2", "--remove", "4")
	if r.code != 1 || !strings.Contains(r.stderr, "invalid_request") {
		t.Errorf("removing more than the stock: got %s, want exit 1 with invalid_request", r)
	}
	r = run(t, envFor(e), "restock", "--sku", "NOPE", "--add", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "not found (404)") {
		t.Errorf("unknown sku: got %s, want exit 1 not found", r)
	}

	for _, buy := range []struct {
		sku string
		qty int
	}{{"S1", 3}, {"S2", 1}} {
		if res, err := e.Purchase("buyer-"+buy.sku, uniqueID("k"), buy.sku, buy.qty); err != nil || res.Status != 201 {
			t.Fatalf("purchase %s: %v %d %s", buy.sku, err, res.Status, res.Body)
		}
	}
	r = run(t, envFor(e), "report", "--live", live)
	if r.code != 0 {
		t.Fatalf("report: %s", r)
	}
	lines := strings.Split(r.stdout, "\n")
	want := [][]string{
		{"SKU", "NAME", "STOCK", "SOLD", "REMAINING", "REVENUE"},
		{"S1", "Tee", "55", "3", "52", "JPY", "5,997"},
		{"S2", "Mug", "3", "1", "2", "USD", "19.99"},
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("report line %d: got %q, want %q", i+1, got, w)
		}
	}
	if !strings.Contains(r.stdout, "TOTAL") {
		t.Errorf("report: no TOTAL line:\n%s", r.stdout)
	}
	r = run(t, envFor(e), "report", "--live", live, "--json")
	var raw map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &raw) != nil || raw["live_id"] != live {
		t.Errorf("report --json: got %s, want the origin's JSON", r)
	}
	r = run(t, envFor(e), "report", "--live", "nosuchlive")
	if r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("report of an unknown live: got %s, want exit 1 not found", r)
	}
}

func TestWrongAndRevokedKeys(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	db := e.Server.Deps().DB
	merchant, key, err := db.CreateMerchant(context.Background(), "Revoked Shop", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeMerchantKeys(context.Background(), merchant, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	wrong := "lck_000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for name, k := range map[string]string{"revoked": key, "wrong": wrong, "garbage": "hunter2"} {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{
				{"report", "--live", "L1"},
				{"restock", "--sku", "A1", "--add", "1"},
				{"upload", "--live", "L1", productsCSV(t, "W", 2)},
			} {
				r := run(t, map[string]string{"ORIGIN_URL": e.URL, "MERCHANT_API_KEY": k}, args...)
				if r.code != 1 || !strings.Contains(r.stderr, "wrong or has been revoked") {
					t.Errorf("%s: got %s, want exit 1 saying the key is wrong or revoked", args[0], r)
				}
				if strings.Contains(r.stdout+r.stderr, k) {
					t.Errorf("%s: the key was printed", args[0])
				}
			}
		})
	}
}

func TestExitCodesAndHelp(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	env := envFor(e)
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout (0) or stderr (else)
	}{
		{[]string{"--help"}, 0, "Commands:"},
		{[]string{"help", "upload"}, 0, "Usage: merchantctl upload"},
		{[]string{"upload", "--help"}, 0, "quantity, qty -> stock"},
		{[]string{"restock", "-h"}, 0, "merchantctl restock --sku A1 --add 50"},
		{[]string{"report", "--help"}, 0, "--json"},
		{[]string{"lives", "--help"}, 0, "merchantctl lives"},
		{nil, 2, "Commands:"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"upload", "--live", "L1"}, 2, "expected one FILE"},
		{[]string{"upload", "x.csv"}, 2, "--live is required"},
		{[]string{"upload", "--live", "bad live", "x.csv"}, 2, "--live must be"},
		{[]string{"upload", "--live", "L1", "x.txt"}, 2, "--format"},
		{[]string{"upload", "--live", "L1", "--chunk-size", "5001", "x.csv"}, 2, "--chunk-size"},
		{[]string{"upload", "--live", "L1", "--nope", "x.csv"}, 2, "flag provided but not defined: -nope"},
		{[]string{"upload", "--live", "L1", "/does/not/exist.csv"}, 1, "no such file"},
		{[]string{"restock", "--sku", "A1"}, 2, "exactly one of --add N or --remove N"},
		{[]string{"restock", "--sku", "A1", "--add", "1", "--remove", "1"}, 2, "exactly one"},
		{[]string{"restock", "--sku", "A1", "--add", "-3"}, 2, "--add must be a whole number"},
		{[]string{"restock", "--sku", "A1", "--add", "1.5"}, 2, "--add must be a whole number"},
		{[]string{"restock", "--sku", "A/1", "--add", "1"}, 2, "--sku must be"},
		{[]string{"report"}, 2, "--live is required"},
		{[]string{"report", "--live", "L1", "extra"}, 2, "unexpected argument"},
	} {
		r := run(t, env, tc.args...)
		where := r.stderr
		if tc.code == 0 {
			where = r.stdout
		}
		if r.code != tc.code || !strings.Contains(where, tc.out) {
			t.Errorf("merchantctl %q: got %s, want exit %d with %q", tc.args, r, tc.code, tc.out)
		}
	}
}

// TestLives runs against the origin when it offers GET /admin/v1/lives,
// and always against a stand-in answering the documented shape.
func TestLives(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	live := uniqueID("V")
	purgeAtEnd(t, e, live)
	path := writeFile(t, "p.csv", header+"V1,Tee,1,JPY,1,1,0\n")
	if r := run(t, envFor(e), "upload", "--live", live, "--title", "Lives test", path); r.code != 0 {
		t.Fatalf("%s", r)
	}
	if r := run(t, envFor(e), "lives"); r.code != 0 || !strings.Contains(r.stdout, live) || !strings.Contains(r.stdout, "Lives test") {
		t.Errorf("lives on the origin: got %s, want %s listed", r, live)
	}

	body := `{"lives":[{"live_id":"L2","title":"Newer","sale_starts_at":"2026-12-01T10:00:00Z","sale_ends_at":null,` +
		`"created_at":"2026-11-02T00:00:00Z","updated_at":"2026-11-02T00:00:00Z","products":3},` +
		`{"live_id":"L1","title":"Older\ttabbed","sale_starts_at":null,"sale_ends_at":null,` +
		`"created_at":"2026-11-01T00:00:00Z","updated_at":"2026-11-01T00:00:00Z","products":50000}]}`
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin/v1/lives" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, `{"error":{"code":"not_found","message":"not found"}}`, 404)
			return
		}
		w.Write([]byte(body))
	}))
	defer s.Close()
	env := map[string]string{"ORIGIN_URL": s.URL, "MERCHANT_API_KEY": "k"}
	r := run(t, env, "lives")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) < 3 {
		t.Fatalf("lives: %s", r)
	}
	for i, w := range []string{"LIVE TITLE PRODUCTS SALE STARTS SALE ENDS UPDATED",
		"L2 Newer 3 2026-12-01T10:00:00Z - 2026-11-02T00:00:00Z",
		"L1 Older?tabbed 50000 - - 2026-11-01T00:00:00Z"} {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != w {
			t.Errorf("lives line %d: got %q, want %q", i+1, got, w)
		}
	}
	if r := run(t, env, "lives", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != body {
		t.Errorf("lives --json: got %s, want the server's body", r)
	}
}

func TestMoney(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{1999, "JPY", "JPY 1,999"},
		{1999, "USD", "USD 19.99"},
		{0, "USD", "USD 0.00"},
		{5, "USD", "USD 0.05"},
		{123456789, "USD", "USD 1,234,567.89"},
		{1000000, "JPY", "JPY 1,000,000"},
		{1234, "KWD", "KWD 1.234"},
		{-1999, "USD", "USD -19.99"},
		{100, "EUR", "EUR 1.00"},
	} {
		if got := cli.Money(tc.minor, tc.currency); got != tc.want {
			t.Errorf("Money(%d, %s): got %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}

// TestKeyPastedAsArgumentNotShown: an API key typed where an argument or
// command goes must not be echoed in the error.
func TestKeyPastedAsArgumentNotShown(t *testing.T) {
	const key = "lck_0123456789abcdef01234567_SECRETsecretSECRETsecret0123456789abcd"
	env := map[string]string{"ORIGIN_URL": "http://127.0.0.1:9", "MERCHANT_API_KEY": "k"}
	for _, args := range [][]string{{key}, {"report", "--live", "L1", key}, {"restock", "--sku", "A1", "--add", "1", key}, {"lives", key}} {
		r := run(t, env, args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args[:len(args)-1], r.code)
		}
		if strings.Contains(r.stdout+r.stderr, "SECRET") {
			t.Errorf("%v: the key's secret was printed: %s", args[:len(args)-1], r)
		}
	}
}
