package loadreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"livecommerce/loadtest/audience"
	"livecommerce/loadtest/cpucost"
	"livecommerce/loadtest/floor"
	"livecommerce/loadtest/latencychart"
	"livecommerce/loadtest/markdown"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/procstat"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/verdict"
)

// Write writes the report folder: summary.md, results.json, the raw
// histograms and the latency chart. It returns the Markdown summary.
func Write(o *Outcome, dir string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "histograms"), 0o755); err != nil {
		return "", fmt.Errorf("report folder: %w", err)
	}
	for _, ph := range o.allPhases() {
		for _, op := range ph.Ops {
			if op.Answered == 0 {
				continue
			}
			name := filepath.Join("histograms", FileName(ph.Name+" "+op.Name)+".hgrm")
			if err := writeHistogram(filepath.Join(dir, name), op); err != nil {
				return "", err
			}
		}
		if ph.Feed != nil && ph.Feed.Lag.Answered > 0 {
			name := filepath.Join("histograms", FileName(ph.Name+" "+scenario.OpEvent)+".hgrm")
			if err := writeHistogram(filepath.Join(dir, name), ph.Feed.Lag); err != nil {
				return "", err
			}
		}
	}
	charts, err := writeCharts(dir, o)
	if err != nil {
		return "", err
	}
	if err := writeJSON(filepath.Join(dir, "results.json"), o); err != nil {
		return "", err
	}
	md := renderSummary(o, charts)
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(md), 0o644); err != nil {
		return "", fmt.Errorf("write summary: %w", err)
	}
	return md, nil
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// FileName turns a phase's or an operation's name into a file name's
// part: lower case, runs of anything but a-z and 0-9 as one dash.
func FileName(s string) string {
	return strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// writeHistogram writes HdrHistogram's percentile distribution text
// (.hgrm), in milliseconds: the format HdrHistogram's plotter reads.
func writeHistogram(path string, s opstats.Summary) error {
	var buf bytes.Buffer
	if _, err := s.Hist.PercentilesPrint(&buf, 5, 1000); err != nil {
		return fmt.Errorf("histogram %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write histogram: %w", err)
	}
	return nil
}

// writeCharts draws p50 and p99 per second of every operation of the
// standard run, or, for a capacity search, the judged p99 of every step,
// one chart per kind of load. It returns the files' names.
func writeCharts(dir string, o *Outcome) ([]string, error) {
	var charts []struct {
		file string
		c    latencychart.Chart
	}
	t := o.Config.Targets
	if len(o.Steps) > 0 {
		for _, kind := range []string{"purchases", "stock reads"} {
			c := latencychart.Chart{Title: "Capacity search, " + kind + ": p99 (solid) and p50 (dashed) per second; each band is one step's settling"}
			for _, s := range o.Steps {
				if s.Kind != kind {
					continue
				}
				p99 := latencychart.Series{Name: s.Name + " p99"}
				p50 := latencychart.Series{Name: s.Name + " p50", Dashed: true}
				offset := 0.0
				for _, st := range s.Steps {
					for i := range st.Worst.SeriesP99 {
						p99.Points = append(p99.Points, latencychart.Point{T: offset + float64(i), V: st.Worst.SeriesP99[i]})
						p50.Points = append(p50.Points, latencychart.Point{T: offset + float64(i), V: st.Worst.SeriesP50[i]})
					}
					if !s.Baseline {
						c.Bands = append(c.Bands, latencychart.Band{From: offset, To: offset + o.Config.StepSettle.Seconds(), Label: markdown.Num(st.Rate) + "/s"})
					}
					offset += float64(len(st.Worst.SeriesP99))
				}
				c.Series = append(c.Series, p99, p50)
			}
			if len(c.Series) == 0 {
				continue
			}
			brief, ours := t.BriefPurchaseP99, t.OursPurchaseP99
			if kind == "stock reads" {
				brief, ours = t.BriefReadP99, t.OursReadP99
			}
			c.Lines = []latencychart.Line{
				{V: ms(brief), Label: "brief: p99 " + markdown.Dur(brief)},
				{V: ms(ours), Label: "ours: p99 " + markdown.Dur(ours)},
			}
			charts = append(charts, struct {
				file string
				c    latencychart.Chart
			}{"capacity-" + FileName(kind) + ".svg", c})
		}
	} else if len(o.Phases) > 0 {
		c := latencychart.Chart{Title: "Latency over time (p99 solid, p50 dashed; measured from each request's due time)"}
		sys := o.Phases[0]
		for _, op := range sys.Ops {
			if op.Answered == 0 {
				continue
			}
			p99 := latencychart.Series{Name: op.Name + " p99"}
			p50 := latencychart.Series{Name: op.Name + " p50", Dashed: true}
			for i := range op.SeriesP99 {
				p99.Points = append(p99.Points, latencychart.Point{T: float64(i), V: op.SeriesP99[i]})
				p50.Points = append(p50.Points, latencychart.Point{T: float64(i), V: op.SeriesP50[i]})
			}
			c.Series = append(c.Series, p99, p50)
		}
		if sys.Warmup > 0 {
			c.Bands = []latencychart.Band{{From: 0, To: sys.Warmup.Seconds(), Label: "warm-up"}}
		}
		c.Lines = []latencychart.Line{
			{V: ms(t.OursPurchaseP99), Label: "ours: purchase p99 " + markdown.Dur(t.OursPurchaseP99)},
			{V: ms(t.OursReadP99), Label: "ours: read p99 " + markdown.Dur(t.OursReadP99)},
		}
		charts = append(charts, struct {
			file string
			c    latencychart.Chart
		}{"latency.svg", c})
	}
	var names []string
	for _, ch := range charts {
		f, err := os.Create(filepath.Join(dir, ch.file))
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		if err := ch.c.WriteSVG(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("chart: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		names = append(names, ch.file)
	}
	return names, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeJSON writes the figures for tools: everything in the summary but
// the histograms, which have their own files.
func writeJSON(path string, o *Outcome) error {
	type opJSON struct {
		Name                        string
		Count, Answered, Unexpected int64
		P50ms, P90ms, P99ms, P999ms float64
		Maxms                       float64
		Codes                       map[string]int64
	}
	conv := func(s opstats.Summary) opJSON {
		return opJSON{Name: s.Name, Count: s.Count, Answered: s.Answered, Unexpected: s.Unexpected, P50ms: ms(s.P50), P90ms: ms(s.P90), P99ms: ms(s.P99), P999ms: ms(s.P999), Maxms: ms(s.Max), Codes: s.Codes}
	}
	type phaseJSON struct {
		Name             string
		Target           cpucost.Target
		Warmup, Duration string
		Loads            []Load
		Ops              []opJSON
		Feed             *audience.Stats `json:",omitempty"`
		CPU              []procstat.Group
		CPUPerOperation  *costJSON `json:",omitempty"`
		Profiles         []Profile `json:",omitempty"`
	}
	viaEdge := o.Config.PurchaseVia == "edge"
	conph := func(p Phase) phaseJSON {
		pj := phaseJSON{Name: p.Name, Target: p.Target, Warmup: p.Warmup.String(), Duration: p.Duration.String(), Loads: p.Loads, CPU: p.CPU, Profiles: p.Profiles}
		if t := p.Cost(viaEdge); len(t.Lines) > 0 {
			pj.CPUPerOperation = toCostJSON(t)
		}
		for _, op := range p.Ops {
			pj.Ops = append(pj.Ops, conv(op))
		}
		if p.Feed != nil {
			f := *p.Feed
			f.Lag = opstats.Summary{}
			pj.Feed = &f
		}
		return pj
	}
	type stepJSON struct {
		Rate              float64
		MetBrief, MetOurs bool
		Phase             phaseJSON
	}
	type seriesJSON struct {
		Name, Kind, Stopped         string
		BriefCapacity, OursCapacity float64
		Steps                       []stepJSON
	}
	out := struct {
		Started  time.Time
		Machine  string
		Pass     bool
		Checks   []verdict.Check
		Verdicts []verdict.Checklist
		Floor    *floorJSON `json:",omitempty"`
		Phases   []phaseJSON
		Steps    []seriesJSON
	}{Started: o.Started, Machine: o.Machine, Pass: o.Pass(), Checks: o.Checks, Verdicts: o.Verdicts, Floor: toFloorJSON(o)}
	for _, p := range o.Phases {
		out.Phases = append(out.Phases, conph(p))
	}
	for _, s := range o.Steps {
		sj := seriesJSON{Name: s.Name, Kind: s.Kind, Stopped: s.Stopped, BriefCapacity: s.BriefCapacity, OursCapacity: s.OursCapacity}
		for _, st := range s.Steps {
			sj.Steps = append(sj.Steps, stepJSON{Rate: st.Rate, MetBrief: st.MetBrief, MetOurs: st.MetOurs, Phase: conph(st.Phase)})
		}
		out.Steps = append(out.Steps, sj)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// costJSON is a phase's CPU per operation for tools, in µs.
type costJSON struct {
	WindowSeconds float64
	Groups        []groupJSON
	Operations    []costLineJSON
}

type groupJSON struct {
	Group  string
	Member bool // one of the measured system's processes
	Cores  float64
	Procs  []string
}

type costLineJSON struct {
	Kind cpucost.Kind
	// Count is the operations answered in the window.
	Count int64
	// MicrosByGroup is CPU per operation by group; a group in Bound
	// served other kinds too, and its figure is an upper bound.
	MicrosByGroup    map[string]float64
	Bound            []string `json:",omitempty"`
	SystemLowMicros  float64
	SystemHighMicros float64
	MachineMicros    float64
	MachineBound     bool
}

func toCostJSON(t cpucost.Table) *costJSON {
	cj := &costJSON{WindowSeconds: t.Window.Seconds()}
	members := cpucost.Members(t.Target)
	for _, u := range t.Usage {
		cj.Groups = append(cj.Groups, groupJSON{Group: u.Group, Member: slices.Contains(members, u.Group), Cores: u.Cores, Procs: u.Procs})
	}
	for _, l := range t.Lines {
		lj := costLineJSON{Kind: l.Kind, Count: l.Count, MicrosByGroup: map[string]float64{}, SystemLowMicros: l.SystemLow, SystemHighMicros: l.SystemHigh,
			MachineMicros: l.Machine.Micros, MachineBound: l.Machine.Bound}
		for g, c := range l.Groups {
			lj.MicrosByGroup[g] = c.Micros
			if c.Bound {
				lj.Bound = append(lj.Bound, g)
			}
		}
		slices.Sort(lj.Bound)
		cj.Operations = append(cj.Operations, lj)
	}
	return cj
}

// floorJSON is the machine's floor for tools, in µs.
type floorJSON struct {
	EachSeconds float64
	Probes      []probeJSON
	// The least a purchase and a stock read can cost (absent when a probe
	// it needs is missing), and every phase's operations against it.
	Purchase, Read *floorCostJSON `json:",omitempty"`
	Phases         []floorLine
}

type probeJSON struct {
	Name, Detail, ServerGroup string
	Ops                       int64
	P50Micros, P99Micros      float64
	ClientCPUMicros           float64
	ServerCPUMicros           *float64 // absent when the server could not be told apart
	MachineCPUMicros          float64
	Err                       string `json:",omitempty"`
}

type floorCostJSON struct{ CPUMicros, LatencyMicros float64 }

func toFloorJSON(o *Outcome) *floorJSON {
	f := o.Floor
	if f == nil {
		return nil
	}
	fj := &floorJSON{EachSeconds: f.Each.Seconds()}
	for _, p := range []floor.Probe{f.HTTP, f.Script, f.Commit} {
		pj := probeJSON{Name: p.Name, Detail: p.Detail, ServerGroup: p.ServerGroup, Ops: p.Ops, P50Micros: durMicros(p.P50), P99Micros: durMicros(p.P99),
			ClientCPUMicros: durMicros(p.ClientCPU), MachineCPUMicros: durMicros(p.MachineCPU), Err: p.Err}
		if p.ServerSeen {
			v := durMicros(p.ServerCPU)
			pj.ServerCPUMicros = &v
		}
		fj.Probes = append(fj.Probes, pj)
	}
	if c, l, ok := f.Cost(cpucost.Purchase); ok {
		fj.Purchase = &floorCostJSON{durMicros(c), durMicros(l)}
	}
	if c, l, ok := f.Cost(cpucost.Read); ok {
		fj.Read = &floorCostJSON{durMicros(c), durMicros(l)}
	}
	for _, l := range floorLines(o) {
		// JSON has no NaN: a figure that could not be had is 0.
		for _, v := range []*float64{&l.CPULowMicros, &l.CPUHighMicros, &l.CPUTimesLow, &l.CPUTimesHigh, &l.LatencyTimes} {
			if math.IsNaN(*v) || math.IsInf(*v, 0) {
				*v = 0
			}
		}
		fj.Phases = append(fj.Phases, l)
	}
	return fj
}
