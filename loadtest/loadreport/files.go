package loadreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"livecommerce/loadtest/audience"
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
			name := filepath.Join("histograms", fileName(ph.Name+" "+op.Name)+".hgrm")
			if err := writeHistogram(filepath.Join(dir, name), op); err != nil {
				return "", err
			}
		}
		if ph.Feed != nil && ph.Feed.Lag.Answered > 0 {
			name := filepath.Join("histograms", fileName(ph.Name+" "+scenario.OpEvent)+".hgrm")
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

func fileName(s string) string {
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
			}{"capacity-" + fileName(kind) + ".svg", c})
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
		Warmup, Duration string
		Loads            []Load
		Ops              []opJSON
		Feed             *audience.Stats `json:",omitempty"`
		CPU              []procstat.Group
	}
	conph := func(p Phase) phaseJSON {
		pj := phaseJSON{Name: p.Name, Warmup: p.Warmup.String(), Duration: p.Duration.String(), Loads: p.Loads, CPU: p.CPU}
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
		Phases   []phaseJSON
		Steps    []seriesJSON
	}{Started: o.Started, Machine: o.Machine, Pass: o.Pass(), Checks: o.Checks, Verdicts: o.Verdicts}
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
