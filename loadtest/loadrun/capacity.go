package loadrun

import (
	"context"
	"fmt"
	"time"

	"livecommerce/loadtest/cpucost"
	"livecommerce/loadtest/invariants"
	"livecommerce/loadtest/ledger"
	"livecommerce/loadtest/loadreport"
	"livecommerce/loadtest/markdown"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/pause"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/verdict"
)

// capacity searches four capacities, each kind of load alone so that the
// pairs compare like with like: purchases on the system and on the naive
// baseline, stock reads on the system (through the edge and straight from
// the origins, in the standard shares) and on the static server.
func (b *bench) capacity(ctx context.Context, o *loadreport.Outcome) error {
	cfg := b.cfg
	t := cfg.Targets
	led, nled := ledger.New(), ledger.New()
	plans := []struct {
		name, kind string
		baseline   bool
		rates      []float64
		brief, our time.Duration
		spec       func(rate float64) loadSpec
	}{
		{"system", "purchases", false, cfg.StepRates, t.BriefPurchaseP99, t.OursPurchaseP99, func(r float64) loadSpec {
			return loadSpec{target: cpucost.System, purchaseRate: r, purchaseURLs: cfg.PurchaseURLs(), led: led}
		}},
		{"naive baseline", "purchases", true, cfg.StepRates, t.BriefPurchaseP99, t.OursPurchaseP99, func(r float64) loadSpec {
			return loadSpec{target: cpucost.Naive, purchaseRate: r, purchaseURLs: []string{cfg.NaiveURL}, led: nled}
		}},
		{"system", "stock reads", false, cfg.StepReadRates, t.BriefReadP99, t.OursReadP99, func(r float64) loadSpec {
			return loadSpec{target: cpucost.System, readRate: r, reads: b.systemReads()}
		}},
		{"static server", "stock reads", true, cfg.StepReadRates, t.BriefReadP99, t.OursReadP99, func(r float64) loadSpec {
			return loadSpec{target: cpucost.Static, readRate: r, reads: []readTarget{{name: scenario.OpReadStatic, bases: []string{cfg.StaticURL}, share: 1}}}
		}},
	}
	for _, p := range plans {
		if ctx.Err() != nil {
			break
		}
		if (p.name == "naive baseline" && cfg.NaiveURL == "") || (p.name == "static server" && cfg.StaticURL == "") {
			continue
		}
		s := b.search(ctx, p.name, p.kind, p.rates, p.brief, p.our, p.spec)
		s.Baseline = p.baseline
		o.Steps = append(o.Steps, s)
	}
	v, err := invariants.CheckSystem(ctx, b.db, b.rdb, cfg.RedisPrefix, b.plan, led, invariants.Settle)
	if err != nil {
		return fmt.Errorf("invariant check: %w", err)
	}
	o.Verdicts = append(o.Verdicts, v)
	if cfg.NaiveURL != "" {
		v, err := invariants.CheckNaive(ctx, b.db, b.plan, nled)
		if err != nil {
			return fmt.Errorf("invariant check of the baseline: %w", err)
		}
		o.Verdicts = append(o.Verdicts, v)
	}
	o.Checks = judgeSteps(o.Steps)
	return ctx.Err()
}

// search raises the rate through rates until the brief's target breaks.
func (b *bench) search(ctx context.Context, name, kind string, rates []float64, brief, ours time.Duration, spec func(rate float64) loadSpec) loadreport.Series {
	s := loadreport.Series{Name: name, Kind: kind, Stopped: "the last rate was reached"}
	for _, rate := range rates {
		if ctx.Err() != nil {
			s.Stopped = "interrupted"
			break
		}
		sp := spec(rate)
		sp.name = fmt.Sprintf("%s, %s at %s/s", name, kind, markdown.Num(rate))
		sp.warmup, sp.duration = b.cfg.StepSettle, b.cfg.StepDuration
		ph, err := b.runPhase(ctx, sp)
		if err != nil {
			s.Stopped = err.Error()
			break
		}
		st := loadreport.Step{Rate: rate, Phase: ph, Worst: slowest(ph)}
		st.MetBrief, st.Shortfall = meets(ph, st.Worst, brief, b.cfg.MaxErrorRate)
		st.MetOurs, _ = meets(ph, st.Worst, ours, b.cfg.MaxErrorRate)
		if st.MetBrief {
			s.BriefCapacity = rate
		}
		if st.MetOurs {
			s.OursCapacity = rate
		}
		s.Steps = append(s.Steps, st)
		if !st.MetBrief {
			s.Stopped = fmt.Sprintf("at %s/s: %s", markdown.Num(rate), st.Shortfall)
			break
		}
		// Let the system drain before the next step.
		pause.For(ctx, b.cfg.StepSettle/3)
	}
	return s
}

// slowest is the phase's operation with the highest p99, resent purchases
// aside (their answers come from the idempotency cache); its error count
// is the whole phase's, resent purchases included.
func slowest(ph loadreport.Phase) opstats.Summary {
	var worst opstats.Summary
	var count, unexpected int64
	for _, op := range ph.Ops {
		count += op.Count
		unexpected += op.Unexpected
		if op.Name == scenario.OpPurchaseResent {
			continue
		}
		if op.Count > 0 && (worst.Name == "" || op.P99 > worst.P99) {
			worst = op
		}
	}
	worst.Count, worst.Unexpected = count, unexpected
	return worst
}

// meets reports whether a step kept its schedule, stayed in the error
// budget and had a p99 under bound; if not, it says why.
func meets(ph loadreport.Phase, w opstats.Summary, bound time.Duration, maxErr float64) (bool, string) {
	switch {
	case !ph.KeptUp():
		return false, "the tool could not send at the rate"
	case w.Count == 0 || w.Answered == 0:
		return false, "nothing was answered"
	case w.ErrorRate() > maxErr:
		return false, fmt.Sprintf("%.2f%% unexpected errors", 100*w.ErrorRate())
	case w.P99 >= bound:
		return false, fmt.Sprintf("%s p99 %s", w.Name, markdown.Dur(w.P99))
	}
	return true, ""
}

func judgeSteps(series []loadreport.Series) []verdict.Check {
	var out []verdict.Check
	for _, s := range series {
		out = append(out, verdict.Check{
			Name:   "capacity found: " + s.Name + ", " + s.Kind,
			OK:     s.BriefCapacity > 0 || s.Baseline,
			Detail: fmt.Sprintf("brief's target met up to %s/s, ours up to %s/s; stopped %s", markdown.Num(s.BriefCapacity), markdown.Num(s.OursCapacity), s.Stopped),
		})
	}
	return out
}
