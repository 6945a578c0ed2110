package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"livecommerce/internal/envflag"
	"livecommerce/internal/redisconn"
)

// The bench owns only what carries these names, so reset can never drop
// the development database or another deployment's keys.
const (
	benchDBPrefix    = "lc_bench"
	benchRedisPrefix = "lcbench"
)

// reset drops the bench database and deletes the bench's Redis keys, so
// each make bench starts from nothing.
func reset(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var dsn, addr, prefix string
	var auth redisconn.Settings
	fs := flag.NewFlagSet("loadgen reset", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&dsn, "mysql-dsn", "MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?parseTime=true", "the bench database (its name must start with "+benchDBPrefix+")")
	s.String(&addr, "redis-addr", "REDIS_ADDR", "127.0.0.1:6379", "Redis address")
	redisconn.Bind(s, &auth)
	s.String(&prefix, "redis-prefix", "REDIS_PREFIX", "lcbench:", "the bench's key prefix (must start with "+benchRedisPrefix+")")
	if err := s.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return usageError{fmt.Errorf("MYSQL_DSN: %w", err)}
	}
	name := cfg.DBName
	if !strings.HasPrefix(name, benchDBPrefix) || strings.ContainsAny(name, "`'\"\\ ") || len(name) > 64 {
		return usageError{fmt.Errorf("MYSQL_DSN: database %q is not a bench database (lc_bench…); reset drops only those", name)}
	}
	if !strings.HasPrefix(prefix, benchRedisPrefix) || strings.ContainsAny(prefix, "*?[]\\ ") {
		return usageError{fmt.Errorf("REDIS_PREFIX: %q is not the bench's (lcbench…); reset deletes only those keys", prefix)}
	}
	ro, err := auth.Options(addr)
	if err != nil {
		return usageError{err}
	}
	// Before anything is dropped: a refused password must not leave the
	// database gone and the keys in place.
	if err := redisconn.Verify(ctx, ro); err != nil {
		return err
	}
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return fmt.Errorf("open MySQL: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	rdb := redis.NewClient(ro)
	defer rdb.Close()
	var deleted int64
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		n, err := rdb.Del(ctx, keys...).Result()
		deleted += n
		keys = keys[:0]
		return err
	}
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			if err := flush(); err != nil {
				return fmt.Errorf("delete keys: %w", err)
			}
		}
	}
	if err := errors.Join(iter.Err(), flush()); err != nil {
		return fmt.Errorf("delete keys: %w", err)
	}
	fmt.Fprintf(out, "reset: dropped database %s, deleted %d Redis keys under %s\n", name, deleted, prefix)
	return nil
}
