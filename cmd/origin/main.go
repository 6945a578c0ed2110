// Command origin is the stock origin: `origin serve` runs the HTTP server;
// migrate, merchant, token and reconcile are the operator commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"livecommerce/internal/applog"
	"livecommerce/internal/buyertoken"
	"livecommerce/internal/envflag"
	"livecommerce/internal/program"
	"livecommerce/internal/stock"
	"livecommerce/origin/app"
	"livecommerce/origin/migrate"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/reconcile"
	"livecommerce/sql/migrations"
)

const usage = `usage: origin <command> [flags]

commands:
  serve                          run the HTTP server
  migrate                        apply the SQL migrations (idempotent)
  merchant create --name NAME    create a merchant; prints its id and API key
  merchant list [--merchant ID]  list the API keys of one merchant or of all (never
                                 their secrets)
  merchant rotate --merchant ID [--revoke-old]
                                 issue a new API key (shown once); the old keys keep
                                 working until revoked, or stop now with --revoke-old
  merchant revoke --key KEYID | --merchant ID
                                 revoke one key, or every key of a merchant; the
                                 admin API refuses it from the next request on
  token --buyer ID [--ttl 1h]    print a buyer token for local use
  reconcile [--dry-run]          compare Redis with the database; repair drift
  publish-stock [--live ID,...]  publish every product's current stock into the STOCK
                                 stream (all lives by default): fills the stream after
                                 a deploy, or after events were dropped while NATS was away

Every setting is a flag and an environment variable; see "origin serve -h".
`

func main() {
	program.Main("origin", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdout, os.Getenv)
	})
}

// run dispatches a command. Mistakes in the command line or the settings
// are program.Usage errors (exit 2), found before anything is changed;
// anything else that fails is the work failing (exit 1).
func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return program.Usage(errors.New("no command given"))
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv)
	case "migrate":
		return runMigrate(ctx, args[1:], out, getenv)
	case "merchant":
		return runMerchant(ctx, args[1:], out, getenv)
	case "token":
		return token(args[1:], out, getenv)
	case "reconcile":
		return runReconcile(ctx, args[1:], out, getenv)
	case "publish-stock":
		return runPublishStock(ctx, args[1:], out, getenv)
	case "-h", "--help", "help":
		fmt.Fprint(out, usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return program.Usage(fmt.Errorf("unknown command %.40q", args[0]))
}

func serve(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, err := app.LoadServe(args, getenv)
	if err != nil {
		return program.Usage(err)
	}
	log := applog.New(cfg.LogLevel)
	srv, err := app.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srv.Done():
		log.Error("listener stopped", slog.Any("error", err))
	}
	return srv.Shutdown(context.Background())
}

func runMigrate(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	cfg, err := app.LoadCommon("origin migrate", args, getenv, nil)
	if err != nil {
		return program.Usage(err)
	}
	if err := migrate.EnsureDatabase(ctx, cfg.MySQLDSN); err != nil {
		return err
	}
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		return err
	}
	return withStore(ctx, cfg, func(db *mysqlstore.Store) error {
		done, err := migrate.Apply(ctx, db.DB(), ms)
		if err != nil {
			return err
		}
		if len(done) == 0 {
			fmt.Fprintln(out, "migrate: database is up to date")
		}
		for _, v := range done {
			fmt.Fprintf(out, "migrate: applied %04d\n", v)
		}
		return nil
	})
}

func token(args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("origin token", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	var buyer string
	var ttl time.Duration
	var cfg app.Config
	s.String(&buyer, "buyer", "BUYER_ID", "", "buyer id (required)")
	// The origins' own settings, so the token carries the iss and aud they
	// require and never outlives what they accept.
	app.BindBuyerToken(s, &cfg)
	s.Duration(&ttl, "ttl", "TOKEN_TTL", time.Hour, "lifetime of the token (at most BUYER_JWT_MAX_TTL)")
	if err := s.Parse(args); err != nil {
		return program.Usage(err)
	}
	if err := cfg.ValidateBuyerToken(); err != nil {
		return program.Usage(err)
	}
	if ttl > cfg.JWTMaxTTL {
		return program.Usage(fmt.Errorf("--ttl: %s is above BUYER_JWT_MAX_TTL (%s)", ttl, cfg.JWTMaxTTL))
	}
	tok, err := buyertoken.Issue([]byte(cfg.JWTSecret), buyer, ttl, time.Now(), cfg.BuyerTokenOptions()...)
	if err != nil {
		return program.Usage(fmt.Errorf("--buyer/--ttl: %w", err))
	}
	fmt.Fprintln(out, tok)
	return nil
}

func runReconcile(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var dryRun bool
	var settle time.Duration
	cfg, err := app.LoadCommon("origin reconcile", args, getenv, func(s *envflag.Set) {
		s.Bool(&dryRun, "dry-run", "RECONCILE_DRY_RUN", false, "report without repairing")
		s.Duration(&settle, "settle", "RECONCILE_SETTLE", 4*time.Second, "pause between the two looks at a drifting sku (longer than a purchase takes to commit)")
	})
	if err != nil {
		return program.Usage(err)
	}
	log := applog.New(cfg.LogLevel)
	d, err := app.Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	rep, err := reconcile.Run(ctx, d.DB, d.Stock, d.Publisher, !dryRun, settle)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "reconcile: %d skus checked, %d not loaded in Redis, %d differ\n", rep.Checked, rep.NotLoaded, len(rep.Findings))
	for _, f := range rep.Findings {
		fmt.Fprintln(out, "  "+f.String())
	}
	return nil
}

// runPublishStock sends the current level of every product of some lives
// as stock events. The stockfeed builds a live's state from the stream, so
// a live whose products never had an event there (created before the
// stream existed, or while NATS dropped events) is filled in by this.
func runPublishStock(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var lives string
	cfg, err := app.LoadCommon("origin publish-stock", args, getenv, func(s *envflag.Set) {
		s.String(&lives, "live", "PUBLISH_LIVES", "", "comma-separated live ids (default: every live)")
	})
	if err != nil {
		return program.Usage(err)
	}
	var ids []string
	for _, id := range strings.Split(lives, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if !stock.ValidID(id) {
			return program.Usage(fmt.Errorf("--live: %.70q is not a live id", id))
		}
		ids = append(ids, id)
	}
	log := applog.New(cfg.LogLevel)
	d, err := app.Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.EnsureStream(ctx); err != nil {
		return err
	}
	if len(ids) == 0 {
		if ids, err = d.DB.LiveIDs(ctx); err != nil {
			return err
		}
	}
	sent := 0
	for _, id := range ids {
		levels, err := d.Inventory.LiveLevels(ctx, id, nil)
		if err != nil {
			return fmt.Errorf("live %s: %w", id, err)
		}
		for _, l := range levels {
			d.Publisher.Republish(l)
		}
		sent += len(levels)
	}
	fmt.Fprintf(out, "publish-stock: %d products of %d lives sent\n", sent, len(ids))
	return nil
}

// withStore opens the database of record for an operator command (a
// small pool: one command, one statement at a time) and closes it after.
func withStore(ctx context.Context, cfg app.Config, fn func(*mysqlstore.Store) error) error {
	db, err := mysqlstore.Open(ctx, cfg.MySQLDSN, 2, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}
