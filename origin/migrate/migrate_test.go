package migrate_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-sql-driver/mysql"

	"livecommerce/origin/migrate"
	"livecommerce/origin/origintest"
	"livecommerce/sql/migrations"
)

func file(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }

func TestLoadOrders(t *testing.T) {
	fsys := fstest.MapFS{
		"0010_later.sql":    file("CREATE TABLE c (id INT);"),
		"0001_first.sql":    file("CREATE TABLE a (id INT);\n-- split\nCREATE TABLE b (id INT);"),
		"0002_second.sql":   file("-- nothing but a comment\n"),
		"README.md":         file("not a migration"),
		"embed.go":          file("package migrations"),
		"sub/0003_deep.sql": file("CREATE TABLE d (id INT);"),
	}
	ms, err := migrate.Load(fsys)
	if err != nil {
		t.Fatalf("Load = %v, want nil", err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name)
	}
	if want := []string{"first", "second", "later"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("names = %q, want %q", got, want)
	}
	if got, want := []int{ms[0].Version, ms[1].Version, ms[2].Version}, []int{1, 2, 10}; !reflect.DeepEqual(got, want) {
		t.Errorf("versions = %v, want %v", got, want)
	}
	if got, want := len(ms[0].Statements), 2; got != want {
		t.Errorf("0001 statements = %d, want %d", got, want)
	}
	if got := ms[1].Statements; len(got) != 0 {
		t.Errorf("0002 statements = %q, want none", got)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string // in the error
	}{
		{"no version", fstest.MapFS{"init.sql": file("")}, "init.sql"},
		{"short version", fstest.MapFS{"001_init.sql": file("")}, "001_init.sql"},
		{"long version", fstest.MapFS{"00001_init.sql": file("")}, "00001_init.sql"},
		{"uppercase", fstest.MapFS{"0001_Init.sql": file("")}, "0001_Init.sql"},
		{"dash", fstest.MapFS{"0001-init.sql": file("")}, "0001-init.sql"},
		{"no description", fstest.MapFS{"0001_.sql": file("")}, "0001_.sql"},
		{"space", fstest.MapFS{"0001_add users.sql": file("")}, "0001_add users.sql"},
		{"duplicate version", fstest.MapFS{"0001_a.sql": file(""), "0001_b.sql": file("")}, "version 1"},
		{"duplicate version among others", fstest.MapFS{"0002_a.sql": file(""), "0002_b.sql": file(""), "0001_c.sql": file("")}, "0002_a.sql and 0002_b.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := migrate.Load(tt.fsys)
			if err == nil {
				t.Fatalf("Load = %v, nil; want an error", ms)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestRealMigrationsLoad(t *testing.T) {
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatalf("Load(migrations.FS) = %v", err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("Load(migrations.FS) = %d migrations, want 0001 first", len(ms))
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d, want versions without gaps", i, m.Version)
		}
		for j, s := range m.Statements {
			for _, banned := range []string{"LOCK TABLES", "MyISAM", "MEMORY", "AS SELECT"} {
				if strings.Contains(strings.ToUpper(s), strings.ToUpper(banned)) {
					t.Errorf("%04d_%s statement %d uses %s, which Galera strict mode refuses", m.Version, m.Name, j+1, banned)
				}
			}
		}
	}
}

// server is the MySQL server the tests use, with no database named.
func server(t *testing.T) *mysql.Config {
	t.Helper()
	dsn := os.Getenv("MYSQL_DSN")
	if dsn == "" {
		dsn = "root@tcp(127.0.0.1:3306)/"
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("MYSQL_DSN: %v", err)
	}
	cfg.DBName = ""
	return cfg
}

// emptyDatabase creates a database with no tables and returns a pool on it;
// both go away when the test ends.
func emptyDatabase(t *testing.T) (*sql.DB, string) {
	t.Helper()
	cfg := server(t)
	b := make([]byte, 6)
	rand.Read(b)
	cfg.DBName = "lc_test_empty_" + hex.EncodeToString(b)
	dsn := cfg.FormatDSN()
	if err := migrate.EnsureDatabase(context.Background(), dsn); err != nil {
		t.Fatalf("EnsureDatabase: %v", err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`")
		db.Close()
	})
	return db, cfg.DBName
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	db, _ := emptyDatabase(t)
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, m := range ms {
		want = append(want, m.Version)
	}

	done, err := migrate.Apply(ctx, db, ms)
	if err != nil {
		t.Fatalf("first Apply = %v", err)
	}
	if !reflect.DeepEqual(done, want) || done[0] != 1 {
		t.Fatalf("first Apply applied %v, want %v starting with 1", done, want)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}

	done, err = migrate.Apply(ctx, db, ms)
	if err != nil {
		t.Fatalf("second Apply = %v", err)
	}
	if len(done) != 0 {
		t.Errorf("second Apply applied %v, want nothing", done)
	}

	// A run that died after the DDL but before recording it runs again
	// cleanly: every statement is re-runnable.
	if _, err := db.Exec("DELETE FROM schema_migrations"); err != nil {
		t.Fatal(err)
	}
	done, err = migrate.Apply(ctx, db, ms)
	if err != nil {
		t.Fatalf("Apply after losing schema_migrations = %v, want the migrations to be re-runnable", err)
	}
	if !reflect.DeepEqual(done, want) {
		t.Errorf("Apply after losing schema_migrations applied %v, want %v", done, want)
	}
}

func TestApplyStopsAtFailure(t *testing.T) {
	ctx := context.Background()
	db, _ := emptyDatabase(t)
	ms := []migrate.Migration{
		{Version: 1, Name: "good", Statements: []string{"CREATE TABLE IF NOT EXISTS t1 (id INT PRIMARY KEY) ENGINE=InnoDB"}},
		{Version: 2, Name: "bad", Statements: []string{"CREATE TABLE nonsense ("}},
		{Version: 3, Name: "never", Statements: []string{"CREATE TABLE IF NOT EXISTS t3 (id INT PRIMARY KEY) ENGINE=InnoDB"}},
	}
	done, err := migrate.Apply(ctx, db, ms)
	if err == nil {
		t.Fatal("Apply with a broken statement = nil, want an error")
	}
	if !strings.Contains(err.Error(), "0002_bad") {
		t.Errorf("error %q, want it to name 0002_bad", err)
	}
	if !reflect.DeepEqual(done, []int{1}) {
		t.Errorf("applied %v, want [1]", done)
	}
	var n int
	db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 't3'").Scan(&n)
	if n != 0 {
		t.Error("migration 0003 ran after 0002 failed")
	}
}

// Galera (and Percona XtraDB Cluster in strict mode) replicates InnoDB only
// and needs a primary key on every table.
func TestSchemaIsGaleraSafe(t *testing.T) {
	dsn := origintest.Database(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT t.table_name, COALESCE(t.engine, ''),
  (SELECT COUNT(*) FROM information_schema.table_constraints c
    WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')
FROM information_schema.tables t WHERE t.table_schema = ? ORDER BY t.table_name`, cfg.DBName)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name, engine string
		var pks int
		if err := rows.Scan(&name, &engine, &pks); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
		if engine != "InnoDB" {
			t.Errorf("table %s uses engine %q, want InnoDB", name, engine)
		}
		if pks != 1 {
			t.Errorf("table %s has %d primary keys, want 1", name, pks)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"merchants", "merchant_api_keys", "lives", "products", "orders", "stock_adjustments", "schema_migrations"} {
		found := false
		for _, name := range tables {
			found = found || name == want
		}
		if !found {
			t.Errorf("tables %q, want %s among them", tables, want)
		}
	}
}

func TestEnsureDatabaseRejectsHostileNames(t *testing.T) {
	tests := []struct {
		name, db string
	}{
		{"backtick", "lc`; DROP DATABASE mysql; --"},
		{"semicolon", "lc;drop"},
		{"space", "lc test"},
		{"dot dot slash", "../lc"},
		{"dot", "lc.test"},
		{"dash", "lc-test"},
		{"quote", "lc'test"},
		{"NUL", "lc\x00test"},
		{"unicode", "lcé"},
		{"65 chars", strings.Repeat("a", 65)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An address nothing listens on: the name must be refused
			// before any connection is tried.
			cfg := mysql.NewConfig()
			cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "tcp", "127.0.0.1:1", tt.db
			dsn := cfg.FormatDSN()
			err := migrate.EnsureDatabase(context.Background(), dsn)
			if err == nil {
				t.Fatalf("EnsureDatabase(%q) = nil, want an error", tt.db)
			}
			if !strings.Contains(err.Error(), "database name") {
				t.Errorf("EnsureDatabase(%q) = %v, want a refusal of the name", tt.db, err)
			}
		})
	}
	t.Run("no database", func(t *testing.T) {
		err := migrate.EnsureDatabase(context.Background(), "root@tcp(127.0.0.1:1)/")
		if err == nil || !strings.Contains(err.Error(), "names no database") {
			t.Errorf("EnsureDatabase without a database = %v, want names no database", err)
		}
	})
	t.Run("bad dsn", func(t *testing.T) {
		err := migrate.EnsureDatabase(context.Background(), "not a dsn")
		if err == nil || !strings.Contains(err.Error(), "MYSQL_DSN") {
			t.Errorf("EnsureDatabase(not a dsn) = %v, want an error naming MYSQL_DSN", err)
		}
	})
}

func TestEnsureDatabaseIsIdempotent(t *testing.T) {
	db, name := emptyDatabase(t)
	cfg := server(t)
	cfg.DBName = name
	for i := 0; i < 2; i++ {
		if err := migrate.EnsureDatabase(context.Background(), cfg.FormatDSN()); err != nil {
			t.Fatalf("EnsureDatabase call %d on an existing database = %v", i+1, err)
		}
	}
	if err := db.Ping(); err != nil {
		t.Errorf("ping after EnsureDatabase = %v", err)
	}
}
