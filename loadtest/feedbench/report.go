package feedbench

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"livecommerce/loadtest/machine"
	"livecommerce/loadtest/markdown"
	"livecommerce/loadtest/procstat"
)

// Failures lists the checks and targets the run missed; none when it
// passed.
func (r *Result) Failures() []string {
	var out []string
	if n := len(r.connectErrs) - r.connected; n > 0 {
		out = append(out, fmt.Sprintf("%d of %d clients failed to connect", n, len(r.connectErrs)))
	}
	if kib := r.perStreamKiB(r.idleBefore.RSS, r.idleAfter.RSS); kib >= r.cfg.MaxIdleKiB {
		out = append(out, fmt.Sprintf("idle RSS per stream %.1f KiB ≥ %g KiB", kib, r.cfg.MaxIdleKiB))
	}
	if p99 := micros(r.lag.ValueAtQuantile(99)); p99 >= r.cfg.MaxP99 {
		out = append(out, fmt.Sprintf("p99 delivery lag %s ≥ %s", ms(p99), ms(r.cfg.MaxP99)))
	}
	if n := r.droppedTotal(); n > 0 {
		out = append(out, fmt.Sprintf("%d clients were disconnected", n))
	}
	if r.mismatched > 0 {
		out = append(out, fmt.Sprintf("%d clients did not end on the last published versions", r.mismatched))
	}
	if r.reordered > 0 {
		out = append(out, fmt.Sprintf("%d stock events arrived out of order", r.reordered))
	}
	if r.malformed > 0 {
		out = append(out, fmt.Sprintf("%d stock events could not be read", r.malformed))
	}
	if r.load.Achieved < 0.99*r.load.Rate {
		out = append(out, fmt.Sprintf("the bench published %.1f changes/s, below the requested %g", r.load.Achieved, r.load.Rate))
	}
	return out
}

func (r *Result) droppedTotal() int {
	n := 0
	for _, c := range r.dropped {
		n += c
	}
	return n
}

func (r *Result) perStreamKiB(before, after int64) float64 {
	if r.connected == 0 {
		return 0
	}
	return float64(after-before) / float64(r.connected) / 1024
}

// Markdown renders the report.
func (r *Result) Markdown() string {
	var d markdown.Doc
	name := ""
	if r.cfg.Name != "" {
		name = r.cfg.Name + " — "
	}
	d.Line("## %sstockfeed: %d idle streams on %s, then %g changes/s for %s",
		name, r.cfg.Clients, plural(r.cfg.Lives, "live"), r.cfg.Rate, r.cfg.Duration)
	d.Line("")
	d.Line("Measured %s by `feedbench` (cmd/feedbench), loopback only.", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	d.Line("")
	writeMachine(&d, r.machine, r.goFeed, "NATS", fmt.Sprintf("nats-server %s at %s", r.nats, r.cfg.NATSURL))
	r.writeSettings(&d)
	r.writeResults(&d)
	d.Line("**Targets:** %s.", strings.Join(r.targets(), "; "))
	d.Line("")
	if fails := r.Failures(); len(fails) > 0 {
		d.Line("**Result: FAILED** — %s.", strings.Join(fails, "; "))
	} else {
		d.Line("**Result: passed** — every client connected, converged and stayed connected; both targets met.")
	}
	d.Line("")
	return d.String()
}

// targets says of each target whether the run met it.
func (r *Result) targets() []string {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	kib := r.perStreamKiB(r.idleBefore.RSS, r.idleAfter.RSS)
	p99 := micros(r.lag.ValueAtQuantile(99))
	return []string{
		fmt.Sprintf("idle RSS per stream < %g KiB %s (%.1f KiB)", r.cfg.MaxIdleKiB, met(kib < r.cfg.MaxIdleKiB), kib),
		fmt.Sprintf("p99 delivery lag < %s %s (%s)", ms(r.cfg.MaxP99), met(p99 < r.cfg.MaxP99), ms(p99)),
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "one " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// spread is "n" when lo and hi are equal, else "lo–hi".
func spread[T int | float64](lo, hi T) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%v–%v", lo, hi)
}

// writeMachine writes the machine's table; goFeed is the Go that built
// the stockfeed, if known, and extraKey a row more, if not empty.
func writeMachine(d *markdown.Doc, m machine.Description, goFeed, extraKey, extraValue string) {
	d.Table("Machine", "")
	d.Row("CPU", fmt.Sprintf("%s, %d cores (nproc)", orUnknown(m.Model), m.CPUs))
	d.Row("Kernel", orUnknown(m.Kernel))
	goLine := m.Go + " (feedbench)"
	if goFeed != "" {
		goLine += ", " + goFeed + " (stockfeed)"
	}
	d.Row("Go", goLine)
	if extraKey != "" {
		d.Row(extraKey, extraValue)
	}
	d.Line("")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (r *Result) writeSettings(d *markdown.Doc) {
	c := r.cfg
	d.Table("Setting", "Value")
	perLive := spread(c.Clients/c.Lives, (c.Clients+c.Lives-1)/c.Lives)
	lives := fmt.Sprintf("`%s`", r.lives[0])
	if len(r.lives) > 1 {
		lives = fmt.Sprintf("%d (`%s` … `%s`), fresh ids", len(r.lives), r.lives[0], r.lives[len(r.lives)-1])
	}
	d.Row("Lives", lives)
	d.Row("Streams", fmt.Sprintf("%d in all, %s per live, opened %d at a time", c.Clients, perLive, c.RampConcurrency))
	d.Row("Skus", fmt.Sprintf("%d per live", c.SKUs))
	d.Row("Load", fmt.Sprintf("%g changes/s in all, %g per live, round robin over every (live, sku) for %s, open-loop pacing",
		c.Rate, c.Rate/float64(c.Lives), c.Duration))
	d.Row("Coalescing window", c.CoalesceWindow.String())
	env := "defaults, caps raised to the stream and live counts"
	if len(c.FeedEnv) > 0 {
		env += "; `" + strings.Join(c.FeedEnv, "`, `") + "`"
	}
	d.Row("stockfeed settings", markdown.Cell(env))
	d.Row("Idle wait", fmt.Sprintf("%s after the ramp", c.IdleWait))
	d.Line("")
}

func (r *Result) writeResults(d *markdown.Doc) {
	c := r.cfg
	row := d.Row
	d.Table("Result", "Value", "Target", "")

	total := len(r.connectErrs)
	row("Streams connected", fmt.Sprintf("%d / %d in %.2f s (%.0f/s)%s", r.connected, total, r.rampWall.Seconds(),
		float64(r.connected)/r.rampWall.Seconds(), r.connectFailures()), "all", verdict(r.connected == total))

	rssKiB := r.perStreamKiB(r.idleBefore.RSS, r.idleAfter.RSS)
	row("Idle RSS per stream", fmt.Sprintf("%.1f KiB (%s → %s)", rssKiB, mib(r.idleBefore.RSS), mib(r.idleAfter.RSS)),
		fmt.Sprintf("< %g KiB", c.MaxIdleKiB), verdict(rssKiB < c.MaxIdleKiB))
	row("Idle Go heap + stacks per stream", fmt.Sprintf("%.1f KiB (heap %.1f + stacks %.1f)",
		r.perStreamKiB(r.idleBefore.Go.HeapAndStack(), r.idleAfter.Go.HeapAndStack()),
		r.perStreamKiB(r.idleBefore.Go.HeapInuse, r.idleAfter.Go.HeapInuse),
		r.perStreamKiB(r.idleBefore.Go.StackInuse, r.idleAfter.Go.StackInuse)), "", "")
	row("Goroutines per stream", fmt.Sprintf("%.2f (%d → %d)",
		float64(r.idleAfter.Go.Goroutines-r.idleBefore.Go.Goroutines)/float64(max(r.connected, 1)),
		r.idleBefore.Go.Goroutines, r.idleAfter.Go.Goroutines), "", "")

	l := r.load
	row("Changes published", fmt.Sprintf("%d at %.1f/s (requested %g/s; latest %s behind its slot)",
		len(l.Sent), l.Achieved, l.Rate, ms(l.MaxSlip)), "requested rate", verdict(l.Achieved >= 0.99*l.Rate))
	for _, q := range []float64{50, 90, 99, 99.9} {
		v := micros(r.lag.ValueAtQuantile(q))
		if q == 99 {
			row("Delivery lag p99", ms(v), "< "+ms(c.MaxP99), verdict(v < c.MaxP99))
			continue
		}
		row(fmt.Sprintf("Delivery lag p%g", q), ms(v), "", "")
	}
	row("Delivery lag max", ms(micros(r.lag.Max())), "", "")
	row("Stock events per stream", r.eventsLine(), fmt.Sprintf("≈ %s (the feed's coalescing replayed on each live's changes)",
		spread(slices.Min(r.expected), slices.Max(r.expected))), "")
	row("Streams disconnected", r.droppedLine(), "0", verdict(r.droppedTotal() == 0))
	row("Events out of order / unreadable / extra snapshots", fmt.Sprintf("%d / %d / %d", r.reordered, r.malformed, r.resnapshots),
		"0 / 0 / 0", verdict(r.reordered+r.malformed == 0))
	conv := fmt.Sprintf("%d / %d", r.connected-r.mismatched, r.connected)
	if r.convergedAll {
		conv += fmt.Sprintf(", all by %s after the last change was sent", ms(r.convergedIn))
	}
	row("Streams on the last versions", conv, "all", verdict(r.mismatched == 0))
	u := r.cpu
	row("stockfeed CPU during the load", fmt.Sprintf("%s; %d write calls (%.0f/s, %.1f µs CPU per write)", u.Child,
		u.Child.Writes, float64(u.Child.Writes)/u.Child.Wall.Seconds(), perCall(u.Child, u.Child.Writes)), "", "")
	row("feedbench CPU during the load", fmt.Sprintf("%s; %d read calls", u.Self, u.Self.Reads), "", "")
	cores := float64(r.machine.CPUs) * 100
	others := (u.MachineBusy-u.SoftIRQ)*cores - u.Child.Percent() - u.Self.Percent()
	row("Machine during the load", fmt.Sprintf("%.0f%% of %d cores busy: softirq (loopback TCP) %.0f%% of one core, other processes %.0f%%",
		100*u.MachineBusy, r.machine.CPUs, u.SoftIRQ*cores, max(others, 0)), "", "")
	row("stockfeed RSS after the load", fmt.Sprintf("%s (Go heap %s, stacks %s)", mib(r.afterLoad.RSS),
		mib(r.afterLoad.Go.HeapInuse), mib(r.afterLoad.Go.StackInuse)), "", "")
	s := r.server
	if s.Deliveries > 0 {
		p99 := "> 5 s"
		if !math.IsInf(s.P99Bound, 1) {
			p99 = "≤ " + ms(time.Duration(s.P99Bound*float64(time.Second)))
		}
		row("Lag by the feed's own metric (to write)", fmt.Sprintf("mean %s, p99 %s over %.0f events; %.0f changes applied, %.0f coalesced, %.0f slow clients cut",
			ms(time.Duration(s.Sum/s.Deliveries*float64(time.Second))), p99, s.Deliveries, s.EventsIn, s.Coalesced, s.DropSlow), "", "")
	}
	d.Line("")
}

func (r *Result) eventsLine() string {
	if len(r.events) == 0 {
		return "none"
	}
	sum := 0
	for _, e := range r.events {
		sum += e
	}
	return fmt.Sprintf("min %d / avg %.1f / max %d; %d streams under 90%% of their live's estimate",
		slices.Min(r.events), float64(sum)/float64(len(r.events)), slices.Max(r.events), r.fewEvents)
}

func (r *Result) droppedLine() string {
	n := r.droppedTotal()
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", n, topKinds(r.dropped))
}

func (r *Result) connectFailures() string {
	kinds := map[string]int{}
	for _, e := range r.connectErrs {
		if e != nil {
			kinds[errKind(e)]++
		}
	}
	if len(kinds) == 0 {
		return ""
	}
	return "; failed: " + topKinds(kinds)
}

// topKinds lists the most frequent kinds first, five at most.
func topKinds(kinds map[string]int) string {
	keys := slices.SortedFunc(maps.Keys(kinds), func(a, b string) int {
		return cmp.Or(cmp.Compare(kinds[b], kinds[a]), strings.Compare(a, b))
	})
	var parts []string
	for i, k := range keys {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("%d other kinds", len(keys)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s", kinds[k], k))
	}
	return strings.Join(parts, ", ")
}

// perCall is the CPU a process spent per system call of a kind, in µs.
func perCall(c procstat.Span, calls int64) float64 {
	if calls == 0 {
		return 0
	}
	return float64((c.User+c.Sys)/time.Microsecond) / float64(calls)
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "**missed**"
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
