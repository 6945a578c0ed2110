package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"
)

// renderSummary is the report's Markdown.
func renderSummary(o *outcome, charts []string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	cfg := o.cfg
	kind := "standard scenario"
	if len(o.steps) > 0 {
		kind = "capacity search (--step)"
	}
	p("# Load test: %s", kind)
	p("")
	p("- **Verdict: %s**", strings.Trim(passFail(o.Pass()), "*"))
	p("- Run %s, started %s", o.plan.RunID, o.started.Format("2006-01-02 15:04 MST"))
	p("- Machine: %s; the load generator ran on the same cores as everything it measured", o.machine)
	p("- Open loop: every request has a due time on a fixed schedule, and its latency is measured from that due time, so a server that stalls the sender still pays for every request it delayed")
	p("")
	p("## Verdict")
	p("")
	p("| check | result | detail |")
	p("|---|---|---|")
	for _, c := range o.checks {
		p("| %s | %s | %s |", cell(c.Name), passFail(c.OK), cell(c.Detail))
	}
	for _, v := range o.verdicts {
		p("| invariants: %s | %s | %d checks against the database of record%s |", v.System, passFail(v.Pass()), len(v.Checks), map[bool]string{true: " and Redis", false: ""}[v.System == "system under test"])
	}
	p("")
	p("## Scenario")
	p("")
	p("- %d lives × %d products (%d hot each); %.0f%% of purchases and reads on hot products", cfg.Lives, cfg.SKUsPerLive, cfg.HotSKUsPerLive, 100*cfg.HotShare)
	p("- Purchases: %.0f/s %s; %.0f%% resend an earlier purchase with its idempotency key, %.0f%% come from %d greedy buyers who run into their limit of %d, %.0f%% go to one flash product with %d units that sells out",
		cfg.PurchaseRate, via(cfg), 100*cfg.RetryShare, 100*cfg.GreedyShare, greedyBuyers, perBuyerLimit, 100*cfg.FlashShare, o.plan.SKUs[o.plan.flash].Stock)
	p("- Stock reads: %.0f/s, %.0f%% through the edge and the rest straight from %d origins", cfg.ReadRate, 100*cfg.EdgeReadShare, len(cfg.OriginURLs))
	p("- Live pages: %d event streams, spread evenly over the lives, opened at %s", cfg.SSEClients, cfg.FeedURL)
	if len(o.steps) == 0 {
		p("- %s of load after a %s warm-up (the rates rise from a tenth over its first half); baselines %s after %s", cfg.Duration, cfg.Warmup, cfg.BaselineDuration, min(cfg.Warmup, 5*time.Second))
	} else {
		p("- Steps of %s each after %s of settling: purchases at %s/s, stock reads at %s/s", cfg.StepDuration, cfg.StepSettle, joinRates(cfg.StepRates), joinRates(cfg.StepReadRates))
	}
	p("- Tokens signed per buyer, a fresh idempotency key per purchase, X-Forwarded-For per buyer and per page (the origins and the feed limit requests per address)")
	p("")

	if len(o.phases) > 0 {
		renderStandard(&b, o)
	}
	if len(o.steps) > 0 {
		renderSteps(&b, o)
	}
	p("## Invariants")
	p("")
	for _, v := range o.verdicts {
		p("**%s: %s**", v.System, strings.Trim(passFail(v.Pass()), "*"))
		p("")
		p("| check | result | detail |")
		p("|---|---|---|")
		for _, c := range v.Checks {
			p("| %s | %s | %s |", cell(c.Name), passFail(c.OK), cell(c.Detail))
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
	p("- `logs/`: the services' logs (when run by scripts/bench.sh)")
	return b.String()
}

func renderStandard(b *strings.Builder, o *outcome) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("## Throughput")
	p("")
	p("Answered/s counts the answers that arrived within the measured window. Refused: operations the tool could not queue (every connection's queue full).")
	p("")
	p("| phase | load | requested/s | answered/s | handed over / due | refused | send delay p99 | on schedule |")
	p("|---|---|---|---|---|---|---|---|")
	for _, ph := range o.phases {
		for _, l := range ph.Loads {
			p("| %s | %s | %s | %s | %s / %s | %s | %s | %s |", ph.Name, l.Name, fmtNum(l.Requested), fmtNum(l.AnsweredRate), fmtNum(float64(l.Sent)), fmtNum(float64(l.Due)), fmtNum(float64(l.NotSent)), fmtDur(l.SendDelayP99), yesNo(l.KeptUp))
		}
	}
	p("")
	p("## Latency")
	p("")
	p("Latency counts from each request's due time; \"server p50/p99\" counts from its first byte on the wire, so the difference is time spent waiting for a connection in the tool.")
	p("")
	p("| phase | operation | answered | p50 | p90 | p99 | p99.9 | max | server p50 / p99 | unexpected errors |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, ph := range o.phases {
		for _, op := range ph.Ops {
			if op.Count == 0 {
				continue
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |", ph.Name, op.Name, fmtNum(float64(op.Answered)), fmtDur(op.P50), fmtDur(op.P90), fmtDur(op.P99), fmtDur(op.P999), fmtDur(op.Max), fmtDur(op.ServiceP50), fmtDur(op.ServiceP99), errCell(op))
		}
		if f := ph.Feed; f != nil && f.Lag.Count > 0 {
			l := f.Lag
			p("| %s | %s: change admitted to the live page | %s | %s | %s | %s | %s | %s | | |", ph.Name, opEvent, fmtNum(float64(l.Count)), fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.Max))
		}
	}
	p("")
	p("## Outcomes by code")
	p("")
	p("| phase | operation | outcomes |")
	p("|---|---|---|")
	for _, ph := range o.phases {
		for _, op := range ph.Ops {
			if op.Count == 0 {
				continue
			}
			var parts []string
			for _, c := range op.SortedCodes() {
				parts = append(parts, fmt.Sprintf("%s %s", c, fmtNum(float64(op.Codes[c]))))
			}
			p("| %s | %s | %s |", ph.Name, op.Name, cell(strings.Join(parts, ", ")))
		}
	}
	p("")
	if f := o.phases[0].Feed; f != nil {
		p("## Live pages")
		p("")
		p("- %d of %d streams opened; %d ended on the last version of every product of their live within 10 s of the end", f.Connected, f.Viewers, f.Converged)
		p("- %s stock events read, %d out of order, %d unreadable, %d fresh snapshots after a reconnect, %d reconnects", fmtNum(float64(f.Events)), f.Reordered, f.Malformed, f.Resnapshots, f.Reconnects)
		p("- Lag runs from the change's `updated_at` (when Redis admitted the purchase, before the order's commit, so an upper bound on commit-to-page) to the moment a page read the event, over the measured window, same clock; %s events read before their `updated_at` (millisecond rounding) count as 0",
			fmtNum(float64(f.Early)))
		for _, e := range f.FirstErrors {
			p("- %s", cell(e))
		}
		p("")
	}
	renderCPU(b, o.phases)
	renderBaselines(b, o)
}

func via(cfg Config) string {
	if cfg.PurchaseVia == "origins" {
		return fmt.Sprintf("straight to the %d origins, round robin (the load balancer's part; the local edge only passes purchases through)", len(cfg.OriginURLs))
	}
	return "through the edge"
}

// renderCPU shows where the machine's CPU went in each phase: on a small
// machine shared with the load generator, that explains the latencies.
func renderCPU(b *strings.Builder, phases []phaseResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
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
	p("| phase | total | busiest processes |")
	p("|---|---|---|")
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
		p("| %s | %.2f | %s |", ph.Name, total, cell(strings.Join(parts, ", ")))
	}
	p("")
}

// renderBaselines compares the system with the naive design and with the
// static server, measured in the same run under the same load.
func renderBaselines(b *strings.Builder, o *outcome) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	var sys, naive, static *phaseResult
	for i := range o.phases {
		switch o.phases[i].Name {
		case "system":
			sys = &o.phases[i]
		case "naive baseline":
			naive = &o.phases[i]
		case "static baseline":
			static = &o.phases[i]
		}
	}
	if sys == nil || (naive == nil && static == nil) {
		return
	}
	p("## Baselines")
	p("")
	p("Same run, same machine, same rates. The system ran with all of its load at once; each baseline ran alone afterwards, with the machine to itself, so the ratios flatter the baselines.")
	p("")
	p("| measure | system | baseline | baseline ÷ system |")
	p("|---|---|---|---|")
	sp, _ := sys.op(opPurchase)
	if naive != nil {
		np, _ := naive.op(opPurchase)
		nl := loadNamed(*naive, "purchases")
		sl := loadNamed(*sys, "purchases")
		p("| purchases answered/s (naive MySQL `UPDATE … stock = stock - 1`) | %s | %s | %s |", fmtNum(sl.AnsweredRate), fmtNum(nl.AnsweredRate), ratio(nl.AnsweredRate, sl.AnsweredRate))
		p("| purchase p50 | %s | %s | %s |", fmtDur(sp.P50), fmtDur(np.P50), ratio(float64(np.P50), float64(sp.P50)))
		p("| purchase p99 | %s | %s | %s |", fmtDur(sp.P99), fmtDur(np.P99), ratio(float64(np.P99), float64(sp.P99)))
		p("| purchase p99.9 | %s | %s | %s |", fmtDur(sp.P999), fmtDur(np.P999), ratio(float64(np.P999), float64(sp.P999)))
		p("| purchases with unexpected errors | %s | %s | |", errCell(sp), errCell(np))
		p("| naive baseline kept the schedule | | %s | |", yesNo(naive.keptUp()))
	}
	if static != nil {
		st, _ := static.op(opReadStatic)
		for _, name := range []string{opReadEdge, opReadOrigin} {
			r, ok := sys.op(name)
			if !ok || r.Count == 0 {
				continue
			}
			p("| %s p50 vs the static server | %s | %s | %s |", name, fmtDur(r.P50), fmtDur(st.P50), ratio(float64(st.P50), float64(r.P50)))
			p("| %s p99 vs the static server | %s | %s | %s |", name, fmtDur(r.P99), fmtDur(st.P99), ratio(float64(st.P99), float64(r.P99)))
		}
	}
	p("")
}

func loadNamed(ph phaseResult, name string) loadResult {
	for _, l := range ph.Loads {
		if l.Name == name {
			return l
		}
	}
	return loadResult{}
}

func renderSteps(b *strings.Builder, o *outcome) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	t := o.cfg.Targets
	p("## Capacity")
	p("")
	p("Each kind of load alone, its rate raised step by step. A step meets a target when the tool kept its schedule, unexpected errors stayed within %.1f%%, and the p99 of its slowest operation was under the bound; the search stops at the first step that misses the brief's.", 100*o.cfg.MaxErrorRate)
	p("")
	p("| system | load | brief's p99 target met up to | ours met up to | stopped |")
	p("|---|---|---|---|---|")
	for _, s := range o.steps {
		brief, ours := t.BriefPurchaseP99, t.OursPurchaseP99
		if s.Kind == "stock reads" {
			brief, ours = t.BriefReadP99, t.OursReadP99
		}
		p("| %s | %s | %s (p99 < %s) | %s (p99 < %s) | %s |", s.Name, s.Kind, capCell(s.BriefCapacity), fmtDur(brief), capCell(s.OursCapacity), fmtDur(ours), cell(s.Stopped))
	}
	ratios := func(kind, a, z string) {
		var x, y *stepSeries
		for i := range o.steps {
			if o.steps[i].Kind == kind && o.steps[i].Name == a {
				x = &o.steps[i]
			}
			if o.steps[i].Kind == kind && o.steps[i].Name == z {
				y = &o.steps[i]
			}
		}
		if x == nil || y == nil {
			return
		}
		p("- %s: the %s meets the brief's target up to %s, the %s up to %s (%s); ours up to %s against %s (%s).", kind,
			x.Name, capCell(x.BriefCapacity), y.Name, capCell(y.BriefCapacity), ratio(x.BriefCapacity, y.BriefCapacity),
			capCell(x.OursCapacity), capCell(y.OursCapacity), ratio(x.OursCapacity, y.OursCapacity))
	}
	p("")
	ratios("purchases", "system", "naive baseline")
	ratios("stock reads", "system", "static server")
	for _, s := range o.steps {
		p("")
		p("### %s, %s", s.Name, s.Kind)
		p("")
		p("| requested/s | answered/s | slowest operation | p50 | p99 | p99.9 | max | unexpected errors | on schedule | CPU (cores) | brief | ours |")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|")
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
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s |", fmtNum(st.Rate), fmtNum(answered), w.Name, fmtDur(w.P50), fmtDur(w.P99), fmtDur(w.P999), fmtDur(w.Max), errCell(w), yesNo(st.Phase.keptUp()), cpu, yesNo(st.MetBrief), yesNo(st.MetOurs))
		}
	}
	p("")
}

func capCell(rate float64) string {
	if rate <= 0 {
		return "none of the rates"
	}
	return fmtNum(rate) + "/s"
}

func errCell(s summary) string {
	if s.Unexpected == 0 {
		return "0"
	}
	return fmt.Sprintf("%s (%.2f%%)", fmtNum(float64(s.Unexpected)), 100*s.ErrorRate())
}

func joinRates(r []float64) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = fmtNum(v)
	}
	return strings.Join(parts, ", ")
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.NewReplacer("|", "\\|", "\r", " ", "\n", " ").Replace(s)
	if len(s) > 300 {
		i := 300
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}
