package loadreport

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"livecommerce/loadtest/audience"
	"livecommerce/loadtest/cpucost"
	"livecommerce/loadtest/floor"
	"livecommerce/loadtest/markdown"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/procstat"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/shoppers"
	"livecommerce/loadtest/verdict"
)

// hostile is a detail a check may carry from what a server answered.
const hostile = "a|b\nc"

// sampleSummary records n operations of name, due every 10 ms from start,
// the first warm of them in the warm-up, taking 1 to 20 ms; one in
// fifty ends with code.
func sampleSummary(name string, start, measure time.Time, n int, code string, expected ...string) opstats.Summary {
	s := opstats.New(name, start, measure, time.Time{}, expected...)
	for i := range n {
		due := start.Add(time.Duration(i) * 10 * time.Millisecond)
		c := opstats.CodeOK
		if i%50 == 0 && code != "" {
			c = code
		}
		s.Record(due, due.Add(time.Duration(1+i%20)*time.Millisecond), c)
	}
	return s.Summary()
}

// sampleOutcome is a standard run's outcome, hostile strings included,
// as loadrun.Run would return it.
func sampleOutcome(t *testing.T) *Outcome {
	t.Helper()
	cfg := defaultConfig(t)
	cfg.Lives, cfg.SKUsPerLive = 2, 3
	plan := scenario.NewPlan(&cfg, "bSUMMARY")
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	measure := start.Add(2 * time.Second)
	purchase := sampleSummary(scenario.OpPurchase, start, measure, 500, "sold_out", shoppers.ExpectedRefusals()...)
	resent := sampleSummary(scenario.OpPurchaseResent, start, measure, 0, "")
	edge := sampleSummary(scenario.OpReadEdge, start, measure, 400, opstats.CodeTimeout)
	origin := sampleSummary(scenario.OpReadOrigin, start, measure, 400, "")
	lag := sampleSummary(scenario.OpEvent, start, measure, 300, "")
	loads := []Load{
		{Name: "purchases", Requested: 100, Due: 500, Sent: 500, Answered: purchase.Answered, AnsweredRate: 100, SendDelayP99: time.Millisecond, KeptUp: true},
		{Name: "stock reads", Requested: 1000, Due: 5000, Sent: 4990, Skipped: 10, Answered: 4900, AnsweredRate: 980, SendDelayP99: 20 * time.Millisecond},
	}
	sys := Phase{
		Name: "system", Target: cpucost.System, Start: start, Warmup: 2 * time.Second, Duration: 3 * time.Second,
		Loads: loads, Ops: []opstats.Summary{purchase, resent, edge, origin},
		Feed: &audience.Stats{
			Viewers: 10, Connected: 9, ConnectFailed: 1, Converged: 9, Events: 1234, Reordered: 1, Malformed: 2,
			Lag: lag, Early: 3,
			FirstErrors: []string{"viewer 3: " + hostile, "connect: " + strings.Repeat("x|", 400)},
		},
		CPU: []procstat.Group{{Name: "redis-server", Procs: 1, Cores: 0.8}, {Name: "evil|proc\nname", Procs: 2, Cores: 0.1}, {Name: "stockfeed", Procs: 1, Cores: 0.3}},
		Profiles: []Profile{
			{Service: "origin-1", File: "profiles/system-origin-1.pb.gz", Seconds: 3, Bytes: 1234},
			{Service: "stockfeed", Seconds: 3, Err: "CPU profile from http://127.0.0.1:1: " + hostile},
		},
	}
	naive := Phase{
		Name: "naive baseline", Target: cpucost.Naive, Start: start, Warmup: time.Second, Duration: time.Second,
		Loads: loads[:1], Ops: []opstats.Summary{sampleSummary(scenario.OpPurchase, start, start.Add(time.Second), 200, "http_500", shoppers.ExpectedRefusals()...)},
	}
	static := Phase{
		Name: "static baseline", Target: cpucost.Static, Start: start, Warmup: time.Second, Duration: time.Second,
		Loads: loads[1:], Ops: []opstats.Summary{sampleSummary(scenario.OpReadStatic, start, start.Add(time.Second), 200, "")},
	}
	naive.CPU = []procstat.Group{{Name: "naive-origin", Procs: 1, Cores: 0.4}, {Name: "mariadbd", Procs: 1, Cores: 0.2}, {Name: "origin", Procs: 2, Cores: 0.01}}
	us := time.Microsecond
	fl := &floor.Floor{
		Each:   600 * time.Millisecond,
		HTTP:   floor.Probe{Name: "HTTP request and answer", Detail: "GET", Ops: 9000, P50: 55 * us, P99: 120 * us, ClientCPU: 20 * us, ServerGroup: cpucost.StaticServer, ServerCPU: 25 * us, ServerSeen: true, MachineCPU: 60 * us},
		Script: floor.Probe{Name: "Redis EVALSHA", Detail: "EVALSHA", Ops: 12000, P50: 40 * us, P99: 90 * us, ClientCPU: 10 * us, ServerGroup: cpucost.Redis, ServerCPU: 8 * us, ServerSeen: true, MachineCPU: 30 * us},
		Commit: floor.Probe{Name: "durable commit", ServerGroup: cpucost.MariaDB, Err: "create the scratch table: " + hostile},
	}
	return &Outcome{
		Config: cfg, Plan: plan, Machine: "2 × Test CPU, 4 GiB", Started: start, Floor: fl,
		Phases: []Phase{sys, naive, static},
		Verdicts: []verdict.Checklist{
			{System: "system under test", Checks: []verdict.Check{{Name: "nothing below zero", OK: true, Detail: "ok"}, {Name: "every 201 is a stored order", OK: false, Detail: hostile}}},
			{System: "naive baseline", Checks: []verdict.Check{{Name: "units sold = order rows' units", OK: true, Detail: "6 skus"}}},
		},
		Checks: []verdict.Check{
			{Name: "sent at the requested rate: stock reads", OK: false, Detail: "4990 of 5000 sent"},
			{Name: "hostile " + hostile, OK: true, Detail: "x\r\ny|z"},
		},
	}
}

// sampleCapacityOutcome is a capacity search's outcome.
func sampleCapacityOutcome(t *testing.T) *Outcome {
	t.Helper()
	o := sampleOutcome(t)
	us := time.Microsecond
	start := o.Started
	stepOf := func(rate float64, name string, met bool) Step {
		w := sampleSummary(name, start, start.Add(o.Config.StepSettle), 800, "")
		ph := Phase{
			Name: "step " + markdown.Num(rate), Start: start, Warmup: o.Config.StepSettle, Duration: 5 * time.Second,
			Loads: []Load{{Name: map[bool]string{true: "purchases", false: "stock reads"}[name == scenario.OpPurchase], Requested: rate, Due: 800, Sent: 800, Answered: w.Answered, AnsweredRate: rate, KeptUp: true}},
			Ops:   []opstats.Summary{w}, CPU: []procstat.Group{{Name: "origin", Procs: 2, Cores: 1.5}},
		}
		return Step{Rate: rate, Phase: ph, Worst: w, MetBrief: met, MetOurs: met}
	}
	o.Phases = nil
	o.Steps = []Series{
		{Name: "system", Kind: "purchases", Steps: []Step{stepOf(500, scenario.OpPurchase, true), stepOf(1000, scenario.OpPurchase, false)}, BriefCapacity: 500, OursCapacity: 500, Stopped: "at 1,000/s: " + hostile},
		{Name: "naive baseline", Kind: "purchases", Baseline: true, Steps: []Step{stepOf(500, scenario.OpPurchase, false)}, Stopped: "at 500/s: purchase p99 400 ms"},
		{Name: "system", Kind: "stock reads", Steps: []Step{stepOf(2500, scenario.OpReadEdge, true)}, BriefCapacity: 2500, OursCapacity: 2500, Stopped: "the last rate was reached"},
		{Name: "static server", Kind: "stock reads", Baseline: true, Steps: []Step{stepOf(2500, scenario.OpReadStatic, true)}, BriefCapacity: 2500, OursCapacity: 2500, Stopped: "the last rate was reached"},
	}
	for i := range o.Steps {
		for j := range o.Steps[i].Steps {
			o.Steps[i].Steps[j].Phase.Target = map[string]cpucost.Target{"system": cpucost.System, "naive baseline": cpucost.Naive, "static server": cpucost.Static}[o.Steps[i].Name]
		}
	}
	o.Floor.Commit = floor.Probe{Name: "durable commit", Detail: "INSERT", Ops: 800, P50: 700 * us, P99: 2 * time.Millisecond, ClientCPU: 12 * us, ServerGroup: cpucost.MariaDB, ServerCPU: 50 * us, ServerSeen: true, MachineCPU: 90 * us}
	o.Checks = []verdict.Check{{Name: "capacity found: system, purchases", OK: true, Detail: hostile}}
	return o
}

var unescapedPipe = regexp.MustCompile(`(^|[^\\])\|`)

// checkTables fails on any Markdown table row with another number of
// cells than its header, or that does not end its line: a raw line break
// or pipe from a hostile string would do either.
func checkTables(t *testing.T, md string) {
	t.Helper()
	header := -1
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = -1
			continue
		}
		// A pipe right after an escaped one would hide from one match.
		n := len(unescapedPipe.FindAllString(strings.ReplaceAll(line, "||", "| |"), -1))
		if header < 0 {
			header = n
		}
		if n != header || !strings.HasSuffix(line, "|") {
			t.Errorf("line %d: %d cell borders, the table's header has %d:\n%s", i+1, n, header, line)
		}
	}
}

func TestRenderSummaryStandard(t *testing.T) {
	o := sampleOutcome(t)
	md := renderSummary(o, []string{"latency.svg"})
	for _, want := range []string{
		"# Load test: standard scenario",
		"- **Verdict: FAIL**",
		"Run bSUMMARY",
		"2 × Test CPU, 4 GiB",
		`a\|b c`,
		"## Throughput", "## Latency", "## Outcomes by code", "## Live pages", "## CPU", "## Baselines", "## Invariants",
		"`latency.svg`",
		// Redis: 0.8 core over 3 s, shared by 300 purchases and 4,900 reads.
		"## CPU per operation", "| system | stock read | 4,900 | | ≤ 490 | | | **≤ 490** |", "| system | purchase | 300 | | ≤ 8,000 |",
		// The stockfeed's 0.3 core over 3 s, for the 100 events the pages read in the window.
		"| system | event | 100 | 9,000 | | | | **9,000** |",
		// The naive origin and MariaDB: 0.6 core over 1 s for 300 purchases.
		"| naive baseline | purchase | 300 | | | 667 | 1,333 | **2,000** | | 33 |",
		"Groups: origins = origin; stockfeed = stockfeed;",
		"## Physical floor", "create the scratch table: a\\|b c", "- a stock read, one HTTP exchange: 25 µs of CPU, 55 µs",
		"## CPU profiles", "`go tool pprof -top profiles/system-origin-1.pb.gz`", "| stockfeed | 3 | not taken |",
		"`profiles/*.pb.gz`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(md, hostile) {
		t.Error("summary holds the hostile string as it came")
	}
	if strings.Contains(md, "## Capacity") {
		t.Error("a standard run's summary has a capacity section")
	}
	checkTables(t, md)

	for i := range o.Checks {
		o.Checks[i].OK = true
	}
	for i := range o.Verdicts {
		for j := range o.Verdicts[i].Checks {
			o.Verdicts[i].Checks[j].OK = true
		}
	}
	if md := renderSummary(o, nil); !strings.Contains(md, "- **Verdict: PASS**") {
		t.Error("every check passed, but the summary does not say PASS")
	}
}

func TestRenderSummaryCapacity(t *testing.T) {
	o := sampleCapacityOutcome(t)
	md := renderSummary(o, []string{"capacity-purchases.svg"})
	for _, want := range []string{"# Load test: capacity search", "## Capacity", "- **Verdict: FAIL**", `a\|b c`, "500/s",
		// 1.5 cores of origins over 5 s for 500 purchases: exact, each kind alone.
		"## CPU per operation", "| step 500 | purchase | 500 | 15,000 | **15,000** |",
		// HTTP 25 + EVALSHA 10 + 8 + commit 12 + 50.
		"- a purchase, one HTTP exchange, one EVALSHA and one commit: 105 µs of CPU, 795 µs", "| step 500 | purchase | 15,000 | 105 | **143×** |",
		"| step 2,500 | read via edge | 15,000 | 25 | **600×** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(md, hostile) {
		t.Error("summary holds the hostile string as it came")
	}
	checkTables(t, md)
}

// readXML fails unless path holds well-formed XML.
func readXML(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
}

var totalCount = regexp.MustCompile(`Total count\s*=\s*(\d+)`)

// checkReport checks the folder Write wrote for o.
func checkReport(t *testing.T, o *Outcome, dir, md string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil || string(b) != md {
		t.Errorf("summary.md: got %d bytes (%v), want the summary returned", len(b), err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results struct {
		Pass   bool
		Checks []verdict.Check
		Phases []json.RawMessage
		Steps  []json.RawMessage
	}
	if err := json.Unmarshal(b, &results); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if results.Pass != o.Pass() || len(results.Checks) != len(o.Checks) || len(results.Phases) != len(o.Phases) || len(results.Steps) != len(o.Steps) {
		t.Errorf("results.json: got pass %v, %d checks, %d phases, %d series; want %v, %d, %d, %d",
			results.Pass, len(results.Checks), len(results.Phases), len(results.Steps), o.Pass(), len(o.Checks), len(o.Phases), len(o.Steps))
	}
	svgs, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	if len(svgs) == 0 {
		t.Error("no chart written")
	}
	for _, svg := range svgs {
		readXML(t, svg)
	}
	want := map[string]int64{}
	for _, ph := range o.allPhases() {
		for _, op := range ph.Ops {
			if op.Answered > 0 {
				want[FileName(ph.Name+" "+op.Name)+".hgrm"] = op.Answered
			}
		}
		if ph.Feed != nil && ph.Feed.Lag.Answered > 0 {
			want[FileName(ph.Name+" "+scenario.OpEvent)+".hgrm"] = ph.Feed.Lag.Answered
		}
	}
	hists, _ := filepath.Glob(filepath.Join(dir, "histograms", "*.hgrm"))
	if len(hists) != len(want) {
		t.Errorf("histograms: got %d files, want %d", len(hists), len(want))
	}
	for name, count := range want {
		b, err := os.ReadFile(filepath.Join(dir, "histograms", name))
		if err != nil {
			t.Errorf("histogram: %v", err)
			continue
		}
		m := totalCount.FindSubmatch(b)
		if m == nil || string(m[1]) != strconv.FormatInt(count, 10) {
			t.Errorf("%s: got total count %q, want %d", name, m, count)
		}
	}
}

func TestWriteReportStandard(t *testing.T) {
	o := sampleOutcome(t)
	dir := t.TempDir()
	md, err := Write(o, dir)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "latency.svg")); err != nil {
		t.Errorf("latency.svg: %v", err)
	}
	checkReport(t, o, dir, md)
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results struct {
		Floor struct {
			Probes []struct {
				Name            string
				ServerCPUMicros *float64
				Err             string
			}
			Read     *struct{ CPUMicros, LatencyMicros float64 }
			Purchase *struct{ CPUMicros float64 }
		}
		Phases []struct {
			Name            string
			CPUPerOperation *struct {
				Operations []struct {
					Kind                              cpucost.Kind
					Count                             int64
					MicrosByGroup                     map[string]float64
					Bound                             []string
					SystemLowMicros, SystemHighMicros float64
				}
			}
			Profiles []Profile
		}
	}
	if err := json.Unmarshal(b, &results); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	f := results.Floor
	if len(f.Probes) != 3 || f.Probes[0].ServerCPUMicros == nil || *f.Probes[0].ServerCPUMicros != 25 || f.Probes[2].Err == "" ||
		f.Read == nil || f.Read.CPUMicros != 25 || f.Read.LatencyMicros != 55 || f.Purchase != nil {
		t.Errorf("results.json floor: got %+v, want three probes, a read's floor and no purchase's (the commit failed)", f)
	}
	sys := results.Phases[0]
	if sys.CPUPerOperation == nil || len(sys.CPUPerOperation.Operations) != 3 || len(sys.Profiles) != 2 {
		t.Fatalf("results.json system phase: got %+v, want three kinds of operation and two profiles", sys)
	}
	read := sys.CPUPerOperation.Operations[1]
	if read.Kind != cpucost.Read || read.Count != 4900 || math.Abs(read.MicrosByGroup[cpucost.Redis]-489.796) > 0.01 ||
		!slices.Equal(read.Bound, []string{cpucost.Redis, "everything else"}) || read.SystemLowMicros != 0 || math.Abs(read.SystemHighMicros-489.796) > 0.01 {
		t.Errorf("results.json reads: got %+v", read)
	}
}

func TestWriteReportCapacity(t *testing.T) {
	o := sampleCapacityOutcome(t)
	dir := filepath.Join(t.TempDir(), "nested", "report")
	md, err := Write(o, dir)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	checkReport(t, o, dir, md)
}

// defaultConfig is the configuration of `loadgen run` with nothing set
// but the required secrets.
func defaultConfig(t *testing.T) scenario.Config {
	t.Helper()
	env := map[string]string{"BUYER_JWT_SECRET": "report-test-secret-0123456789abcdef", "MERCHANT_API_KEY": "mk_report_test"}
	c, err := scenario.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("scenario.Load with the defaults: %v", err)
	}
	return c
}
