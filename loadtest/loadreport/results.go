// Package loadreport is what a load generator run found and its report
// folder: summary.md (the verdict and every table, CPU per operation and
// the machine's floor among them), results.json (the same figures for
// tools), the latency charts and each operation's full histogram. The
// services' CPU profiles are written into the folder's profiles/ during
// the run; the report lists them.
package loadreport

import (
	"time"

	"livecommerce/loadtest/audience"
	"livecommerce/loadtest/cpucost"
	"livecommerce/loadtest/floor"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/procstat"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/verdict"
)

// Outcome is what a whole invocation found.
type Outcome struct {
	Config   scenario.Config
	Plan     *scenario.Plan
	Machine  string // what the figures ran on
	Started  time.Time
	Phases   []Phase  // standard run: system, naive, static
	Steps    []Series // capacity search
	Verdicts []verdict.Checklist
	Checks   []verdict.Check // the run's own verdict lines: schedule, errors, targets, live pages
	Floor    *floor.Floor    // the machine's floor, measured before the load (nil: not measured)
}

// Pass reports whether every check and invariant held.
func (o *Outcome) Pass() bool {
	for _, c := range o.Checks {
		if !c.OK {
			return false
		}
	}
	for _, v := range o.Verdicts {
		if !v.Pass() {
			return false
		}
	}
	return true
}

// Measured reports whether anything was measured, and so whether there is
// a report to write.
func (o *Outcome) Measured() bool { return len(o.Phases) > 0 || len(o.Steps) > 0 }

// allPhases lists the standard run's phases and every step's.
func (o *Outcome) allPhases() []Phase {
	out := append([]Phase(nil), o.Phases...)
	for _, s := range o.Steps {
		for _, st := range s.Steps {
			out = append(out, st.Phase)
		}
	}
	return out
}

// hasProfiles reports whether any profile was taken.
func (o *Outcome) hasProfiles() bool {
	for _, ph := range o.allPhases() {
		for _, pr := range ph.Profiles {
			if pr.File != "" {
				return true
			}
		}
	}
	return false
}

// Load is how one pacer kept its schedule.
type Load struct {
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

// Phase is one measured load.
type Phase struct {
	Name     string
	Target   cpucost.Target // what the phase loaded: the system or a baseline
	Start    time.Time
	Warmup   time.Duration
	Duration time.Duration
	Loads    []Load
	Ops      []opstats.Summary
	Feed     *audience.Stats
	CPU      []procstat.Group // per process name over the measured window
	Profiles []Profile        // CPU profiles of the services over the measured window (--profile)
}

// Profile is one service's CPU profile over a phase's measured window.
type Profile struct {
	Service string
	File    string // in the report folder; "" when it could not be taken
	Seconds int64
	Bytes   int64
	Err     string `json:",omitempty"`
}

// Counts are the operations of each kind answered within the measured
// window, which its CPU is charged to: purchases (resent ones included),
// stock reads, and stock events the live pages read.
func (p Phase) Counts() cpucost.Counts {
	c := cpucost.Counts{cpucost.Purchase: p.load("purchases").Answered, cpucost.Read: p.load("stock reads").Answered}
	if p.Feed != nil {
		c[cpucost.Event] = p.Feed.Lag.Count
	}
	return c
}

// Cost is the phase's CPU per operation.
func (p Phase) Cost(purchasesViaEdge bool) cpucost.Table {
	return cpucost.Charge(p.Target, cpucost.Sum(p.CPU), p.Duration, p.Counts(), cpucost.Options{PurchasesViaEdge: purchasesViaEdge})
}

// Op returns the summary of the named operation.
func (p Phase) Op(name string) (opstats.Summary, bool) {
	for _, o := range p.Ops {
		if o.Name == name {
			return o, true
		}
	}
	return opstats.Summary{}, false
}

// KeptUp reports whether every load of the phase kept its schedule.
func (p Phase) KeptUp() bool {
	for _, l := range p.Loads {
		if !l.KeptUp {
			return false
		}
	}
	return true
}

// load returns the load of the given name.
func (p Phase) load(name string) Load {
	for _, l := range p.Loads {
		if l.Name == name {
			return l
		}
	}
	return Load{}
}

// Series is one capacity search: the rate of one kind of operation raised
// step by step on one system until its p99 broke.
type Series struct {
	Name     string
	Kind     string // "purchases" or "stock reads"
	Baseline bool   // a baseline's capacity is a figure, not a pass or fail
	Steps    []Step
	// The highest rate at which each target was met, 0 when none was.
	BriefCapacity, OursCapacity float64
	Stopped                     string // why the search ended
}

// Step is one rate of a search.
type Step struct {
	Rate      float64
	Phase     Phase
	Worst     opstats.Summary // the operation the step is judged by: the slowest p99
	MetBrief  bool
	MetOurs   bool
	Shortfall string // why the brief's target was missed, if it was
}
