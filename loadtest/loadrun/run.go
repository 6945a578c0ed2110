// Package loadrun runs `loadgen run`: it waits for the system under test,
// measures the machine's floor, sets up the sale through the admin API,
// plays the standard scenario (the system, then the two baselines) or
// searches for capacity step by step, with the services' CPU profiles
// over each measured window of the system when asked, checks the
// invariants, and returns what it found for the report.
package loadrun

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/redisconn"
	"livecommerce/loadtest/audience"
	"livecommerce/loadtest/cpucost"
	"livecommerce/loadtest/floor"
	"livecommerce/loadtest/invariants"
	"livecommerce/loadtest/ledger"
	"livecommerce/loadtest/loadreport"
	"livecommerce/loadtest/machine"
	"livecommerce/loadtest/markdown"
	"livecommerce/loadtest/pause"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/shoppers"
	"livecommerce/loadtest/verdict"
)

// Run plays the standard scenario or the capacity search, checks the
// invariants and returns what it found. The outcome holds what was
// measured even when Run stops early with an error (an interrupt, say),
// so that the report of what ran can still be written.
func Run(ctx context.Context, cfg scenario.Config, log *slog.Logger) (*loadreport.Outcome, error) {
	runID := "b" + strconv.FormatInt(time.Now().Unix(), 36)
	plan := scenario.NewPlan(&cfg, runID)
	db, err := sql.Open("mysql", cfg.MySQLDSN)
	if err != nil {
		return nil, fmt.Errorf("open MySQL: %w", err)
	}
	defer db.Close()
	ro, err := cfg.Redis.Options(cfg.RedisAddr)
	if err != nil {
		return nil, err
	}
	if err := redisconn.Verify(ctx, ro); err != nil {
		return nil, err
	}
	rdb := redis.NewClient(ro)
	defer rdb.Close()
	b := &bench{
		cfg: cfg, plan: plan, log: log, db: db, rdb: rdb,
		reader: &shoppers.Reader{Plan: plan},
		buyer:  shoppers.NewBuyer(plan, []byte(cfg.JWTSecret)),
	}
	o := &loadreport.Outcome{Config: cfg, Plan: plan, Started: time.Now().UTC()}
	o.Machine = cfg.Machine
	if o.Machine == "" {
		o.Machine = describeMachine(ctx, db, rdb)
	}

	deadline := time.Now().Add(time.Minute)
	if err := waitReady(ctx, cfg.ReadyURLs(), deadline, http.StatusOK); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, []string{cfg.EdgeProbeURL()}, deadline, http.StatusOK, http.StatusNotFound); err != nil {
		return nil, err
	}
	// The floor is measured on the idle system, before anything of the
	// run reaches it.
	log.Info("measuring the machine's floor")
	fl := floor.Measure(ctx, floor.Targets{
		HTTPBase: cfg.StaticURL, HTTPPath: "/v1/products/FLOOR/stock",
		Redis: rdb, DB: db, Table: "floor_" + runID,
	}, floorProbe)
	o.Floor = &fl
	log.Info("setting up the sale", "run", runID, "lives", len(plan.Lives), "skus", len(plan.SKUs))
	if err := setUpSale(ctx, plan, cfg.OriginURLs[0], cfg.MerchantKey); err != nil {
		return nil, err
	}
	if cfg.NaiveURL != "" {
		if err := setUpNaive(ctx, db, plan); err != nil {
			return nil, err
		}
	}
	if cfg.Step {
		err = b.capacity(ctx, o)
	} else {
		err = b.standard(ctx, o)
	}
	return o, err
}

// floorProbe is how long each probe of the floor runs: long enough for
// /proc's 10 ms ticks to weigh a server's CPU to a few percent.
const floorProbe = 600 * time.Millisecond

// describeMachine says what the figures ran on: the machine, and the
// versions of the servers measured.
func describeMachine(ctx context.Context, db *sql.DB, rdb *redis.Client) string {
	parts := []string{machine.Describe().String()}
	var v string
	if db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v) == nil {
		parts = append(parts, "MySQL server "+v)
	}
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if r, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				parts = append(parts, "Redis "+r)
			}
		}
	}
	return strings.Join(parts, ", ")
}

// waitReady polls each URL until it answers with one of the statuses
// (200, say), until deadline at most.
func waitReady(ctx context.Context, urls []string, deadline time.Time, statuses ...int) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, u := range urls {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				if slices.Contains(statuses, resp.StatusCode) {
					break
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s is not ready: %w", u, err)
			}
			pause.For(ctx, 200*time.Millisecond)
		}
	}
	return nil
}

// systemReads are the viewers' reads of the system: through the edge, and
// straight from the origins.
func (b *bench) systemReads() []readTarget {
	return []readTarget{
		{name: scenario.OpReadEdge, bases: []string{b.cfg.EdgeURL}, share: b.cfg.EdgeReadShare},
		{name: scenario.OpReadOrigin, bases: b.cfg.OriginURLs, share: 1 - b.cfg.EdgeReadShare},
	}
}

// connectAudience opens the live pages' streams.
func (b *bench) connectAudience(ctx context.Context) (*audience.Audience, error) {
	a, err := audience.New(b.plan, b.cfg.FeedURL, b.cfg.SSEClients)
	if err != nil {
		return nil, err
	}
	if b.cfg.SSEClients == 0 {
		return a, nil
	}
	b.log.Info("opening event streams", "streams", b.cfg.SSEClients)
	if failed := a.Connect(ctx, 10*time.Second); failed > 0 {
		b.log.Warn("event streams failed to open", "failed", failed, "first", fmt.Sprint(a.ConnectErrors()))
	}
	return a, nil
}

// standard plays the standard scenario on the system, then the same
// purchases on the naive baseline and the same reads on the static server.
func (b *bench) standard(ctx context.Context, o *loadreport.Outcome) error {
	cfg := b.cfg
	led := ledger.New()
	actx, stopAudience := context.WithCancel(ctx)
	defer stopAudience()
	aud, err := b.connectAudience(actx)
	if err != nil {
		return err
	}
	sys, err := b.runPhase(ctx, loadSpec{
		name: "system", target: cpucost.System, purchaseRate: cfg.PurchaseRate, purchaseURLs: cfg.PurchaseURLs(),
		readRate: cfg.ReadRate, reads: b.systemReads(),
		warmup: cfg.Warmup, duration: cfg.Duration, led: led, audience: aud,
	})
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cfg.SSEClients > 0 {
		final, err := finalVersions(ctx, cfg.OriginURLs[0], b.plan)
		if err != nil {
			return err
		}
		converged := aud.Converged(ctx, final, 10*time.Second)
		stopAudience()
		aud.Wait()
		fs := aud.Stats()
		fs.Converged = converged
		sys.Feed = &fs
	}
	o.Phases = append(o.Phases, sys)
	v, err := invariants.CheckSystem(ctx, b.db, b.rdb, cfg.RedisPrefix, b.plan, led, invariants.Settle)
	if err != nil {
		return fmt.Errorf("invariant check: %w", err)
	}
	o.Verdicts = append(o.Verdicts, v)

	baseWarm := min(cfg.Warmup, 5*time.Second)
	if cfg.NaiveURL != "" && cfg.PurchaseRate > 0 {
		nled := ledger.New()
		naive, err := b.runPhase(ctx, loadSpec{
			name: "naive baseline", target: cpucost.Naive, purchaseRate: cfg.PurchaseRate, purchaseURLs: []string{cfg.NaiveURL},
			warmup: baseWarm, duration: cfg.BaselineDuration, led: nled,
		})
		if err != nil {
			return err
		}
		o.Phases = append(o.Phases, naive)
		v, err := invariants.CheckNaive(ctx, b.db, b.plan, nled)
		if err != nil {
			return fmt.Errorf("invariant check of the baseline: %w", err)
		}
		o.Verdicts = append(o.Verdicts, v)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cfg.StaticURL != "" && cfg.ReadRate > 0 {
		static, err := b.runPhase(ctx, loadSpec{
			name: "static baseline", target: cpucost.Static, readRate: cfg.ReadRate,
			reads:  []readTarget{{name: scenario.OpReadStatic, bases: []string{cfg.StaticURL}, share: 1}},
			warmup: baseWarm, duration: cfg.BaselineDuration,
		})
		if err != nil {
			return err
		}
		o.Phases = append(o.Phases, static)
	}
	o.Checks = judgeStandard(cfg, sys)
	return ctx.Err()
}

// judgeStandard turns the system's phase into verdict lines.
func judgeStandard(cfg scenario.Config, sys loadreport.Phase) []verdict.Check {
	var checks verdict.Checklist
	add := checks.Add
	dur, num := markdown.Dur, markdown.Num
	for _, l := range sys.Loads {
		add("sent at the requested rate: "+l.Name, l.KeptUp, "%.0f/s requested, %d of %d sent, send delay p99 %s", l.Requested, l.Sent, l.Due, dur(l.SendDelayP99))
	}
	for _, op := range sys.Ops {
		if op.Name == scenario.OpPurchaseResent && op.Count == 0 {
			continue
		}
		add("error budget: "+op.Name, op.ErrorRate() <= cfg.MaxErrorRate, "%d unexpected of %d (%.3f%%, budget %.3f%%)", op.Unexpected, op.Count, 100*op.ErrorRate(), 100*cfg.MaxErrorRate)
	}
	t := cfg.Targets
	if p, ok := sys.Op(scenario.OpPurchase); ok {
		// Nothing answered has no p99, and meets no target.
		add("brief: purchase p99 < "+dur(t.BriefPurchaseP99), p.Answered > 0 && p.P99 < t.BriefPurchaseP99, "p99 %s of %s answered", dur(p.P99), num(float64(p.Answered)))
		add("ours: purchase p99 < "+dur(t.OursPurchaseP99), p.Answered > 0 && p.P99 < t.OursPurchaseP99, "p99 %s of %s answered", dur(p.P99), num(float64(p.Answered)))
	}
	for _, name := range []string{scenario.OpReadEdge, scenario.OpReadOrigin} {
		if r, ok := sys.Op(name); ok && r.Count > 0 {
			add("brief: "+name+" p99 < "+dur(t.BriefReadP99), r.Answered > 0 && r.P99 < t.BriefReadP99, "p99 %s of %s answered", dur(r.P99), num(float64(r.Answered)))
			add("ours: "+name+" p99 < "+dur(t.OursReadP99), r.Answered > 0 && r.P99 < t.OursReadP99, "p99 %s of %s answered", dur(r.P99), num(float64(r.Answered)))
		}
	}
	if f := sys.Feed; f != nil {
		add("live pages: every stream opened", f.ConnectFailed == 0, "%d of %d", f.Connected, f.Viewers)
		add("live pages: nothing out of order", f.Reordered == 0 && f.Malformed == 0, "%d events, %d out of order, %d unreadable", f.Events, f.Reordered, f.Malformed)
		add("live pages: every page ends on the last version", f.Converged == f.Viewers, "%d of %d within 10 s of the end", f.Converged, f.Viewers)
	}
	return checks.Checks
}
