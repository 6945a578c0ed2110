package loadrun

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/loadtest/audience"
	"livecommerce/loadtest/cpucost"
	"livecommerce/loadtest/lanes"
	"livecommerce/loadtest/ledger"
	"livecommerce/loadtest/loadreport"
	"livecommerce/loadtest/openloop"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/pause"
	"livecommerce/loadtest/procstat"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/shoppers"
)

// bench is one invocation of `loadgen run`.
type bench struct {
	cfg    scenario.Config
	plan   *scenario.Plan
	log    *slog.Logger
	reader *shoppers.Reader
	buyer  *shoppers.Buyer
	db     *sql.DB
	rdb    *redis.Client
	phases int // phases run so far: each draws its own buyers and keys
}

// readTarget is where a share of the reads goes.
type readTarget struct {
	name  string
	bases []string // rotated read by read
	share float64
}

// loadSpec is the load of one phase.
type loadSpec struct {
	name         string
	target       cpucost.Target // what is loaded: the system or a baseline
	purchaseRate float64
	purchaseURLs []string // purchases go round robin over these
	readRate     float64
	reads        []readTarget
	warmup       time.Duration
	duration     time.Duration
	led          *ledger.Ledger
	audience     *audience.Audience // recorded while measuring, if any
}

// laneSets opens lanes to each base, n per base.
func (b *bench) laneSets(bases []string, n int) ([]*lanes.Set, error) {
	var out []*lanes.Set
	for _, base := range bases {
		ls, err := lanes.New(base, n, max(b.cfg.MaxInFlight/n, 1), b.cfg.Timeout)
		if err != nil {
			return nil, err
		}
		out = append(out, ls)
	}
	return out, nil
}

// runPhase plays one load and waits for its last answer.
func (b *bench) runPhase(ctx context.Context, spec loadSpec) (loadreport.Phase, error) {
	b.phases++
	phase := b.phases
	start := time.Now().Add(100 * time.Millisecond)
	measure := start.Add(spec.warmup)
	end := measure.Add(spec.duration)
	res := loadreport.Phase{Name: spec.name, Target: spec.target, Start: start, Warmup: spec.warmup, Duration: spec.duration}
	total := spec.warmup + spec.duration
	grace := 5 * time.Second
	var wg sync.WaitGroup
	var mu sync.Mutex
	addLoad := func(name string, rate float64, pr openloop.Result, answered int64) {
		mu.Lock()
		defer mu.Unlock()
		res.Loads = append(res.Loads, loadreport.Load{
			Name: name, Requested: rate, Due: pr.Due, Sent: pr.Sent, Skipped: pr.Skipped, NotSent: pr.NotSent,
			Answered: answered, AnsweredRate: float64(answered) / spec.duration.Seconds(),
			SendDelayP99: time.Duration(pr.SendDelay.ValueAtQuantile(99)) * time.Microsecond, KeptUp: pr.KeptUp(),
		})
	}
	var stats []*opstats.Stats
	var all []*lanes.Set
	// The pacers start only once every connection set is open: an error
	// on the way must not leave one running against closed lanes.
	var pacers []func()
	defer func() {
		for _, ls := range all {
			ls.Close()
		}
	}()
	if spec.purchaseRate > 0 {
		st := shoppers.PurchaseStats{
			First:  opstats.New(scenario.OpPurchase, start, measure, end, shoppers.ExpectedRefusals()...),
			Resent: opstats.New(scenario.OpPurchaseResent, start, measure, end),
		}
		stats = append(stats, st.First, st.Resent)
		sets, err := b.laneSets(spec.purchaseURLs, b.cfg.PurchaseConnections)
		if err != nil {
			return res, err
		}
		all = append(all, sets...)
		run := func(l *lanes.Lane, seq int64, due time.Time) { b.buyer.Purchase(l, phase, seq, due, st, spec.led) }
		drop := func(seq int64, due time.Time) { st.First.Record(due, time.Now(), opstats.CodeGaveUp) }
		p := openloop.Schedule{Rate: spec.purchaseRate, Duration: total, Grace: grace, Ramp: spec.warmup / 2, Measure: measure}
		pacers = append(pacers, func() {
			pr := p.Run(ctx, start, func(seq int64, due time.Time) bool {
				// Server by seq, lane by the rest: every lane of every
				// server gets its share.
				n := int64(len(sets))
				if !sets[seq%n].Submit(lanes.Job{Pick: seq / n, Seq: seq, Due: due, Run: run, Drop: drop}) {
					st.First.NotSent(due)
					return false
				}
				return true
			})
			for _, ls := range sets {
				ls.Close()
			}
			addLoad("purchases", spec.purchaseRate, pr, st.First.Completed()+st.Resent.Completed())
		})
	}
	if spec.readRate > 0 && len(spec.reads) > 0 {
		var targets []*opstats.Stats
		var sets [][]*lanes.Set
		var runs []func(l *lanes.Lane, seq int64, due time.Time)
		var drops []func(seq int64, due time.Time)
		for _, t := range spec.reads {
			st := opstats.New(t.name, start, measure, end)
			targets = append(targets, st)
			ls, err := b.laneSets(t.bases, b.cfg.Connections)
			if err != nil {
				return res, err
			}
			all = append(all, ls...)
			sets = append(sets, ls)
			runs = append(runs, func(l *lanes.Lane, seq int64, due time.Time) { b.reader.Read(l, seq, due, st) })
			drops = append(drops, func(seq int64, due time.Time) { st.Record(due, time.Now(), opstats.CodeGaveUp) })
		}
		stats = append(stats, targets...)
		pick := func(seq int64) int {
			// A fixed interleave, so each target gets its share evenly
			// over time.
			x := float64((seq*7919)%1000) / 1000
			for i, t := range spec.reads {
				if x < t.share {
					return i
				}
				x -= t.share
			}
			return len(spec.reads) - 1
		}
		p := openloop.Schedule{Rate: spec.readRate, Duration: total, Grace: grace, Ramp: spec.warmup / 2, Measure: measure}
		pacers = append(pacers, func() {
			pr := p.Run(ctx, start, func(seq int64, due time.Time) bool {
				i := pick(seq)
				n := int64(len(sets[i]))
				ls := sets[i][(seq/7)%n]
				if !ls.Submit(lanes.Job{Pick: seq / 7 / n, Seq: seq, Due: due, Run: runs[i], Drop: drops[i]}) {
					targets[i].NotSent(due)
					return false
				}
				return true
			})
			for _, s := range sets {
				for _, ls := range s {
					ls.Close()
				}
			}
			var answered int64
			for _, t := range targets {
				answered += t.Completed()
			}
			addLoad("stock reads", spec.readRate, pr, answered)
		})
	}
	for _, run := range pacers {
		wg.Go(run)
	}
	// CPU is read at the measured window's edges, on timers, since the
	// pacers return only when the last answer is in.
	var cpuStart, cpuEnd atomic.Pointer[procstat.Snapshot]
	snap := func(p *atomic.Pointer[procstat.Snapshot]) func() {
		return func() { s := procstat.Take(); p.Store(&s) }
	}
	cpuOn := time.AfterFunc(time.Until(measure), snap(&cpuStart))
	cpuOff := time.AfterFunc(time.Until(end), snap(&cpuEnd))
	defer cpuOn.Stop()
	defer cpuOff.Stop()
	// The profiles cover the measured window of the system's phases: a
	// baseline's load reaches none of the services profiled.
	waitProfiles := func() {}
	if b.cfg.Profile && spec.target == cpucost.System {
		pctx, stopProfiles := context.WithCancel(ctx)
		defer stopProfiles()
		done := make(chan struct{})
		profOn := time.AfterFunc(time.Until(measure), func() {
			defer close(done)
			res.Profiles = profileAll(pctx, b.cfg.OpsURLs, b.cfg.OutDir, spec.name, profileSeconds(spec.duration))
		})
		waitProfiles = func() {
			if !profOn.Stop() {
				<-done // started: wait for every profile
			}
		}
	}
	if spec.audience != nil {
		on := time.AfterFunc(time.Until(measure), func() { spec.audience.Record(true) })
		off := time.AfterFunc(time.Until(end), func() { spec.audience.Record(false) })
		defer on.Stop()
		defer off.Stop()
	}
	b.log.Info("phase started", "phase", spec.name, "purchases_per_s", spec.purchaseRate, "reads_per_s", spec.readRate,
		"warmup", spec.warmup.String(), "duration", spec.duration.String())
	wg.Wait()
	waitProfiles()
	for _, s := range stats {
		res.Ops = append(res.Ops, s.Summary())
	}
	if cpuOff.Stop() {
		snap(&cpuEnd)() // interrupted before the window's end
	}
	for i := 0; cpuEnd.Load() == nil && i < 100; i++ {
		time.Sleep(10 * time.Millisecond) // the timer's snapshot is being taken
	}
	if a, z := cpuStart.Load(), cpuEnd.Load(); a != nil && z != nil {
		res.CPU = procstat.Between(*a, *z)
	}
	b.log.Info("phase done", "phase", spec.name, "kept_schedule", res.KeptUp())
	return res, nil
}

// finalVersions reads every sku's current version straight from an
// origin, past its micro-cache.
func finalVersions(ctx context.Context, originURL string, plan *scenario.Plan) ([]int64, error) {
	pause.For(ctx, 500*time.Millisecond)
	hc := &http.Client{Timeout: 10 * time.Second}
	out := make([]int64, len(plan.SKUs))
	for i, s := range plan.SKUs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, originURL+"/v1/products/"+s.ID+"/stock", nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("final stock of %s: %w", s.ID, err)
		}
		var l struct {
			Version int64 `json:"version"`
		}
		err = json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("final stock of %s: status %d: %v", s.ID, resp.StatusCode, err)
		}
		out[i] = l.Version
	}
	return out, nil
}
