// Package cpucost charges the CPU the machine's processes used over a
// measured window to the operations answered in it: microseconds of CPU
// per purchase, per stock read and per event delivered to a live page,
// for each group of processes (the origins, Redis, MariaDB, ...).
//
// A phase that runs one kind of load (a step of a capacity search, a
// baseline) charges all of it to that kind, exactly. When several kinds
// run at once (the standard run's system phase), a group that serves one
// of them is charged to it; a group that serves several (the origins and
// Redis serve purchases and reads) cannot be split from /proc, and its
// figure for each kind is an upper bound, as if all of its CPU had gone
// to that kind. The system's cost is then a range: what its dedicated
// groups cost, up to that plus the shared ones.
package cpucost

import (
	"slices"
	"strings"
	"time"

	"livecommerce/loadtest/procstat"
)

// Kind is a kind of operation CPU is charged to.
type Kind string

// The kinds, in the order a report shows them.
const (
	Purchase Kind = "purchase"
	Read     Kind = "stock read"
	Event    Kind = "event" // a stock event delivered to a live page
)

// Kinds lists every kind in report order.
var Kinds = []Kind{Purchase, Read, Event}

// Groups of processes, named for what they are to the report.
const (
	Origins       = "origins"
	Feed          = "stockfeed"
	Invalidator   = "edge invalidator"
	Redis         = "Redis"
	MariaDB       = "MariaDB"
	NATS          = "NATS"
	Varnish       = "Varnish"
	NaiveOrigin   = "naive origin"
	StaticServer  = "static server"
	LoadGenerator = "load generator"
	Other         = "everything else"
)

// groupOrder is the order groups are shown in: the system's, the
// baselines', the tool, the rest.
var groupOrder = []string{Origins, Feed, Invalidator, Redis, MariaDB, NATS, Varnish, NaiveOrigin, StaticServer, LoadGenerator, Other}

// GroupOf names the group of a process from its name as /proc gives it:
// the executable's name cut to 15 bytes (so "edge-invalidato"). The
// baselines run from links named after them (scripts/bench.sh), so they
// are told from the load generator.
func GroupOf(proc string) string {
	switch {
	case proc == "origin":
		return Origins
	case proc == "stockfeed":
		return Feed
	case strings.HasPrefix(proc, "edge-invalidat"):
		return Invalidator
	case proc == "redis-server":
		return Redis
	case proc == "mariadbd" || proc == "mysqld":
		return MariaDB
	case proc == "nats-server":
		return NATS
	// varnishd is the manager, cache-main the child that serves;
	// cdn-config edge starts and watches them.
	case proc == "varnishd" || proc == "cache-main" || proc == "cdn-config":
		return Varnish
	case proc == "naive-origin":
		return NaiveOrigin
	case proc == "static-json":
		return StaticServer
	case proc == "loadgen":
		return LoadGenerator
	}
	return Other
}

// Target is what a phase measured.
type Target string

// The targets.
const (
	System Target = "system"         // the system under test
	Naive  Target = "naive baseline" // the naive origin, on MariaDB
	Static Target = "static server"  // the static JSON server
)

// Members lists the groups whose CPU is a target's cost. MariaDB serves
// both the system and the naive baseline; they run in separate phases, so
// in each phase it belongs to the one being measured.
func Members(t Target) []string {
	switch t {
	case System:
		return []string{Origins, Feed, Invalidator, Redis, MariaDB, NATS, Varnish}
	case Naive:
		return []string{NaiveOrigin, MariaDB}
	case Static:
		return []string{StaticServer}
	}
	return nil
}

// serves lists the kinds each group works for when several run at once.
// Every change on NATS is a committed purchase, and the invalidator and
// MariaDB see purchases only; the stockfeed's work is delivering events.
func serves(group string, purchasesViaEdge bool) []Kind {
	switch group {
	case Origins, Redis:
		return []Kind{Purchase, Read}
	case Feed:
		return []Kind{Event}
	case Invalidator, MariaDB, NATS, NaiveOrigin:
		return []Kind{Purchase}
	case Varnish:
		if purchasesViaEdge {
			return []Kind{Purchase, Read}
		}
		return []Kind{Read}
	case StaticServer:
		return []Kind{Read}
	}
	return Kinds // the tool and the rest work for whatever runs
}

// Usage is the CPU one group used over the window.
type Usage struct {
	Group string
	Cores float64  // CPU seconds per second of the window
	Procs []string // the process names seen in it, each once
}

// Sum adds up the CPU of processes by group, in report order.
func Sum(procs []procstat.Group) []Usage {
	by := map[string]*Usage{}
	for _, p := range procs {
		g := GroupOf(p.Name)
		u := by[g]
		if u == nil {
			u = &Usage{Group: g}
			by[g] = u
		}
		u.Cores += p.Cores
		if !slices.Contains(u.Procs, p.Name) {
			u.Procs = append(u.Procs, p.Name)
		}
	}
	var out []Usage
	for _, g := range groupOrder {
		if u := by[g]; u != nil {
			slices.Sort(u.Procs)
			out = append(out, *u)
		}
	}
	return out
}

// Counts are the operations of each kind answered in the window.
type Counts map[Kind]int64

// Cell is one group's CPU per operation of one kind.
type Cell struct {
	Micros float64 // µs of CPU per operation
	// Bound: the group served other kinds at the same time, and Micros
	// charges all of its CPU to this one: an upper bound.
	Bound bool
}

// Line is the CPU of one kind of operation.
type Line struct {
	Kind  Kind
	Count int64
	// Groups holds the groups charged to this kind, by name. A group not
	// there worked for other kinds only.
	Groups map[string]Cell
	// SystemLow and SystemHigh are the target's cost per operation: its
	// groups charged exactly, and that plus its groups' upper bounds.
	// They are equal when nothing was shared.
	SystemLow, SystemHigh float64
	// Machine is every process's CPU per operation, the tool's included
	// (an upper bound when other kinds ran too).
	Machine Cell
}

// Table is a phase's CPU per operation.
type Table struct {
	Target Target
	Window time.Duration
	Usage  []Usage
	Lines  []Line // one per kind answered in the window, in report order
}

// Options change how CPU is charged.
type Options struct {
	PurchasesViaEdge bool // purchases went through the edge: Varnish works for them too
}

// Charge charges the CPU used over window to the operations of counts.
func Charge(t Target, usage []Usage, window time.Duration, counts Counts, opt Options) Table {
	tab := Table{Target: t, Window: window, Usage: usage}
	var present []Kind
	for _, k := range Kinds {
		if counts[k] > 0 {
			present = append(present, k)
		}
	}
	if len(present) == 0 || window <= 0 {
		return tab
	}
	members := Members(t)
	var machine float64
	for _, u := range usage {
		machine += u.Cores
	}
	for _, k := range present {
		l := Line{Kind: k, Count: counts[k], Groups: map[string]Cell{}}
		per := func(cores float64) float64 {
			return cores * window.Seconds() * 1e6 / float64(counts[k])
		}
		for _, u := range usage {
			kinds := chargedKinds(serves(u.Group, opt.PurchasesViaEdge), present)
			if !slices.Contains(kinds, k) {
				continue
			}
			c := Cell{Micros: per(u.Cores), Bound: len(kinds) > 1}
			l.Groups[u.Group] = c
			if !slices.Contains(members, u.Group) {
				continue
			}
			if !c.Bound {
				l.SystemLow += c.Micros
			}
			l.SystemHigh += c.Micros
		}
		l.Machine = Cell{Micros: per(machine), Bound: len(present) > 1}
		tab.Lines = append(tab.Lines, l)
	}
	return tab
}

// chargedKinds is what a group serving served is charged to when present
// ran: the kinds it serves that ran, or, when none of them ran, every
// kind that did (whatever it did was caused by them: with purchases
// alone, the stockfeed reads their changes off NATS).
func chargedKinds(served, present []Kind) []Kind {
	var out []Kind
	for _, k := range present {
		if slices.Contains(served, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return present
	}
	return out
}

// Line returns the line of kind k.
func (t Table) Line(k Kind) (Line, bool) {
	for _, l := range t.Lines {
		if l.Kind == k {
			return l, true
		}
	}
	return Line{}, false
}
