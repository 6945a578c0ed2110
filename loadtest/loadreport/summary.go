package loadreport

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"livecommerce/loadtest/markdown"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/scenario"
)

// renderSummary is the report's Markdown.
func renderSummary(o *Outcome, charts []string) string {
	var d markdown.Doc
	p := d.Line
	cfg := o.Config
	kind := "standard scenario"
	if len(o.Steps) > 0 {
		kind = "capacity search (--step)"
	}
	p("# Load test: %s", kind)
	p("")
	p("- **Verdict: %s**", strings.Trim(passFail(o.Pass()), "*"))
	p("- Run %s, started %s", o.Plan.RunID, o.Started.Format("2006-01-02 15:04 MST"))
	p("- Machine: %s; the load generator ran on the same cores as everything it measured", o.Machine)
	p("- Open loop: every request has a due time on a fixed schedule, and its latency is measured from that due time, so a server that stalls the sender still pays for every request it delayed")
	p("")
	p("## Verdict")
	p("")
	d.Table("check", "result", "detail")
	for _, c := range o.Checks {
		d.Row(markdown.Cell(c.Name), passFail(c.OK), markdown.Cell(c.Detail))
	}
	for _, v := range o.Verdicts {
		redis := ""
		if v.System == "system under test" {
			redis = " and Redis"
		}
		d.Row("invariants: "+v.System, passFail(v.Pass()), fmt.Sprintf("%d checks against the database of record%s", len(v.Checks), redis))
	}
	p("")
	p("## Scenario")
	p("")
	p("- %d lives × %d products (%d hot each); %.0f%% of purchases and reads on hot products", cfg.Lives, cfg.SKUsPerLive, cfg.HotSKUsPerLive, 100*cfg.HotShare)
	p("- Purchases: %.0f/s %s; %.0f%% resend an earlier purchase with its idempotency key, %.0f%% come from %d greedy buyers who run into their limit of %d, %.0f%% go to one flash product with %d units that sells out",
		cfg.PurchaseRate, via(cfg), 100*cfg.RetryShare, 100*cfg.GreedyShare, scenario.GreedyBuyers, scenario.PerBuyerLimit, 100*cfg.FlashShare, o.Plan.SKUs[o.Plan.Flash].Stock)
	p("- Stock reads: %.0f/s, %.0f%% through the edge and the rest straight from %d origins", cfg.ReadRate, 100*cfg.EdgeReadShare, len(cfg.OriginURLs))
	p("- Live pages: %d event streams, spread evenly over the lives, opened at %s", cfg.SSEClients, cfg.FeedURL)
	if len(o.Steps) == 0 {
		p("- %s of load after a %s warm-up (the rates rise from a tenth over its first half); baselines %s after %s", cfg.Duration, cfg.Warmup, cfg.BaselineDuration, min(cfg.Warmup, 5*time.Second))
	} else {
		p("- Steps of %s each after %s of settling: purchases at %s/s, stock reads at %s/s", cfg.StepDuration, cfg.StepSettle, joinRates(cfg.StepRates), joinRates(cfg.StepReadRates))
	}
	p("- Tokens signed per buyer, a fresh idempotency key per purchase, X-Forwarded-For per buyer and per page (the origins and the feed limit requests per address)")
	p("")

	if len(o.Phases) > 0 {
		renderStandard(&d, o)
	}
	if len(o.Steps) > 0 {
		renderSteps(&d, o)
	}
	renderCost(&d, o)
	renderFloor(&d, o)
	renderProfiles(&d, o)
	p("## Invariants")
	p("")
	for _, v := range o.Verdicts {
		p("**%s: %s**", v.System, strings.Trim(passFail(v.Pass()), "*"))
		p("")
		d.Table("check", "result", "detail")
		for _, c := range v.Checks {
			d.Row(markdown.Cell(c.Name), passFail(c.OK), markdown.Cell(c.Detail))
		}
		p("")
	}
	p("## Files")
	p("")
	p("- `summary.md`: this report; `results.json`: the same figures for tools")
	for _, c := range charts {
		p("- `%s`: latency over time", c)
	}
	p("- `histograms/*.hgrm`: each operation's full latency distribution in HdrHistogram's percentile format, in milliseconds")
	if o.hasProfiles() {
		p("- `profiles/*.pb.gz`: the services' CPU profiles over each measured window of the system (`go tool pprof`)")
	}
	p("- `logs/`: the services' logs (when run by scripts/bench.sh)")
	return d.String()
}

func renderStandard(d *markdown.Doc, o *Outcome) {
	p := d.Line
	p("## Throughput")
	p("")
	p("Answered/s counts the answers that arrived within the measured window. Refused: operations the tool could not queue (every connection's queue full).")
	p("")
	d.Table("phase", "load", "requested/s", "answered/s", "handed over / due", "refused", "send delay p99", "on schedule")
	for _, ph := range o.Phases {
		for _, l := range ph.Loads {
			d.Row(ph.Name, l.Name, markdown.Num(l.Requested), markdown.Num(l.AnsweredRate), markdown.Num(float64(l.Sent))+" / "+markdown.Num(float64(l.Due)), markdown.Num(float64(l.NotSent)), markdown.Dur(l.SendDelayP99), yesNo(l.KeptUp))
		}
	}
	p("")
	p("## Latency")
	p("")
	p("Latency counts from each request's due time; \"server p50/p99\" counts from its first byte on the wire, so the difference is time spent waiting for a connection in the tool.")
	p("")
	d.Table("phase", "operation", "answered", "p50", "p90", "p99", "p99.9", "max", "server p50 / p99", "unexpected errors")
	for _, ph := range o.Phases {
		for _, op := range ph.Ops {
			if op.Count == 0 {
				continue
			}
			d.Row(ph.Name, op.Name, markdown.Num(float64(op.Answered)), markdown.Dur(op.P50), markdown.Dur(op.P90), markdown.Dur(op.P99), markdown.Dur(op.P999), markdown.Dur(op.Max), markdown.Dur(op.ServiceP50)+" / "+markdown.Dur(op.ServiceP99), errCell(op))
		}
		if f := ph.Feed; f != nil && f.Lag.Count > 0 {
			l := f.Lag
			d.Row(ph.Name, scenario.OpEvent+": change admitted to the live page", markdown.Num(float64(l.Count)), markdown.Dur(l.P50), markdown.Dur(l.P90), markdown.Dur(l.P99), markdown.Dur(l.P999), markdown.Dur(l.Max), "", "")
		}
	}
	p("")
	p("## Outcomes by code")
	p("")
	d.Table("phase", "operation", "outcomes")
	for _, ph := range o.Phases {
		for _, op := range ph.Ops {
			if op.Count == 0 {
				continue
			}
			var parts []string
			for _, c := range op.SortedCodes() {
				parts = append(parts, fmt.Sprintf("%s %s", c, markdown.Num(float64(op.Codes[c]))))
			}
			d.Row(ph.Name, op.Name, markdown.Cell(strings.Join(parts, ", ")))
		}
	}
	p("")
	if f := o.Phases[0].Feed; f != nil {
		p("## Live pages")
		p("")
		p("- %d of %d streams opened; %d ended on the last version of every product of their live within 10 s of the end", f.Connected, f.Viewers, f.Converged)
		p("- %s stock events read, %d out of order, %d unreadable, %d fresh snapshots after a reconnect, %d reconnects", markdown.Num(float64(f.Events)), f.Reordered, f.Malformed, f.Resnapshots, f.Reconnects)
		p("- Lag runs from the change's `updated_at` (when Redis admitted the purchase, before the order's commit, so an upper bound on commit-to-page) to the moment a page read the event, over the measured window, same clock; %s events read before their `updated_at` (millisecond rounding) count as 0",
			markdown.Num(float64(f.Early)))
		for _, e := range f.FirstErrors {
			p("- %s", markdown.Cell(e))
		}
		p("")
	}
	renderCPU(d, o.Phases)
	renderBaselines(d, o)
}

func via(cfg scenario.Config) string {
	if cfg.PurchaseVia == "origins" {
		return fmt.Sprintf("straight to the %d origins, round robin (the load balancer's part; the local edge only passes purchases through)", len(cfg.OriginURLs))
	}
	return "through the edge"
}

// renderCPU shows where the machine's CPU went in each phase: on a small
// machine shared with the load generator, that explains the latencies.
func renderCPU(d *markdown.Doc, phases []Phase) {
	p := d.Line
	found := false
	for _, ph := range phases {
		found = found || len(ph.CPU) > 0
	}
	if !found {
		return
	}
	p("## CPU")
	p("")
	p("Cores each kind of process used over the measured window (all processes on the machine, read from /proc; %d cores in all).", runtime.NumCPU())
	p("")
	d.Table("phase", "total", "busiest processes")
	for _, ph := range phases {
		if len(ph.CPU) == 0 {
			continue
		}
		total := 0.0
		var parts []string
		for i, u := range ph.CPU {
			total += u.Cores
			if i < 8 {
				name := u.Name
				if u.Procs > 1 {
					name += fmt.Sprintf(" ×%d", u.Procs)
				}
				parts = append(parts, fmt.Sprintf("%s %.2f", name, u.Cores))
			}
		}
		d.Row(ph.Name, fmt.Sprintf("%.2f", total), markdown.Cell(strings.Join(parts, ", ")))
	}
	p("")
}

// renderBaselines compares the system with the naive design and with the
// static server, measured in the same run under the same load.
func renderBaselines(d *markdown.Doc, o *Outcome) {
	p := d.Line
	var sys, naive, static *Phase
	for i := range o.Phases {
		switch o.Phases[i].Name {
		case "system":
			sys = &o.Phases[i]
		case "naive baseline":
			naive = &o.Phases[i]
		case "static baseline":
			static = &o.Phases[i]
		}
	}
	if sys == nil || (naive == nil && static == nil) {
		return
	}
	p("## Baselines")
	p("")
	p("Same run, same machine, same rates. The system ran with all of its load at once; each baseline ran alone afterwards, with the machine to itself, so the ratios flatter the baselines.")
	p("")
	d.Table("measure", "system", "baseline", "baseline ÷ system")
	sp, _ := sys.Op(scenario.OpPurchase)
	if naive != nil {
		np, _ := naive.Op(scenario.OpPurchase)
		nl := naive.load("purchases")
		sl := sys.load("purchases")
		d.Row("purchases answered/s (naive MySQL `UPDATE … stock = stock - 1`)", markdown.Num(sl.AnsweredRate), markdown.Num(nl.AnsweredRate), markdown.Ratio(nl.AnsweredRate, sl.AnsweredRate))
		d.Row("purchase p50", markdown.Dur(sp.P50), markdown.Dur(np.P50), markdown.Ratio(float64(np.P50), float64(sp.P50)))
		d.Row("purchase p99", markdown.Dur(sp.P99), markdown.Dur(np.P99), markdown.Ratio(float64(np.P99), float64(sp.P99)))
		d.Row("purchase p99.9", markdown.Dur(sp.P999), markdown.Dur(np.P999), markdown.Ratio(float64(np.P999), float64(sp.P999)))
		d.Row("purchases with unexpected errors", errCell(sp), errCell(np), "")
		d.Row("naive baseline kept the schedule", "", yesNo(naive.KeptUp()), "")
	}
	if static != nil {
		st, _ := static.Op(scenario.OpReadStatic)
		for _, name := range []string{scenario.OpReadEdge, scenario.OpReadOrigin} {
			r, ok := sys.Op(name)
			if !ok || r.Count == 0 {
				continue
			}
			d.Row(name+" p50 vs the static server", markdown.Dur(r.P50), markdown.Dur(st.P50), markdown.Ratio(float64(st.P50), float64(r.P50)))
			d.Row(name+" p99 vs the static server", markdown.Dur(r.P99), markdown.Dur(st.P99), markdown.Ratio(float64(st.P99), float64(r.P99)))
		}
	}
	p("")
}

func renderSteps(d *markdown.Doc, o *Outcome) {
	p := d.Line
	t := o.Config.Targets
	p("## Capacity")
	p("")
	p("Each kind of load alone, its rate raised step by step. A step meets a target when the tool kept its schedule, unexpected errors stayed within %.1f%%, and the p99 of its slowest operation was under the bound; the search stops at the first step that misses the brief's.", 100*o.Config.MaxErrorRate)
	p("")
	d.Table("system", "load", "brief's p99 target met up to", "ours met up to", "stopped")
	for _, s := range o.Steps {
		brief, ours := t.BriefPurchaseP99, t.OursPurchaseP99
		if s.Kind == "stock reads" {
			brief, ours = t.BriefReadP99, t.OursReadP99
		}
		d.Row(s.Name, s.Kind, capCell(s.BriefCapacity)+" (p99 < "+markdown.Dur(brief)+")", capCell(s.OursCapacity)+" (p99 < "+markdown.Dur(ours)+")", markdown.Cell(s.Stopped))
	}
	ratios := func(kind, a, z string) {
		var x, y *Series
		for i := range o.Steps {
			if o.Steps[i].Kind == kind && o.Steps[i].Name == a {
				x = &o.Steps[i]
			}
			if o.Steps[i].Kind == kind && o.Steps[i].Name == z {
				y = &o.Steps[i]
			}
		}
		if x == nil || y == nil {
			return
		}
		p("- %s: the %s meets the brief's target up to %s, the %s up to %s (%s); ours up to %s against %s (%s).", kind,
			x.Name, capCell(x.BriefCapacity), y.Name, capCell(y.BriefCapacity), markdown.Ratio(x.BriefCapacity, y.BriefCapacity),
			capCell(x.OursCapacity), capCell(y.OursCapacity), markdown.Ratio(x.OursCapacity, y.OursCapacity))
	}
	p("")
	ratios("purchases", "system", "naive baseline")
	ratios("stock reads", "system", "static server")
	for _, s := range o.Steps {
		p("")
		p("### %s, %s", s.Name, s.Kind)
		p("")
		d.Table("requested/s", "answered/s", "slowest operation", "p50", "p99", "p99.9", "max", "unexpected errors", "on schedule", "CPU (cores)", "brief", "ours")
		for _, st := range s.Steps {
			var answered float64
			for _, l := range st.Phase.Loads {
				answered += l.AnsweredRate
			}
			cpu := 0.0
			for _, u := range st.Phase.CPU {
				cpu += u.Cores
			}
			w := st.Worst
			d.Row(markdown.Num(st.Rate), markdown.Num(answered), w.Name, markdown.Dur(w.P50), markdown.Dur(w.P99), markdown.Dur(w.P999), markdown.Dur(w.Max), errCell(w), yesNo(st.Phase.KeptUp()), fmt.Sprintf("%.2f", cpu), yesNo(st.MetBrief), yesNo(st.MetOurs))
		}
	}
	p("")
}

func capCell(rate float64) string {
	if rate <= 0 {
		return "none of the rates"
	}
	return markdown.Num(rate) + "/s"
}

func errCell(s opstats.Summary) string {
	if s.Unexpected == 0 {
		return "0"
	}
	return fmt.Sprintf("%s (%.2f%%)", markdown.Num(float64(s.Unexpected)), 100*s.ErrorRate())
}

func joinRates(r []float64) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = markdown.Num(v)
	}
	return strings.Join(parts, ", ")
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "**FAIL**"
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
