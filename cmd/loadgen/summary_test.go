package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFmtDur(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{-5 * time.Millisecond, "0"},
		{500 * time.Microsecond, "0.50 ms"},
		{time.Millisecond, "1.0 ms"},
		{2500 * time.Microsecond, "2.5 ms"},
		{10 * time.Millisecond, "10 ms"},
		{250 * time.Millisecond, "250 ms"},
		{9999 * time.Millisecond, "9999 ms"},
		{10 * time.Second, "10.0 s"},
		{90 * time.Second, "90.0 s"},
	}
	for _, tc := range tests {
		if got := fmtDur(tc.d); got != tc.want {
			t.Errorf("fmtDur(%s): got %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestFmtNum(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{999, "999"},
		{1000, "1,000"},
		{12.4, "12"},
		{999.5, "1,000"},
		{1234567, "1,234,567"},
		{-999, "-999"},
		{-1234, "-1,234"},
		{-1_000_000, "-1,000,000"},
		{200_000, "200,000"},
	}
	for _, tc := range tests {
		if got := fmtNum(tc.v); got != tc.want {
			t.Errorf("fmtNum(%g): got %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{20, 2, "10×"},
		{3, 2, "1.5×"},
		{1, 3, "0.3×"},
		{123, 1, "123×"},
		{0, 5, "n/a"},
		{5, 0, "n/a"},
		{-1, 5, "n/a"},
		{math.NaN(), 1, "n/a"},
		{1, math.NaN(), "n/a"},
	}
	for _, tc := range tests {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%g, %g): got %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a|b\nc", `a\|b c`},
		{"x\r\ny", "x  y"},
		{"||", `\|\|`},
	}
	for _, tc := range tests {
		if got := cell(tc.in); got != tc.want {
			t.Errorf("cell(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
	long := cell(strings.Repeat("a|\n", 1000))
	if !strings.HasSuffix(long, "…") || len(long) > 300+len("…") {
		t.Errorf("a long cell: got %d bytes ending %q, want at most 300 and an ellipsis", len(long), long[len(long)-5:])
	}
	if strings.ContainsAny(long, "\r\n") {
		t.Error("a long cell kept a line break")
	}
}

// hostile is a detail a check may carry from what a server answered.
const hostile = "a|b\nc"

// sampleSummary records n operations of name, due every 10 ms from start,
// the first warm of them in the warm-up, taking 1 to 20 ms; one in
// fifty ends with code.
func sampleSummary(name string, start, measure time.Time, n int, code string, expected ...string) summary {
	s := newOpStats(name, start, measure, expected...)
	for i := range n {
		due := start.Add(time.Duration(i) * 10 * time.Millisecond)
		c := codeOK
		if i%50 == 0 && code != "" {
			c = code
		}
		s.record(due, due.Add(time.Duration(1+i%20)*time.Millisecond), c)
	}
	return s.summary()
}

// sampleOutcome is a standard run's outcome, hostile strings included,
// as runLoad would return it.
func sampleOutcome(t *testing.T) *outcome {
	t.Helper()
	cfg := defaultRunConfig(t)
	cfg.Lives, cfg.SKUsPerLive = 2, 3
	plan := NewPlan(&cfg, "bSUMMARY")
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	measure := start.Add(2 * time.Second)
	purchase := sampleSummary(opPurchase, start, measure, 500, "sold_out", purchaseExpected...)
	resent := sampleSummary(opPurchaseResent, start, measure, 0, "")
	edge := sampleSummary(opReadEdge, start, measure, 400, codeTimeout)
	origin := sampleSummary(opReadOrigin, start, measure, 400, "")
	lag := sampleSummary(opEvent, start, measure, 300, "")
	loads := []loadResult{
		{Name: "purchases", Requested: 100, Due: 500, Sent: 500, Answered: purchase.Answered, AnsweredRate: 100, SendDelayP99: time.Millisecond, KeptUp: true},
		{Name: "stock reads", Requested: 1000, Due: 5000, Sent: 4990, Skipped: 10, Answered: 4900, AnsweredRate: 980, SendDelayP99: 20 * time.Millisecond},
	}
	sys := phaseResult{
		Name: "system", Start: start, Warmup: 2 * time.Second, Duration: 3 * time.Second,
		Loads: loads, Ops: []summary{purchase, resent, edge, origin},
		Feed: &feedStats{
			Viewers: 10, Connected: 9, ConnectFailed: 1, Converged: 9, Events: 1234, Reordered: 1, Malformed: 2,
			Lag: lag, Early: 3,
			FirstErrors: []string{"viewer 3: " + hostile, "connect: " + strings.Repeat("x|", 400)},
		},
		CPU: []cpuUse{{Name: "redis-server", Procs: 1, Cores: 0.8}, {Name: "evil|proc\nname", Procs: 2, Cores: 0.1}},
	}
	naive := phaseResult{
		Name: "naive baseline", Start: start, Warmup: time.Second, Duration: time.Second,
		Loads: loads[:1], Ops: []summary{sampleSummary(opPurchase, start, start.Add(time.Second), 200, "http_500", purchaseExpected...)},
	}
	static := phaseResult{
		Name: "static baseline", Start: start, Warmup: time.Second, Duration: time.Second,
		Loads: loads[1:], Ops: []summary{sampleSummary(opReadStatic, start, start.Add(time.Second), 200, "")},
	}
	return &outcome{
		cfg: cfg, plan: plan, machine: "2 × Test CPU, 4 GiB", started: start,
		phases: []phaseResult{sys, naive, static},
		verdicts: []verdict{
			{System: "system under test", Checks: []check{{Name: "nothing below zero", OK: true, Detail: "ok"}, {Name: "every 201 is a stored order", OK: false, Detail: hostile}}},
			{System: "naive baseline", Checks: []check{{Name: "units sold = order rows' units", OK: true, Detail: "6 skus"}}},
		},
		checks: []check{
			{Name: "sent at the requested rate: stock reads", OK: false, Detail: "4990 of 5000 sent"},
			{Name: "hostile " + hostile, OK: true, Detail: "x\r\ny|z"},
		},
	}
}

// sampleCapacityOutcome is a capacity search's outcome.
func sampleCapacityOutcome(t *testing.T) *outcome {
	t.Helper()
	o := sampleOutcome(t)
	start := o.started
	stepOf := func(rate float64, name string, met bool) step {
		w := sampleSummary(name, start, start.Add(o.cfg.StepSettle), 800, "")
		ph := phaseResult{
			Name: "step " + fmtNum(rate), Start: start, Warmup: o.cfg.StepSettle, Duration: 5 * time.Second,
			Loads: []loadResult{{Name: "x", Requested: rate, Due: 800, Sent: 800, Answered: w.Answered, AnsweredRate: rate, KeptUp: true}},
			Ops:   []summary{w}, CPU: []cpuUse{{Name: "origin", Procs: 2, Cores: 1.5}},
		}
		return step{Rate: rate, Phase: ph, Worst: w, MetBrief: met, MetOurs: met}
	}
	o.phases = nil
	o.steps = []stepSeries{
		{Name: "system", Kind: "purchases", Steps: []step{stepOf(500, opPurchase, true), stepOf(1000, opPurchase, false)}, BriefCapacity: 500, OursCapacity: 500, Stopped: "at 1,000/s: " + hostile},
		{Name: "naive baseline", Kind: "purchases", Baseline: true, Steps: []step{stepOf(500, opPurchase, false)}, Stopped: "at 500/s: purchase p99 400 ms"},
		{Name: "system", Kind: "stock reads", Steps: []step{stepOf(2500, opReadEdge, true)}, BriefCapacity: 2500, OursCapacity: 2500, Stopped: "the last rate was reached"},
		{Name: "static server", Kind: "stock reads", Baseline: true, Steps: []step{stepOf(2500, opReadStatic, true)}, BriefCapacity: 2500, OursCapacity: 2500, Stopped: "the last rate was reached"},
	}
	o.checks = []check{{Name: "capacity found: system, purchases", OK: true, Detail: hostile}}
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

	for i := range o.checks {
		o.checks[i].OK = true
	}
	for i := range o.verdicts {
		for j := range o.verdicts[i].Checks {
			o.verdicts[i].Checks[j].OK = true
		}
	}
	if md := renderSummary(o, nil); !strings.Contains(md, "- **Verdict: PASS**") {
		t.Error("every check passed, but the summary does not say PASS")
	}
}

func TestRenderSummaryCapacity(t *testing.T) {
	o := sampleCapacityOutcome(t)
	md := renderSummary(o, []string{"capacity-purchases.svg"})
	for _, want := range []string{"# Load test: capacity search", "## Capacity", "- **Verdict: FAIL**", `a\|b c`, "500/s"} {
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

// checkReport checks the folder writeReport wrote for o.
func checkReport(t *testing.T, o *outcome, dir, md string) {
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
		Checks []check
		Phases []json.RawMessage
		Steps  []json.RawMessage
	}
	if err := json.Unmarshal(b, &results); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if results.Pass != o.Pass() || len(results.Checks) != len(o.checks) || len(results.Phases) != len(o.phases) || len(results.Steps) != len(o.steps) {
		t.Errorf("results.json: got pass %v, %d checks, %d phases, %d series; want %v, %d, %d, %d",
			results.Pass, len(results.Checks), len(results.Phases), len(results.Steps), o.Pass(), len(o.checks), len(o.phases), len(o.steps))
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
				want[fileName(ph.Name+" "+op.Name)+".hgrm"] = op.Answered
			}
		}
		if ph.Feed != nil && ph.Feed.Lag.Answered > 0 {
			want[fileName(ph.Name+" "+opEvent)+".hgrm"] = ph.Feed.Lag.Answered
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
	md, err := writeReport(o, dir)
	if err != nil {
		t.Fatalf("writeReport: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "latency.svg")); err != nil {
		t.Errorf("latency.svg: %v", err)
	}
	checkReport(t, o, dir, md)
}

func TestWriteReportCapacity(t *testing.T) {
	o := sampleCapacityOutcome(t)
	dir := filepath.Join(t.TempDir(), "nested", "report")
	md, err := writeReport(o, dir)
	if err != nil {
		t.Fatalf("writeReport: %v", err)
	}
	checkReport(t, o, dir, md)
}
