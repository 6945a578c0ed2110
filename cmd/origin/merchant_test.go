package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"livecommerce/origin/apikey"
	"livecommerce/origin/migrate"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/origintest"
	"livecommerce/sql/migrations"
)

// merchantCmd runs `origin merchant args...` against e's database.
func merchantCmd(t *testing.T, e *origintest.Env, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"merchant"}, args...), &out, envFor(e, origintest.NATSURL()))
	return out.String(), err
}

// mustMerchantCmd is merchantCmd that fails the test on an error.
func mustMerchantCmd(t *testing.T, e *origintest.Env, args ...string) string {
	t.Helper()
	out, err := merchantCmd(t, e, args...)
	if err != nil {
		t.Fatalf("origin merchant %.200q: %v (output %q)", args, err, out)
	}
	return out
}

// field is the value of the "name: value" line of a command's output.
func field(t *testing.T, out, name string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return v
		}
	}
	t.Fatalf("output %q has no %s line", out, name)
	return ""
}

// adminStatus is the status of an admin request made with key: 2xx when
// the key works, 401 when it does not. Each merchant writes its own live.
func adminStatus(t *testing.T, e *origintest.Env, key string) int {
	t.Helper()
	id, _, err := apikey.Parse(key)
	if err != nil {
		t.Fatalf("parse key: %v", err)
	}
	r := e.MustDo("PUT", "/admin/v1/lives/K"+id, []byte(`{"title":"key check"}`), "Authorization", "Bearer "+key)
	return r.Status
}

func wantKeyWorks(t *testing.T, e *origintest.Env, what, key string) {
	t.Helper()
	if got := adminStatus(t, e, key); got/100 != 2 {
		t.Errorf("%s: admin request got %d, want 2xx", what, got)
	}
}

func wantKeyRefused(t *testing.T, e *origintest.Env, what, key string) {
	t.Helper()
	if got := adminStatus(t, e, key); got != 401 {
		t.Errorf("%s: admin request got %d, want 401", what, got)
	}
}

// listLines is `origin merchant list --merchant id` without its header.
func listLines(t *testing.T, e *origintest.Env, merchant string) []string {
	t.Helper()
	out := mustMerchantCmd(t, e, "list", "--merchant", merchant)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "MERCHANT") {
		t.Fatalf("list output %q, want a header line first", out)
	}
	return lines[1:]
}

// TestMerchantKeyLifecycle walks one merchant through create, list,
// rotate and revoke, checking the admin API after each step.
func TestMerchantKeyLifecycle(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	ctx := context.Background()
	name := `O'Brien "Shop"; DROP TABLE merchants; --`

	out := mustMerchantCmd(t, e, "create", "--name", name)
	merchant, key1 := field(t, out, "merchant_id"), field(t, out, "api_key")
	id1, _, err := apikey.Parse(key1)
	if err != nil {
		t.Fatalf("create printed api_key %q: %v", key1, err)
	}
	if got := field(t, out, "key_id"); got != apikey.Name(id1) {
		t.Errorf("create key_id: got %q, want %q", got, apikey.Name(id1))
	}
	var stored string
	if err := e.DB.QueryRow("SELECT name FROM merchants WHERE id = ?", merchant).Scan(&stored); err != nil || stored != name {
		t.Fatalf("stored name: got %q (%v), want %q as given", stored, err, name)
	}
	wantKeyWorks(t, e, "created key", key1)

	t.Run("list shows the key without its secret", func(t *testing.T) {
		lines := listLines(t, e, merchant)
		if len(lines) != 1 {
			t.Fatalf("list: got %q, want one key", lines)
		}
		for _, want := range []string{merchant, fmt.Sprintf("%q", name), apikey.Name(id1), "active"} {
			if !strings.Contains(lines[0], want) {
				t.Errorf("list line %q: want it to carry %q", lines[0], want)
			}
		}
		var hash string
		if err := e.DB.QueryRow("SELECT LOWER(HEX(secret_hash)) FROM merchant_api_keys WHERE id = ?", id1).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		all := mustMerchantCmd(t, e, "list")
		for _, secret := range []string{key1, key1[len(key1)-43:], hash, strings.ToUpper(hash)} {
			if strings.Contains(all, secret) {
				t.Errorf("list output %q carries a secret or its hash %q", all, secret)
			}
		}
		if !strings.Contains(all, e.Merchant) || !strings.Contains(all, merchant) {
			t.Errorf("list of every merchant %q: want both %s and %s", all, e.Merchant, merchant)
		}
	})

	out = mustMerchantCmd(t, e, "rotate", "--merchant", merchant)
	key2 := field(t, out, "api_key")
	id2, _, err := apikey.Parse(key2)
	if err != nil || id2 == id1 {
		t.Fatalf("rotate printed api_key %q (%v), want a new key", key2, err)
	}
	if got := field(t, out, "still_active"); got != apikey.Name(id1) {
		t.Errorf("rotate still_active: got %q, want %q", got, apikey.Name(id1))
	}
	t.Run("after rotate both keys work until the old one is revoked", func(t *testing.T) {
		wantKeyWorks(t, e, "new key", key2)
		wantKeyWorks(t, e, "old key", key1)
		if lines := listLines(t, e, merchant); len(lines) != 2 || strings.Count(strings.Join(lines, "\n"), "active") != 2 {
			t.Errorf("list: got %q, want two active keys", lines)
		}
	})

	t.Run("revoke stops the key at once, the others keep working", func(t *testing.T) {
		out := mustMerchantCmd(t, e, "revoke", "--key", apikey.Name(id1))
		if got := field(t, out, "revoked"); got != apikey.Name(id1) {
			t.Errorf("revoke: got revoked %q, want %q", got, apikey.Name(id1))
		}
		if got := field(t, out, "active_keys_left"); got != "1" {
			t.Errorf("revoke: got active_keys_left %q, want 1", got)
		}
		wantKeyRefused(t, e, "revoked key", key1)
		if _, err := e.Server.Deps().DB.MerchantByAPIKey(ctx, key1); err == nil {
			t.Error("MerchantByAPIKey(revoked key) = nil error, want ErrBadAPIKey")
		}
		wantKeyWorks(t, e, "the merchant's other key", key2)
		wantKeyWorks(t, e, "another merchant's key", e.Key)
		lines := listLines(t, e, merchant)
		if len(lines) != 2 || !strings.Contains(lines[0], "revoked 20") || !strings.HasSuffix(lines[1], "active") {
			t.Errorf("list: got %q, want the first key revoked with a time, the second active", lines)
		}

		// Again, by the bare id: nothing changes and it says so.
		out = mustMerchantCmd(t, e, "revoke", "--key", id1)
		if !strings.Contains(out, "already revoked") {
			t.Errorf("second revoke: got %q, want it to say already revoked", out)
		}
		wantKeyWorks(t, e, "the merchant's other key", key2)
	})

	t.Run("rotate --revoke-old leaves only the new key", func(t *testing.T) {
		out := mustMerchantCmd(t, e, "rotate", "--merchant", merchant, "--revoke-old")
		key3 := field(t, out, "api_key")
		if got := field(t, out, "revoked"); got != apikey.Name(id2) {
			t.Errorf("rotate --revoke-old: got revoked %q, want %q", got, apikey.Name(id2))
		}
		if strings.Contains(out, "still_active") {
			t.Errorf("rotate --revoke-old output %q, want no still_active", out)
		}
		wantKeyRefused(t, e, "key replaced by --revoke-old", key2)
		wantKeyWorks(t, e, "key from --revoke-old", key3)

		out = mustMerchantCmd(t, e, "revoke", "--merchant", merchant)
		if got := field(t, out, "active_keys_left"); got != "0" {
			t.Errorf("revoke --merchant: got active_keys_left %q, want 0", got)
		}
		wantKeyRefused(t, e, "key of a merchant revoked as a whole", key3)
		wantKeyWorks(t, e, "another merchant's key", e.Key)
		for _, line := range listLines(t, e, merchant) {
			if !strings.Contains(line, "revoked 20") {
				t.Errorf("list line %q: want revoked", line)
			}
		}
	})
}

// TestMerchantRotateLimit: without --revoke-old a merchant cannot pile up
// more than MaxActiveKeys keys; --revoke-old still works at the limit.
func TestMerchantRotateLimit(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	for i := 1; i < mysqlstore.MaxActiveKeys; i++ {
		mustMerchantCmd(t, e, "rotate", "--merchant", e.Merchant)
	}
	before := keyTables(t, e.DB)
	out, err := merchantCmd(t, e, "rotate", "--merchant", e.Merchant)
	if err == nil || !strings.Contains(err.Error(), "--merchant") || !strings.Contains(err.Error(), "active keys") {
		t.Errorf("rotate at the limit = %v (output %q), want an error naming --merchant and the limit", err, out)
	}
	if after := keyTables(t, e.DB); after != before {
		t.Errorf("rotate at the limit changed the key tables:\n got %s\nwant %s", after, before)
	}
	out = mustMerchantCmd(t, e, "rotate", "--merchant", e.Merchant, "--revoke-old")
	wantKeyRefused(t, e, "the first key after --revoke-old", e.Key)
	wantKeyWorks(t, e, "the key from --revoke-old", field(t, out, "api_key"))
}

// keyTables is everything stored about merchants and their keys.
func keyTables(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		"SELECT id, name, created_at FROM merchants ORDER BY id",
		"SELECT id, merchant_id, HEX(secret_hash), created_at, COALESCE(revoked_at, '-') FROM merchant_api_keys ORDER BY id",
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				fmt.Fprintf(&b, "%q ", v)
			}
			b.WriteString("\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

// TestMerchantCommandsRejectBadInput: each command refuses bad or unknown
// values with an error naming the flag, never echoes a secret, and
// changes nothing.
func TestMerchantCommandsRejectBadInput(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	big := strings.Repeat("x", 10<<10)
	keyID, _, _ := apikey.Parse(e.Key)
	unknownKey := apikey.Name(strings.Repeat("0", 24))
	unknownMerchant := "m_0000000000000000"
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"create without name", []string{"create"}, "--name"},
		{"create blank name", []string{"create", "--name", "   "}, "--name"},
		{"create 10 KB name", []string{"create", "--name", big}, "--name"},
		{"create 201 characters", []string{"create", "--name", strings.Repeat("é", 201)}, "--name"},
		{"create newline", []string{"create", "--name", "Shop\nmerchant_id: m_0000000000000000"}, "--name"},
		{"create tab", []string{"create", "--name", "a\tb"}, "--name"},
		{"create escape", []string{"create", "--name", "\x1b[31mred"}, "--name"},
		{"create NUL", []string{"create", "--name", "a\x00b"}, "--name"},
		{"create invalid UTF-8", []string{"create", "--name", "a\xffb"}, "--name"},
		{"create stray argument", []string{"create", "--name", "A", "B"}, "unexpected argument"},

		{"list malformed merchant", []string{"list", "--merchant", "shop"}, "--merchant"},
		{"list SQL quote", []string{"list", "--merchant", "m_' OR '1'='1"}, "--merchant"},
		{"list 10 KB", []string{"list", "--merchant", big}, "--merchant"},
		{"list newline", []string{"list", "--merchant", e.Merchant + "\n"}, "--merchant"},
		{"list upper-case id", []string{"list", "--merchant", strings.ToUpper(e.Merchant)}, "--merchant"},
		{"list unknown merchant", []string{"list", "--merchant", unknownMerchant}, "--merchant"},

		{"rotate without merchant", []string{"rotate"}, "--merchant"},
		{"rotate malformed", []string{"rotate", "--merchant", "m_123"}, "--merchant"},
		{"rotate SQL quote", []string{"rotate", "--merchant", e.Merchant + "' OR 1=1 -- "}, "--merchant"},
		{"rotate 10 KB", []string{"rotate", "--merchant", big}, "--merchant"},
		{"rotate newline", []string{"rotate", "--merchant", "m_00000000\n00000000"}, "--merchant"},
		{"rotate whole key as merchant", []string{"rotate", "--merchant", e.Key}, "--merchant"},
		{"rotate unknown merchant", []string{"rotate", "--merchant", unknownMerchant}, "--merchant"},
		{"rotate --revoke-old unknown merchant", []string{"rotate", "--merchant", unknownMerchant, "--revoke-old"}, "--merchant"},
		{"rotate revoke-old with a value", []string{"rotate", "--merchant", e.Merchant, "--revoke-old=maybe"}, "revoke-old"},

		{"revoke without target", []string{"revoke"}, "--key or --merchant"},
		{"revoke both targets", []string{"revoke", "--key", apikey.Name(keyID), "--merchant", e.Merchant}, "--key, --merchant"},
		{"revoke malformed key", []string{"revoke", "--key", "lck_123"}, "--key"},
		{"revoke whole key", []string{"revoke", "--key", e.Key}, "--key"},
		{"revoke upper-case key id", []string{"revoke", "--key", strings.ToUpper(keyID)}, "--key"},
		{"revoke SQL quote", []string{"revoke", "--key", "lck_' OR '1'='1' -- xxxxxxxx"}, "--key"},
		{"revoke 10 KB", []string{"revoke", "--key", big}, "--key"},
		{"revoke newline", []string{"revoke", "--key", apikey.Name(keyID) + "\n"}, "--key"},
		{"revoke unknown key", []string{"revoke", "--key", unknownKey}, "--key"},
		{"revoke malformed merchant", []string{"revoke", "--merchant", "' OR 1=1"}, "--merchant"},
		{"revoke unknown merchant", []string{"revoke", "--merchant", unknownMerchant}, "--merchant"},
		{"revoke positional key", []string{"revoke", apikey.Name(keyID)}, "unexpected argument"},
		{"revoke positional whole key", []string{"revoke", e.Key}, "unexpected argument"},
		{"whole key as subcommand", []string{e.Key}, "unknown merchant command"},

		{"no subcommand", nil, "usage"},
		{"unknown subcommand", []string{"delete", "--merchant", e.Merchant}, "unknown merchant command"},
	}
	before := keyTables(t, e.DB)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := merchantCmd(t, e, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("origin merchant %.100q = %.300v, want an error naming %q", tt.args, err, tt.want)
			}
			if out != "" {
				t.Errorf("output %.300q, want none", out)
			}
			if err != nil && (strings.Contains(err.Error(), e.Key[29:35]) || len(err.Error()) > 300) {
				t.Errorf("error %.400q: carries the secret or is too long", err)
			}
			if after := keyTables(t, e.DB); after != before {
				t.Errorf("the key tables changed:\n got %s\nwant %s", after, before)
			}
		})
	}
	wantKeyWorks(t, e, "the merchant's key after the refused commands", e.Key)
}

// TestMerchantKeysSurviveMigrate: a merchant created on the first schema
// keeps authenticating after `origin migrate` has run (twice) and can then
// be rotated and revoked.
func TestMerchantKeysSurviveMigrate(t *testing.T) {
	ctx := context.Background()
	cfg, err := mysql.ParseDSN(orDefault(os.Getenv("MYSQL_DSN"), "root@tcp(127.0.0.1:3306)/"))
	if err != nil {
		t.Fatalf("MYSQL_DSN: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	cfg.DBName = "lc_test_keys_" + hex.EncodeToString(b)
	cfg.ParseTime = true
	dsn := cfg.FormatDSN()
	if err := migrate.EnsureDatabase(ctx, dsn); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c := *cfg
		c.DBName = ""
		if db, err := sql.Open("mysql", c.FormatDSN()); err == nil {
			db.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`")
			db.Close()
		}
	})
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	store, err := mysqlstore.Open(ctx, dsn, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := migrate.Apply(ctx, store.DB(), ms[:1]); err != nil {
		t.Fatalf("apply 0001: %v", err)
	}
	merchant, key, err := store.CreateMerchant(ctx, "Early Shop", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}

	env := func(k string) string {
		if k == "MYSQL_DSN" {
			return dsn
		}
		return ""
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate"}, &out, env); err != nil {
		t.Fatalf("first migrate: %v (%s)", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"migrate"}, &out, env); err != nil || out.String() != "migrate: database is up to date\n" {
		t.Fatalf("second migrate: %v, output %q, want up to date", err, out.String())
	}
	if got, err := store.MerchantByAPIKey(ctx, key); err != nil || got != merchant {
		t.Fatalf("MerchantByAPIKey(key from before the migrations) = %q, %v; want %q", got, err, merchant)
	}

	e := origintest.Start(t, origintest.Options{MySQLDSN: dsn})
	wantKeyWorks(t, e, "key created before the migrations", key)
	newKey := field(t, mustMerchantCmd(t, e, "rotate", "--merchant", merchant, "--revoke-old"), "api_key")
	wantKeyRefused(t, e, "key from before the migrations, revoked by rotate", key)
	wantKeyWorks(t, e, "key rotated after the migrations", newKey)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
