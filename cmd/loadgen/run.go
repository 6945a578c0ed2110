package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/redisconn"
)

// outcome is what a whole invocation found.
type outcome struct {
	cfg      Config
	plan     *Plan
	machine  string
	started  time.Time
	phases   []phaseResult // standard run: system, naive, static
	steps    []stepSeries  // capacity search
	verdicts []verdict
	checks   []check // the run's own verdict lines: schedule, errors, targets, live pages
}

// Pass reports whether every check and invariant held.
func (o *outcome) Pass() bool {
	for _, c := range o.checks {
		if !c.OK {
			return false
		}
	}
	for _, v := range o.verdicts {
		if !v.Pass() {
			return false
		}
	}
	return true
}

// runLoad plays the standard scenario or the capacity search, checks the
// invariants and returns what it found.
func runLoad(ctx context.Context, cfg Config, log *slog.Logger) (*outcome, error) {
	runID := "b" + strconv.FormatInt(time.Now().Unix(), 36)
	plan := NewPlan(&cfg, runID)
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
		reader: &reader{plan: plan},
		buyer:  &buyer{plan: plan, secret: []byte(cfg.JWTSecret)},
	}
	o := &outcome{cfg: cfg, plan: plan, started: time.Now().UTC()}
	o.machine = cfg.Machine
	if o.machine == "" {
		o.machine = describeMachine(ctx, db, rdb)
	}

	if err := waitReady(ctx, cfg.readyURLs(), time.Minute); err != nil {
		return nil, err
	}
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

// purchaseURLs are where buyers send purchases: the edge, or the origins
// round robin (a load balancer's part).
func (c Config) purchaseURLs() []string {
	if c.PurchaseVia == "origins" {
		return c.OriginURLs
	}
	return []string{c.EdgeURL}
}

// readyURLs are what must answer 200 before the load starts.
func (c Config) readyURLs() []string {
	urls := []string{c.EdgeURL + "/readyz"}
	for _, o := range c.OriginURLs {
		urls = append(urls, o+"/readyz")
	}
	for _, b := range []string{c.NaiveURL, c.StaticURL} {
		if b != "" {
			urls = append(urls, b+"/readyz")
		}
	}
	return append(urls, c.WaitURLs...)
}

// waitReady polls each URL until it answers 200, for at most timeout in all.
func waitReady(ctx context.Context, urls []string, timeout time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for _, u := range urls {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s is not ready: %w", u, err)
			}
			sleep(ctx, 200*time.Millisecond)
		}
	}
	return nil
}

// systemReads are the viewers' reads of the system: through the edge, and
// straight from the origins.
func (b *bench) systemReads() []readTarget {
	return []readTarget{
		{name: opReadEdge, bases: []string{b.cfg.EdgeURL}, share: b.cfg.EdgeReadShare},
		{name: opReadOrigin, bases: b.cfg.OriginURLs, share: 1 - b.cfg.EdgeReadShare},
	}
}

// connectAudience opens the live pages' streams.
func (b *bench) connectAudience(ctx context.Context) (*audience, error) {
	a, err := newAudience(b.plan, b.cfg.FeedURL, b.cfg.SSEClients)
	if err != nil {
		return nil, err
	}
	if b.cfg.SSEClients == 0 {
		return a, nil
	}
	b.log.Info("opening event streams", "streams", b.cfg.SSEClients)
	if failed := a.connect(ctx, 10*time.Second); failed > 0 {
		b.log.Warn("event streams failed to open", "failed", failed, "first", fmt.Sprint(a.failed))
	}
	return a, nil
}

// standard plays the standard scenario on the system, then the same
// purchases on the naive baseline and the same reads on the static server.
func (b *bench) standard(ctx context.Context, o *outcome) error {
	cfg := b.cfg
	led := newLedger()
	actx, stopAudience := context.WithCancel(ctx)
	defer stopAudience()
	aud, err := b.connectAudience(actx)
	if err != nil {
		return err
	}
	sys, err := b.runPhase(ctx, loadSpec{
		name: "system", purchaseRate: cfg.PurchaseRate, purchaseURLs: cfg.purchaseURLs(),
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
		converged := aud.converged(ctx, final, 10*time.Second)
		stopAudience()
		aud.wg.Wait()
		fs := aud.stats()
		fs.ConnectFailed = len(aud.viewers) - fs.Connected
		fs.Converged = converged
		sys.Feed = &fs
	}
	o.phases = append(o.phases, sys)
	v, err := checkSystem(ctx, b.db, b.rdb, cfg.RedisPrefix, b.plan, led, redisSettle)
	if err != nil {
		return fmt.Errorf("invariant check: %w", err)
	}
	o.verdicts = append(o.verdicts, v)

	baseWarm := min(cfg.Warmup, 5*time.Second)
	if cfg.NaiveURL != "" && cfg.PurchaseRate > 0 {
		nled := newLedger()
		naive, err := b.runPhase(ctx, loadSpec{
			name: "naive baseline", purchaseRate: cfg.PurchaseRate, purchaseURLs: []string{cfg.NaiveURL},
			warmup: baseWarm, duration: cfg.BaselineDuration, led: nled,
		})
		if err != nil {
			return err
		}
		o.phases = append(o.phases, naive)
		v, err := checkNaive(ctx, b.db, b.plan, nled)
		if err != nil {
			return fmt.Errorf("invariant check of the baseline: %w", err)
		}
		o.verdicts = append(o.verdicts, v)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cfg.StaticURL != "" && cfg.ReadRate > 0 {
		static, err := b.runPhase(ctx, loadSpec{
			name: "static baseline", readRate: cfg.ReadRate,
			reads:  []readTarget{{name: opReadStatic, bases: []string{cfg.StaticURL}, share: 1}},
			warmup: baseWarm, duration: cfg.BaselineDuration,
		})
		if err != nil {
			return err
		}
		o.phases = append(o.phases, static)
	}
	o.checks = judgeStandard(cfg, sys)
	return ctx.Err()
}

// judgeStandard turns the system's phase into verdict lines.
func judgeStandard(cfg Config, sys phaseResult) []check {
	var out []check
	add := func(name string, ok bool, format string, args ...any) {
		out = append(out, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	for _, l := range sys.Loads {
		add("sent at the requested rate: "+l.Name, l.KeptUp, "%.0f/s requested, %d of %d sent, send delay p99 %s", l.Requested, l.Sent, l.Due, fmtDur(l.SendDelayP99))
	}
	for _, op := range sys.Ops {
		if op.Name == opPurchaseResent && op.Count == 0 {
			continue
		}
		add("error budget: "+op.Name, op.ErrorRate() <= cfg.MaxErrorRate, "%d unexpected of %d (%.3f%%, budget %.3f%%)", op.Unexpected, op.Count, 100*op.ErrorRate(), 100*cfg.MaxErrorRate)
	}
	t := cfg.Targets
	if p, ok := sys.op(opPurchase); ok {
		// Nothing answered has no p99, and meets no target.
		add("brief: purchase p99 < "+fmtDur(t.BriefPurchaseP99), p.Answered > 0 && p.P99 < t.BriefPurchaseP99, "p99 %s of %s answered", fmtDur(p.P99), fmtNum(float64(p.Answered)))
		add("ours: purchase p99 < "+fmtDur(t.OursPurchaseP99), p.Answered > 0 && p.P99 < t.OursPurchaseP99, "p99 %s of %s answered", fmtDur(p.P99), fmtNum(float64(p.Answered)))
	}
	for _, name := range []string{opReadEdge, opReadOrigin} {
		if r, ok := sys.op(name); ok && r.Count > 0 {
			add("brief: "+name+" p99 < "+fmtDur(t.BriefReadP99), r.Answered > 0 && r.P99 < t.BriefReadP99, "p99 %s of %s answered", fmtDur(r.P99), fmtNum(float64(r.Answered)))
			add("ours: "+name+" p99 < "+fmtDur(t.OursReadP99), r.Answered > 0 && r.P99 < t.OursReadP99, "p99 %s of %s answered", fmtDur(r.P99), fmtNum(float64(r.Answered)))
		}
	}
	if f := sys.Feed; f != nil {
		add("live pages: every stream opened", f.ConnectFailed == 0, "%d of %d", f.Connected, f.Viewers)
		add("live pages: nothing out of order", f.Reordered == 0 && f.Malformed == 0, "%d events, %d out of order, %d unreadable", f.Events, f.Reordered, f.Malformed)
		add("live pages: every page ends on the last version", f.Converged == f.Viewers, "%d of %d within 10 s of the end", f.Converged, f.Viewers)
	}
	return out
}
