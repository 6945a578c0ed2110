// Package benchreset drops what a bench run left: its database and its
// Redis keys, so that each `make bench` starts from nothing. It refuses
// any database or key prefix that is not the bench's own, so it can never
// drop the development database or another deployment's keys.
package benchreset

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
	"livecommerce/internal/program"
	"livecommerce/internal/redisconn"
)

// The bench owns only what carries these names.
const (
	benchDBPrefix    = "lc_bench"
	benchRedisPrefix = "lcbench"
)

// Config is what a reset removes.
type Config struct {
	Database string // the bench database, lc_bench…
	Prefix   string // the bench's Redis key prefix, lcbench…
	server   *mysql.Config
	redis    *redis.Options
}

// Load reads the flags and environment of `loadgen reset`; its errors are
// usage errors (program.Usage).
func Load(args []string, getenv func(string) string) (Config, error) {
	var c Config
	var dsn, addr string
	var auth redisconn.Settings
	fs := flag.NewFlagSet("loadgen reset", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&dsn, "mysql-dsn", "MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?parseTime=true", "the bench database (its name must start with "+benchDBPrefix+")")
	s.String(&addr, "redis-addr", "REDIS_ADDR", "127.0.0.1:6379", "Redis address")
	redisconn.Bind(s, &auth)
	s.String(&c.Prefix, "redis-prefix", "REDIS_PREFIX", "lcbench:", "the bench's key prefix (must start with "+benchRedisPrefix+")")
	if err := s.Parse(args); err != nil {
		return c, program.Usage(err)
	}
	server, err := mysql.ParseDSN(dsn)
	if err != nil {
		return c, program.Usage(fmt.Errorf("MYSQL_DSN: %w", err))
	}
	c.Database = server.DBName
	if !strings.HasPrefix(c.Database, benchDBPrefix) || strings.ContainsAny(c.Database, "`'\"\\ ") || len(c.Database) > 64 {
		return c, program.Usage(fmt.Errorf("MYSQL_DSN: database %q is not a bench database (lc_bench…); reset drops only those", c.Database))
	}
	if !strings.HasPrefix(c.Prefix, benchRedisPrefix) || strings.ContainsAny(c.Prefix, "*?[]\\ ") {
		return c, program.Usage(fmt.Errorf("REDIS_PREFIX: %q is not the bench's (lcbench…); reset deletes only those keys", c.Prefix))
	}
	if c.redis, err = auth.Options(addr); err != nil {
		return c, program.Usage(err)
	}
	server.DBName = ""
	c.server = server
	return c, nil
}

// Run drops the database and deletes the keys, and says so on out.
func Run(ctx context.Context, c Config, out io.Writer) error {
	// Before anything is dropped: a refused password must not leave the
	// database gone and the keys in place.
	if err := redisconn.Verify(ctx, c.redis); err != nil {
		return err
	}
	db, err := sql.Open("mysql", c.server.FormatDSN())
	if err != nil {
		return fmt.Errorf("open MySQL: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+c.Database+"`"); err != nil {
		return fmt.Errorf("drop %s: %w", c.Database, err)
	}
	rdb := redis.NewClient(c.redis)
	defer rdb.Close()
	var deleted int64
	iter := rdb.Scan(ctx, 0, c.Prefix+"*", 1000).Iterator()
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
	fmt.Fprintf(out, "reset: dropped database %s, deleted %d Redis keys under %s\n", c.Database, deleted, c.Prefix)
	return nil
}
