// Package migrate applies the embedded SQL migrations to the database of
// record and records each one, so that a second run does nothing.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Migration is one versioned file.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

var fileName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Load reads and orders the migrations in fsys.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrate: read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrate: %s: name must look like 0001_description.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrate: %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: m[2], Statements: split(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// split cuts a file at lines holding only "-- split" and drops parts that
// hold nothing but comments.
func split(body string) []string {
	var stmts []string
	for _, part := range strings.Split(body, "\n-- split\n") {
		var code []string
		for _, line := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "--") {
				continue
			}
			code = append(code, line)
		}
		if s := strings.TrimSuffix(strings.TrimSpace(strings.Join(code, "\n")), ";"); s != "" {
			stmts = append(stmts, s)
		}
	}
	return stmts
}

// EnsureDatabase creates the database named in dsn when it does not exist,
// so a fresh server needs no manual step.
func EnsureDatabase(ctx context.Context, dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("migrate: parse MYSQL_DSN: %w", err)
	}
	name := cfg.DBName
	if name == "" {
		return fmt.Errorf("migrate: MYSQL_DSN names no database")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`).MatchString(name) {
		return fmt.Errorf("migrate: database name %q: use letters, digits and _", name)
	}
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return fmt.Errorf("migrate: open server: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("migrate: create database %s: %w", name, err)
	}
	return nil
}

// Apply runs every migration that schema_migrations does not list yet and
// returns the versions it applied. MySQL commits DDL implicitly, so each
// statement is written to be re-runnable (IF NOT EXISTS) in case a previous
// run died half way through a file.
func Apply(ctx context.Context, db *sql.DB, migrations []Migration) ([]int, error) {
	const ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version     INT          NOT NULL,
  name        VARCHAR(200) NOT NULL,
  applied_at  DATETIME(6)  NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB`
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := db.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: list applied: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("migrate: list applied: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: list applied: %w", err)
	}

	var done []int
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return done, fmt.Errorf("migrate: %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		_, err := db.ExecContext(ctx,
			"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, time.Now().UTC())
		if err != nil {
			return done, fmt.Errorf("migrate: record %04d_%s: %w", m.Version, m.Name, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}
