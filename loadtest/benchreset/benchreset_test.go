package benchreset

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"livecommerce/internal/program"
	"livecommerce/internal/redisconn"
	"livecommerce/origin/origintest"
)

// benchFixture is a bench database and bench Redis keys of the test's
// own, removed when it ends whatever reset did.
type benchFixture struct {
	server *mysql.Config // the MySQL server, no database named
	db     *sql.DB       // on the server, no database selected
	name   string        // the bench database: lc_bench_test_<hex>
	rdb    *redis.Client
	prefix string // lcbench:test:<hex>:
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newBenchFixture(t *testing.T, keys int) *benchFixture {
	t.Helper()
	dsn := os.Getenv("MYSQL_DSN")
	if dsn == "" {
		dsn = "root@tcp(127.0.0.1:3306)/"
	}
	server, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("MYSQL_DSN: %v", err)
	}
	server.DBName = ""
	id := randomHex(t)
	f := &benchFixture{server: server, name: "lc_bench_test_" + id, prefix: "lcbench:test:" + id + ":"}
	if f.db, err = sql.Open("mysql", server.FormatDSN()); err != nil {
		t.Fatal(err)
	}
	f.rdb = redis.NewClient(&redis.Options{Addr: origintest.RedisAddr()})
	t.Cleanup(func() {
		ctx := context.Background()
		f.db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+f.name+"`")
		f.db.Close()
		origintest.DeleteKeys(ctx, f.rdb, f.prefix)
		origintest.DeleteKeys(ctx, f.rdb, f.neighbour())
		f.rdb.Close()
	})
	ctx := t.Context()
	if _, err := f.db.ExecContext(ctx, "CREATE DATABASE `"+f.name+"`"); err != nil {
		t.Fatalf("create %s (is MariaDB running? scripts/deps.sh starts it): %v", f.name, err)
	}
	if _, err := f.db.ExecContext(ctx, "CREATE TABLE `"+f.name+"`.products (sku VARCHAR(64) PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	pipe := f.rdb.Pipeline()
	for i := range keys {
		pipe.HSet(ctx, f.prefix+"sku:"+strconv.Itoa(i), "total", 10, "sold", 1)
	}
	pipe.Set(ctx, f.neighbour()+"keep", "1", 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("redis at %s (scripts/deps.sh starts it): %v", origintest.RedisAddr(), err)
	}
	return f
}

// neighbour is a prefix that shares all but the last character of the
// fixture's: reset must leave its keys alone.
func (f *benchFixture) neighbour() string {
	return strings.TrimSuffix(f.prefix, ":") + "-other:"
}

// dsn names database in the fixture's server.
func (f *benchFixture) dsn(database string) string {
	c := f.server.Clone()
	c.DBName = database
	return c.FormatDSN()
}

func (f *benchFixture) databaseExists(t *testing.T) bool {
	t.Helper()
	var n int
	if err := f.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", f.name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func countKeys(t *testing.T, rdb *redis.Client, prefix string) int {
	t.Helper()
	n := 0
	iter := rdb.Scan(t.Context(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestResetRefusesWhatIsNotTheBenchs(t *testing.T) {
	f := newBenchFixture(t, 3)
	// raw puts name into the DSN as it is, unescaped.
	raw := func(name string) string { return strings.Replace(f.dsn("RAWNAME"), "/RAWNAME", "/"+name, 1) }
	tests := []struct {
		name, dsn, prefix, want string
	}{
		{"the development database", f.dsn("livecommerce"), f.prefix, "MYSQL_DSN"},
		{"a backtick", raw("lc_bench`x"), f.prefix, "MYSQL_DSN"},
		{"an escaped backtick", raw("lc_bench%60x"), f.prefix, "MYSQL_DSN"},
		{"a quote", raw("lc_bench'x"), f.prefix, "MYSQL_DSN"},
		{"a space", raw("lc_bench%20x"), f.prefix, "MYSQL_DSN"},
		{"a backslash", f.dsn(`lc_bench\x`), f.prefix, "MYSQL_DSN"},
		{"no database", f.dsn(""), f.prefix, "MYSQL_DSN"},
		{"too long", f.dsn("lc_bench" + strings.Repeat("x", 60)), f.prefix, "MYSQL_DSN"},
		{"not a DSN", "not a dsn", f.prefix, "MYSQL_DSN"},
		{"another prefix", f.dsn(f.name), "livecommerce:", "REDIS_PREFIX"},
		{"a glob", f.dsn(f.name), "lcbench*", "REDIS_PREFIX"},
		{"a glob class", f.dsn(f.name), "lcbench:[a-z]", "REDIS_PREFIX"},
		{"a space in the prefix", f.dsn(f.name), "lcbench: x", "REDIS_PREFIX"},
		{"an empty prefix", f.dsn(f.name), "", "REDIS_PREFIX"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			// The prefix goes as a flag: an empty variable means the
			// default.
			err := reset(t.Context(), []string{"--redis-prefix=" + tc.prefix}, &out, func(k string) string {
				switch k {
				case "MYSQL_DSN":
					return tc.dsn
				case "REDIS_ADDR":
					return origintest.RedisAddr()
				}
				return ""
			})
			if program.Code(err) != program.BadUsage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a usage error naming %s", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q, want nothing", out.String())
			}
		})
	}
	if !f.databaseExists(t) {
		t.Errorf("database %s was dropped by a refused reset", f.name)
	}
	if n := countKeys(t, f.rdb, f.prefix); n != 3 {
		t.Errorf("keys under %s: got %d, want the 3 a refused reset left alone", f.prefix, n)
	}
}

func TestResetDropsTheBenchsDatabaseAndKeys(t *testing.T) {
	// More keys than one delete batch holds.
	const keys = 2500
	f := newBenchFixture(t, keys)
	var out bytes.Buffer
	err := reset(t.Context(), nil, &out, func(k string) string {
		switch k {
		case "MYSQL_DSN":
			return f.dsn(f.name)
		case "REDIS_ADDR":
			return origintest.RedisAddr()
		case "REDIS_PREFIX":
			return f.prefix
		}
		return ""
	})
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	if f.databaseExists(t) {
		t.Errorf("database %s is still there", f.name)
	}
	if n := countKeys(t, f.rdb, f.prefix); n != 0 {
		t.Errorf("keys under %s: got %d, want none", f.prefix, n)
	}
	if n := countKeys(t, f.rdb, f.neighbour()); n != 1 {
		t.Errorf("keys under the neighbouring prefix %s: got %d, want its 1 left alone", f.neighbour(), n)
	}
	if want := "dropped database " + f.name + ", deleted " + strconv.Itoa(keys) + " Redis keys"; !strings.Contains(out.String(), want) {
		t.Errorf("output: got %q, want it to say %q", out.String(), want)
	}

	// A second reset finds nothing and still succeeds.
	out.Reset()
	if err := reset(t.Context(), []string{"--mysql-dsn=" + f.dsn(f.name), "--redis-prefix=" + f.prefix, "--redis-addr=" + origintest.RedisAddr()}, &out, func(string) string { return "" }); err != nil {
		t.Fatalf("second reset: %v", err)
	}
	if !strings.Contains(out.String(), "deleted 0 Redis keys") {
		t.Errorf("second reset: got %q, want 0 keys deleted", out.String())
	}
}

// reset is `loadgen reset` with args and getenv: the settings loaded, then
// the reset run.
func reset(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	c, err := Load(args, getenv)
	if err != nil {
		return err
	}
	return Run(ctx, c, out)
}

// TestResetAsACLUser: reset signs in as the given ACL user, and with a
// wrong password stops before it drops anything.
func TestResetAsACLUser(t *testing.T) {
	f := newBenchFixture(t, 3)
	user := "lctest-" + randomHex(t)
	ctx := context.Background()
	if err := f.rdb.Do(ctx, "ACL", "SETUSER", user, "on", ">bench-pass-hunter2", "~lcbench:*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { f.rdb.Do(context.Background(), "ACL", "DELUSER", user) })
	args := []string{"--mysql-dsn=" + f.dsn(f.name), "--redis-prefix=" + f.prefix, "--redis-addr=" + origintest.RedisAddr(), "--redis-username=" + user}

	var out bytes.Buffer
	err := reset(ctx, args, &out, func(k string) string {
		if k == "REDIS_PASSWORD" {
			return "wrong-pass-hunter3"
		}
		return ""
	})
	if !errors.Is(err, redisconn.ErrRefused) || strings.Contains(err.Error(), "hunter") {
		t.Errorf("wrong password: got %v, want ErrRefused without the password", err)
	}
	if !f.databaseExists(t) || countKeys(t, f.rdb, f.prefix) != 3 {
		t.Errorf("wrong password: the database or keys went, want both kept")
	}

	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("bench-pass-hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := reset(ctx, append(args, "--redis-password-file="+pw), &out, func(string) string { return "" }); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if f.databaseExists(t) || countKeys(t, f.rdb, f.prefix) != 0 {
		t.Errorf("right password: got the database or keys left, want both gone")
	}
}
