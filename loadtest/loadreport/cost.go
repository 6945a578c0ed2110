package loadreport

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"livecommerce/loadtest/cpucost"
	"livecommerce/loadtest/floor"
	"livecommerce/loadtest/markdown"
	"livecommerce/loadtest/scenario"
)

// micros prints µs of CPU: a precision that suits the size.
func micros(us float64) string {
	switch {
	case math.IsNaN(us) || math.IsInf(us, 0):
		return "n/a"
	case us == 0:
		return "0"
	case us < 10:
		return fmt.Sprintf("%.1f", us)
	}
	return markdown.Num(us)
}

func durMicros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// costCell prints one group's CPU per operation; "" when the group was
// not charged to it.
func costCell(c cpucost.Cell, ok bool) string {
	if !ok {
		return ""
	}
	if c.Bound {
		return "≤ " + micros(c.Micros)
	}
	return micros(c.Micros)
}

// rangeCell prints the system's cost: one figure, or a range when shared
// groups make it one.
func rangeCell(lo, hi float64) string {
	switch {
	case math.IsNaN(hi) || hi-lo < 0.05:
		return micros(lo)
	case lo <= 0:
		return "≤ " + micros(hi)
	}
	return micros(lo) + "–" + micros(hi)
}

// costColumns are the groups shown as columns of the CPU per operation
// table: those of the targets' systems that appear in some phase.
var costColumns = []string{cpucost.Origins, cpucost.Feed, cpucost.Invalidator, cpucost.Redis, cpucost.MariaDB, cpucost.NATS, cpucost.Varnish, cpucost.NaiveOrigin, cpucost.StaticServer}

// renderCost shows the CPU of each group of processes per operation
// answered, phase by phase.
func renderCost(d *markdown.Doc, o *Outcome) {
	p := d.Line
	var rows []costRow
	viaEdge := o.Config.PurchaseVia == "edge"
	for _, ph := range o.allPhases() {
		if len(ph.CPU) == 0 {
			continue
		}
		if t := ph.Cost(viaEdge); len(t.Lines) > 0 {
			rows = append(rows, costRow{ph, t})
		}
	}
	if len(rows) == 0 {
		return
	}
	var cols []string
	for _, g := range costColumns {
		for _, r := range rows {
			if slices.ContainsFunc(r.tab.Usage, func(u cpucost.Usage) bool { return u.Group == g }) && slices.Contains(cpucost.Members(r.tab.Target), g) {
				cols = append(cols, g)
				break
			}
		}
	}
	p("## CPU per operation")
	p("")
	p("Microseconds of CPU each group of processes used over the measured window (read from /proc), divided by the operations answered in it: purchases (resent ones included), stock reads, and stock events the live pages read. \"system\" adds up the processes of what the phase measured: the system's, the naive origin and MariaDB, or the static server.")
	p("")
	p("- A phase that runs one kind of load (every step of a capacity search, each baseline) charges all of its CPU to that kind: the figures are exact.")
	p("- When purchases, reads and live pages run at once (the standard run's system phase), a group that works for one kind is charged to it: the stockfeed to events, MariaDB, NATS and the edge invalidator to purchases, Varnish to reads%s. The origins and Redis serve purchases and reads together and /proc cannot split them: their figure (≤) charges all of their CPU to each kind, an upper bound, and the system's cost is a range, from its dedicated groups alone to those plus the shared ones. The capacity search gives each kind alone.", viaEdgeNote(viaEdge))
	p("- MariaDB serves both the system and the naive baseline, and the load generator shares the machine with both; they run in separate phases, so each phase's MariaDB is the measured system's. The processes of the system that are idle during a baseline count in \"everything else\".")
	p("- Processes under 0.005 of a core are left out, and so is interrupt work the kernel charges to no process (loopback TCP's receiving half, partly): the floor's machine CPU below counts it.")
	if o.Config.Profile {
		p("- The services were being profiled during the system's windows (--profile), which costs them a few percent.")
	}
	p("")
	header := []string{"phase", "operation", "answered"}
	header = append(header, cols...)
	header = append(header, "system", "load generator", "everything else")
	d.Table(header...)
	for _, r := range rows {
		for _, l := range r.tab.Lines {
			cells := []string{markdown.Cell(r.phase.Name), string(l.Kind), markdown.Num(float64(l.Count))}
			members := cpucost.Members(r.tab.Target)
			for _, g := range cols {
				c, ok := l.Groups[g]
				cells = append(cells, costCell(c, ok && slices.Contains(members, g)))
			}
			lg, lok := l.Groups[cpucost.LoadGenerator]
			other := otherCell(l, members)
			cells = append(cells, "**"+rangeCell(l.SystemLow, l.SystemHigh)+"**", costCell(lg, lok), other)
			d.Row(cells...)
		}
	}
	p("")
	p("Groups: %s.", groupLegend(rows))
	p("")
}

// otherCell is what processes outside the measured system and the load
// generator cost per operation.
func otherCell(l cpucost.Line, members []string) string {
	var sum float64
	bound, any := false, false
	for g, c := range l.Groups {
		if g == cpucost.LoadGenerator || slices.Contains(members, g) {
			continue
		}
		sum += c.Micros
		bound = bound || c.Bound
		any = true
	}
	return costCell(cpucost.Cell{Micros: sum, Bound: bound}, any)
}

func viaEdgeNote(viaEdge bool) string {
	if viaEdge {
		return " and purchases (they went through the edge)"
	}
	return ""
}

// costRow is one phase's CPU per operation.
type costRow struct {
	phase Phase
	tab   cpucost.Table
}

// groupLegend names the processes seen in each group.
func groupLegend(rows []costRow) string {
	procs := map[string][]string{}
	for _, r := range rows {
		for _, u := range r.tab.Usage {
			for _, n := range u.Procs {
				if !slices.Contains(procs[u.Group], n) {
					procs[u.Group] = append(procs[u.Group], n)
				}
			}
		}
	}
	var parts []string
	for _, g := range append(slices.Clone(costColumns), cpucost.LoadGenerator) {
		if len(procs[g]) == 0 {
			continue
		}
		slices.Sort(procs[g])
		parts = append(parts, g+" = "+markdown.Cell(strings.Join(procs[g], ", ")))
	}
	return strings.Join(parts, "; ")
}

// floorLine is one operation of one phase against the machine's floor.
type floorLine struct {
	Phase, Operation string
	Kind             cpucost.Kind
	// CPU: the measured system's per operation (a range when shared),
	// the floor's, and how many floors that is.
	CPULowMicros, CPUHighMicros float64
	FloorCPUMicros              float64
	CPUTimesLow, CPUTimesHigh   float64
	// Latency: the server's p50 (from the first byte on the wire), the
	// floor's round trips one after another, and the multiple.
	ServerP50Micros, FloorLatencyMicros, LatencyTimes float64
}

// floorLines puts every phase's purchases and reads against the floor.
func floorLines(o *Outcome) []floorLine {
	if o.Floor == nil {
		return nil
	}
	var out []floorLine
	viaEdge := o.Config.PurchaseVia == "edge"
	for _, ph := range o.allPhases() {
		tab := ph.Cost(viaEdge)
		for _, op := range ph.Ops {
			k, ok := kindOf(op.Name)
			if !ok || op.Count == 0 {
				continue
			}
			fcpu, flat, ok := o.Floor.Cost(k)
			if !ok {
				continue
			}
			fl := floorLine{Phase: ph.Name, Operation: op.Name, Kind: k, FloorCPUMicros: durMicros(fcpu), FloorLatencyMicros: durMicros(flat),
				ServerP50Micros: durMicros(op.ServiceP50), CPULowMicros: math.NaN(), CPUHighMicros: math.NaN(), CPUTimesLow: math.NaN(), CPUTimesHigh: math.NaN()}
			if l, ok := tab.Line(k); ok && len(ph.CPU) > 0 {
				fl.CPULowMicros, fl.CPUHighMicros = l.SystemLow, l.SystemHigh
				fl.CPUTimesLow, fl.CPUTimesHigh = l.SystemLow/fl.FloorCPUMicros, l.SystemHigh/fl.FloorCPUMicros
			}
			fl.LatencyTimes = fl.ServerP50Micros / fl.FloorLatencyMicros
			out = append(out, fl)
		}
	}
	return out
}

// kindOf is the kind of CPU an operation is charged as; resent purchases
// are left out (their answer comes from the idempotency cache).
func kindOf(op string) (cpucost.Kind, bool) {
	switch op {
	case scenario.OpPurchase:
		return cpucost.Purchase, true
	case scenario.OpReadEdge, scenario.OpReadOrigin, scenario.OpReadStatic:
		return cpucost.Read, true
	}
	return "", false
}

func times(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
		return "n/a"
	}
	if x >= 10 {
		return fmt.Sprintf("%.0f×", x)
	}
	return fmt.Sprintf("%.1f×", x)
}

func timesRange(lo, hi float64) string {
	switch {
	case math.IsNaN(hi) || hi-lo < 0.05:
		return times(lo)
	case lo <= 0:
		return "≤ " + times(hi)
	}
	return times(lo) + "–" + times(hi)
}

// renderFloor shows the machine's floor and every phase against it.
func renderFloor(d *markdown.Doc, o *Outcome) {
	f := o.Floor
	if f == nil {
		return
	}
	p := d.Line
	p("## Physical floor")
	p("")
	p("Measured before the load, on the idle system: each round trip alone, one after another on one connection, for %s each. Client CPU is the load generator's own (getrusage), server CPU the serving processes' (/proc, by name), machine CPU every CPU's busy time (/proc/stat, interrupts and every other process included).", f.Each)
	p("")
	d.Table("round trip", "done", "p50", "p99", "client CPU", "server CPU", "machine CPU", "how")
	for _, pr := range []floor.Probe{f.HTTP, f.Script, f.Commit} {
		if !pr.OK() {
			d.Row(pr.Name, "not measured", "", "", "", "", "", markdown.Cell(pr.Err))
			continue
		}
		server := "n/a (" + pr.ServerGroup + " not told apart)"
		if pr.ServerSeen {
			server = usCell(pr.ServerCPU) + " (" + pr.ServerGroup + ")"
		}
		how := pr.Detail
		if pr.Err != "" {
			how += "; " + pr.Err
		}
		d.Row(pr.Name, markdown.Num(float64(pr.Ops)), usCell(pr.P50), usCell(pr.P99), usCell(pr.ClientCPU), server, usCell(pr.MachineCPU), markdown.Cell(how))
	}
	p("")
	pc, pl, pok := f.Cost(cpucost.Purchase)
	rc, rl, rok := f.Cost(cpucost.Read)
	if !pok && !rok {
		p("Without every probe's server CPU there is no floor to put the operations against.")
		p("")
		return
	}
	p("The least an operation can cost here, in CPU as the table above charges the system (the serving side of the HTTP exchange, since the load generator's CPU is not the system's; both sides of the Redis and database round trips, since an origin is their client), and in latency (the round trips one after another):")
	p("")
	if pok {
		p("- a purchase, one HTTP exchange, one EVALSHA and one commit: %s of CPU, %s", usCell(pc), usCell(pl))
	}
	if rok {
		p("- a stock read, one HTTP exchange: %s of CPU, %s", usCell(rc), usCell(rl))
	}
	p("")
	lines := floorLines(o)
	if len(lines) == 0 {
		return
	}
	p("Each phase's operations against that floor. CPU is the measured system's per operation (a range in a phase where several kinds share processes; the same for both kinds of read, which /proc cannot tell apart); latency is the server's p50, from the request's first byte on the wire.")
	p("")
	d.Table("phase", "operation", "CPU µs", "floor µs", "× floor", "server p50", "floor", "× floor")
	for _, l := range lines {
		d.Row(markdown.Cell(l.Phase), l.Operation, rangeCell(l.CPULowMicros, l.CPUHighMicros), micros(l.FloorCPUMicros), "**"+timesRange(l.CPUTimesLow, l.CPUTimesHigh)+"**",
			usCell(time.Duration(l.ServerP50Micros*float64(time.Microsecond))), usCell(time.Duration(l.FloorLatencyMicros*float64(time.Microsecond))), times(l.LatencyTimes))
	}
	p("")
}

// usCell prints a short duration in µs, or ms past 10 ms.
func usCell(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return markdown.Dur(d)
	}
	return micros(durMicros(d)) + " µs"
}

// renderProfiles lists the CPU profiles taken, and how to open them.
func renderProfiles(d *markdown.Doc, o *Outcome) {
	var all []Profile
	var phases []string
	for _, ph := range o.allPhases() {
		for _, pr := range ph.Profiles {
			all = append(all, pr)
			phases = append(phases, ph.Name)
		}
	}
	if len(all) == 0 {
		return
	}
	p := d.Line
	p("## CPU profiles")
	p("")
	p("Each service's CPU profile over the measured window of each phase of the system (--profile), from its ops listener's `/debug/pprof/profile`. The profiles carry their symbols: from this folder, `go tool pprof -top FILE` lists the hottest functions, `go tool pprof -http=127.0.0.1:0 FILE` opens the graph and flame views.")
	p("")
	d.Table("phase", "service", "seconds", "file", "open with")
	for i, pr := range all {
		if pr.File == "" {
			d.Row(markdown.Cell(phases[i]), markdown.Cell(pr.Service), fmt.Sprint(pr.Seconds), "not taken", markdown.Cell(pr.Err))
			continue
		}
		d.Row(markdown.Cell(phases[i]), markdown.Cell(pr.Service), fmt.Sprint(pr.Seconds), "`"+pr.File+"`", "`go tool pprof -top "+pr.File+"`")
	}
	p("")
}
