package main

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
)

// bench is one invocation of `loadgen run`.
type bench struct {
	cfg    Config
	plan   *Plan
	log    *slog.Logger
	reader *reader
	buyer  *buyer
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
	purchaseRate float64
	purchaseURLs []string // purchases go round robin over these
	readRate     float64
	reads        []readTarget
	warmup       time.Duration
	duration     time.Duration
	led          *ledger
	audience     *audience // recorded while measuring, if any
}

// loadResult is how one pacer kept its schedule.
type loadResult struct {
	Name         string
	Requested    float64 // per second
	Due, Sent    int64
	Skipped      int64
	NotSent      int64   // refused by the tool: every connection's queue was full
	Answered     int64   // answers that arrived within the measured window
	AnsweredRate float64 // per second of the measured window
	SendDelayP99 time.Duration
	KeptUp       bool
}

// phaseResult is one measured load.
type phaseResult struct {
	Name     string
	Start    time.Time
	Warmup   time.Duration
	Duration time.Duration
	Loads    []loadResult
	Ops      []summary
	Feed     *feedStats
	CPU      []cpuUse // per process name over the measured window
}

// op returns the summary of the named operation.
func (p phaseResult) op(name string) (summary, bool) {
	for _, o := range p.Ops {
		if o.Name == name {
			return o, true
		}
	}
	return summary{}, false
}

// keptUp reports whether every load of the phase kept its schedule.
func (p phaseResult) keptUp() bool {
	for _, l := range p.Loads {
		if !l.KeptUp {
			return false
		}
	}
	return true
}

// Names of the operations in reports.
const (
	opPurchase       = "purchase"
	opPurchaseResent = "purchase, resent"
	opReadEdge       = "read via edge"
	opReadOrigin     = "read from origin"
	opReadStatic     = "read from static server"
	opEvent          = "stock event (SSE)"
)

// Contract codes that are a normal part of the scenario: the flash sku
// sells out, greedy buyers meet their limit (purchaseCode renames the same
// codes met by anyone else, which then count against the error budget).
var purchaseExpected = []string{"sold_out", "purchase_limit_exceeded"}

// laneSets opens lanes to each base, n per base.
func (b *bench) laneSets(bases []string, n int) ([]*lanes, error) {
	var out []*lanes
	for _, base := range bases {
		ls, err := newLanes(base, n, max(b.cfg.MaxInFlight/n, 1), b.cfg.Timeout)
		if err != nil {
			return nil, err
		}
		out = append(out, ls)
	}
	return out, nil
}

// runPhase plays one load and waits for its last answer.
func (b *bench) runPhase(ctx context.Context, spec loadSpec) (phaseResult, error) {
	b.phases++
	phase := b.phases
	start := time.Now().Add(100 * time.Millisecond)
	measure := start.Add(spec.warmup)
	res := phaseResult{Name: spec.name, Start: start, Warmup: spec.warmup, Duration: spec.duration}
	total := spec.warmup + spec.duration
	grace := 5 * time.Second
	var wg sync.WaitGroup
	var mu sync.Mutex
	addLoad := func(name string, rate float64, pr paceResult, answered int64) {
		mu.Lock()
		defer mu.Unlock()
		res.Loads = append(res.Loads, loadResult{
			Name: name, Requested: rate, Due: pr.Due, Sent: pr.Sent, Skipped: pr.Skipped, NotSent: pr.NotSent,
			Answered: answered, AnsweredRate: float64(answered) / spec.duration.Seconds(),
			SendDelayP99: time.Duration(pr.SendDelay.ValueAtQuantile(99)) * time.Microsecond, KeptUp: pr.KeptUp(),
		})
	}
	var stats []*opStats
	var all []*lanes
	// The pacers start only once every connection set is open: an error
	// on the way must not leave one running against closed lanes.
	var pacers []func()
	defer func() {
		for _, ls := range all {
			ls.close()
		}
	}()
	if spec.purchaseRate > 0 {
		st := purchaseStats{
			first:  newOpStats(opPurchase, start, measure, purchaseExpected...),
			resent: newOpStats(opPurchaseResent, start, measure),
		}
		st.first.end, st.resent.end = measure.Add(spec.duration), measure.Add(spec.duration)
		stats = append(stats, st.first, st.resent)
		sets, err := b.laneSets(spec.purchaseURLs, b.cfg.PurchaseConnections)
		if err != nil {
			return res, err
		}
		all = append(all, sets...)
		run := func(l *lane, seq int64, due time.Time) { b.buyer.purchase(l, phase, seq, due, st, spec.led) }
		drop := func(seq int64, due time.Time) { st.first.record(due, time.Now(), codeGaveUp) }
		p := pacer{rate: spec.purchaseRate, duration: total, grace: grace, ramp: spec.warmup / 2, measure: measure}
		pacers = append(pacers, func() {
			pr := p.run(ctx, start, func(seq int64, due time.Time) bool {
				// Server by seq, lane by the rest: every lane of every
				// server gets its share.
				n := int64(len(sets))
				if !sets[seq%n].submit(job{seq: seq / n, due: due, run: run, drop: drop, realSeq: seq}) {
					st.first.notSent(due)
					return false
				}
				return true
			})
			for _, ls := range sets {
				ls.close()
			}
			addLoad("purchases", spec.purchaseRate, pr, st.first.completed()+st.resent.completed())
		})
	}
	if spec.readRate > 0 && len(spec.reads) > 0 {
		var targets []*opStats
		var sets [][]*lanes
		var runs []func(l *lane, seq int64, due time.Time)
		var drops []func(seq int64, due time.Time)
		for _, t := range spec.reads {
			st := newOpStats(t.name, start, measure)
			st.end = measure.Add(spec.duration)
			targets = append(targets, st)
			ls, err := b.laneSets(t.bases, b.cfg.Connections)
			if err != nil {
				return res, err
			}
			all = append(all, ls...)
			sets = append(sets, ls)
			runs = append(runs, func(l *lane, seq int64, due time.Time) { b.reader.read(l, seq, due, st) })
			drops = append(drops, func(seq int64, due time.Time) { st.record(due, time.Now(), codeGaveUp) })
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
		p := pacer{rate: spec.readRate, duration: total, grace: grace, ramp: spec.warmup / 2, measure: measure}
		pacers = append(pacers, func() {
			pr := p.run(ctx, start, func(seq int64, due time.Time) bool {
				i := pick(seq)
				n := int64(len(sets[i]))
				ls := sets[i][(seq/7)%n]
				if !ls.submit(job{seq: seq / 7 / n, due: due, run: runs[i], drop: drops[i], realSeq: seq}) {
					targets[i].notSent(due)
					return false
				}
				return true
			})
			for _, s := range sets {
				for _, ls := range s {
					ls.close()
				}
			}
			var answered int64
			for _, t := range targets {
				answered += t.completed()
			}
			addLoad("stock reads", spec.readRate, pr, answered)
		})
	}
	for _, run := range pacers {
		wg.Go(run)
	}
	// CPU is read at the measured window's edges, on timers, since the
	// pacers return only when the last answer is in.
	var cpuStart, cpuEnd atomic.Pointer[cpuSnapshot]
	snap := func(p *atomic.Pointer[cpuSnapshot]) func() {
		return func() { s := takeCPU(); p.Store(&s) }
	}
	cpuOn := time.AfterFunc(time.Until(measure), snap(&cpuStart))
	cpuOff := time.AfterFunc(time.Until(measure.Add(spec.duration)), snap(&cpuEnd))
	defer cpuOn.Stop()
	defer cpuOff.Stop()
	if spec.audience != nil {
		on := time.AfterFunc(time.Until(measure), func() { spec.audience.recording.Store(true) })
		off := time.AfterFunc(time.Until(measure.Add(spec.duration)), func() { spec.audience.recording.Store(false) })
		defer on.Stop()
		defer off.Stop()
	}
	b.log.Info("phase started", "phase", spec.name, "purchases_per_s", spec.purchaseRate, "reads_per_s", spec.readRate,
		"warmup", spec.warmup.String(), "duration", spec.duration.String())
	wg.Wait()
	for _, s := range stats {
		res.Ops = append(res.Ops, s.summary())
	}
	if cpuOff.Stop() {
		snap(&cpuEnd)() // interrupted before the window's end
	}
	for i := 0; cpuEnd.Load() == nil && i < 100; i++ {
		time.Sleep(10 * time.Millisecond) // the timer's snapshot is being taken
	}
	if a, z := cpuStart.Load(), cpuEnd.Load(); a != nil && z != nil {
		res.CPU = cpuBetween(*a, *z)
	}
	b.log.Info("phase done", "phase", spec.name, "kept_schedule", res.keptUp())
	return res, nil
}

// finalVersions reads every sku's current version straight from an
// origin, past its micro-cache.
func finalVersions(ctx context.Context, originURL string, plan *Plan) ([]int64, error) {
	sleep(ctx, 500*time.Millisecond)
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
