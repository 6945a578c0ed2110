package loadrun

import (
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"livecommerce/loadtest/invariants"
	"livecommerce/loadtest/ledger"
	"livecommerce/loadtest/loadreport"
	"livecommerce/loadtest/naiveorigin"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/staticjson"
	"livecommerce/loadtest/verdict"
	"livecommerce/origin/origintest"
	"livecommerce/origin/redisstock"
	"livecommerce/stockfeed/feedtest"
)

// testSystem is a whole system under test, real parts only: an origin on
// the real Redis, MariaDB and NATS, a stockfeed on the real NATS, and the
// two baselines. The edge is left out: its own tests run varnishd.
type testSystem struct {
	origin *origintest.Env
	env    map[string]string
}

func serve(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}

func startSystem(t *testing.T) *testSystem {
	t.Helper()
	o := origintest.Start(t, origintest.Options{})
	feed := feedtest.Start(t, feedtest.MachineNATSURL(), nil)
	db, err := sql.Open("mysql", o.Config.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := naiveorigin.CreateSchema(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	naive, err := naiveorigin.NewApp(db, []byte(origintest.Secret), nil)
	if err != nil {
		t.Fatal(err)
	}
	// One process holds the origin and the feed, and a process runs one
	// CPU profile at a time: the feed's is left out. Nothing listens on
	// port 1: a listener that is down.
	ops := "origin-1=" + o.OpsURL + ",down=http://127.0.0.1:1"
	return &testSystem{origin: o, env: map[string]string{
		"LOADGEN_EDGE_URL":             o.URL,
		"LOADGEN_ORIGIN_URLS":          o.URL,
		"LOADGEN_FEED_URL":             feed.URL,
		"LOADGEN_NAIVE_URL":            serve(t, naive),
		"LOADGEN_STATIC_URL":           serve(t, staticjson.NewApp()),
		"LOADGEN_WAIT_URLS":            feed.URL + "/readyz",
		"LOADGEN_OPS_URLS":             ops,
		"MYSQL_DSN":                    o.Config.MySQLDSN,
		"REDIS_ADDR":                   origintest.RedisAddr(),
		"REDIS_PREFIX":                 o.Prefix,
		"BUYER_JWT_SECRET":             origintest.Secret,
		"MERCHANT_API_KEY":             o.Key,
		"LOADGEN_PURCHASE_RATE":        "40",
		"LOADGEN_READ_RATE":            "100",
		"LOADGEN_SSE_CLIENTS":          "12",
		"LOADGEN_LIVES":                "3",
		"LOADGEN_SKUS_PER_LIVE":        "3",
		"LOADGEN_WARMUP":               "1s",
		"LOADGEN_DURATION":             "2s",
		"LOADGEN_BASELINE_DURATION":    "1s",
		"LOADGEN_CONNECTIONS":          "4",
		"LOADGEN_PURCHASE_CONNECTIONS": "8",
		"LOADGEN_STEP_RATES":           "20,40",
		"LOADGEN_STEP_READ_RATES":      "50,100",
		"LOADGEN_STEP_DURATION":        "1s",
		"LOADGEN_MACHINE":              "the test machine",
		"LOADGEN_OUT":                  t.TempDir(),
	}}
}

func (s *testSystem) config(t *testing.T, args ...string) scenario.Config {
	t.Helper()
	cfg, err := scenario.Load(args, func(k string) string { return s.env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	// These tests check the machinery, not this machine's speed: under
	// -race, beside the rest of the suite, a p99 of 50 ms says nothing.
	cfg.Targets = scenario.Targets{BriefPurchaseP99: time.Minute, BriefReadP99: time.Minute, OursPurchaseP99: time.Minute, OursReadP99: time.Minute}
	return cfg
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runAndWrite runs cfg and writes its report folder, as `loadgen run`
// does; it returns the outcome and the Markdown summary.
func runAndWrite(t *testing.T, cfg scenario.Config) (*loadreport.Outcome, string) {
	t.Helper()
	o, err := Run(t.Context(), cfg, quietLog())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	md, err := loadreport.Write(o, cfg.OutDir)
	if err != nil {
		t.Fatal(err)
	}
	return o, md
}

// TestStandardRunPasses plays a small standard scenario end to end: every
// phase, the invariant checks against the real database and Redis, and
// the report folder.
func TestStandardRunPasses(t *testing.T) {
	sys := startSystem(t)
	cfg := sys.config(t, "--profile")
	o, md := runAndWrite(t, cfg)
	if !o.Pass() {
		t.Fatalf("the run failed:\n%s", md)
	}
	if len(o.Phases) != 3 || len(o.Verdicts) != 2 {
		t.Fatalf("%d phases and %d verdicts, want 3 and 2", len(o.Phases), len(o.Verdicts))
	}
	sysPhase := o.Phases[0]
	p, _ := sysPhase.Op(scenario.OpPurchase)
	if p.Codes[opstats.CodeOK] == 0 {
		t.Errorf("no purchase confirmed: %v", p.Codes)
	}
	for _, name := range []string{scenario.OpReadEdge, scenario.OpReadOrigin} {
		if r, _ := sysPhase.Op(name); r.Codes[opstats.CodeOK] == 0 {
			t.Errorf("%s: no read answered: %v", name, r.Codes)
		}
	}
	f := sysPhase.Feed
	if f == nil || f.Connected != 12 || f.Converged != 12 || f.Events == 0 || f.Lag.Count == 0 {
		t.Errorf("live pages: %+v", f)
	}
	for _, want := range []string{"**Verdict: PASS**", "| invariants: system under test | PASS |", "## Baselines", "the test machine",
		"## CPU per operation", "## Physical floor", "## CPU profiles", "go tool pprof -top profiles/system-origin-1.pb.gz"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	checkReportFiles(t, cfg.OutDir)
	checkProfiles(t, o, cfg.OutDir)
	checkFloor(t, o)
}

// checkProfiles: the system's phase has a profile of the origin, and says
// why the listener that is down has none; the baselines have none.
func checkProfiles(t *testing.T, o *loadreport.Outcome, dir string) {
	t.Helper()
	for i, ph := range o.Phases {
		if i > 0 {
			if len(ph.Profiles) != 0 {
				t.Errorf("%s: got %d profiles, want none (a baseline)", ph.Name, len(ph.Profiles))
			}
			continue
		}
		if len(ph.Profiles) != 2 || ph.Profiles[1].File != "" || !strings.Contains(ph.Profiles[1].Err, "127.0.0.1:1") {
			t.Fatalf("%s: got profiles %+v, want the origin's, and an error for the listener that is down", ph.Name, ph.Profiles)
		}
		for _, p := range ph.Profiles[:1] {
			b, err := os.ReadFile(filepath.Join(dir, p.File))
			if p.Err != "" || err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b || int64(len(b)) != p.Bytes || p.Seconds != 2 {
				t.Errorf("%s: got %+v (%v, %d bytes), want a gzipped profile of 2 s", p.Service, p, err, len(b))
			}
		}
	}
}

// checkFloor: Redis and MariaDB are real; the static server runs in the
// test's own process, so its CPU cannot be told from the client's.
func checkFloor(t *testing.T, o *loadreport.Outcome) {
	t.Helper()
	f := o.Floor
	if f == nil {
		t.Fatal("no floor measured")
	}
	if !f.HTTP.OK() || f.HTTP.ServerSeen || !f.Script.OK() || !f.Commit.OK() || f.Commit.P50 <= 0 {
		t.Errorf("floor: got %+v", *f)
	}
	var n int
	if err := sqlDB(t, o).QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'floor\\_%'").Scan(&n); err != nil || n != 0 {
		t.Errorf("scratch tables left: %d (%v), want none", n, err)
	}
}

func sqlDB(t *testing.T, o *loadreport.Outcome) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", o.Config.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func checkReportFiles(t *testing.T, dir string, charts ...string) {
	t.Helper()
	for _, c := range charts {
		svg, err := os.Open(filepath.Join(dir, c))
		if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(svg)
		for {
			if _, err := dec.Token(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: %v", c, err)
				}
				break
			}
		}
		svg.Close()
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results struct{ Pass bool }
	if err := json.Unmarshal(b, &results); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	hists, _ := filepath.Glob(filepath.Join(dir, "histograms", "*.hgrm"))
	if len(hists) == 0 {
		t.Fatal("no histograms written")
	}
	h, err := os.ReadFile(hists[0])
	if err != nil || !strings.Contains(string(h), "Percentile") || !strings.Contains(string(h), "#[Max") {
		t.Errorf("%s is not an HdrHistogram percentile distribution: %q", hists[0], h)
	}
}

// TestCapacitySearch runs the step mode on two small rates.
func TestCapacitySearch(t *testing.T) {
	sys := startSystem(t)
	sys.env["LOADGEN_SSE_CLIENTS"] = "5"
	cfg := sys.config(t, "--step")
	o, md := runAndWrite(t, cfg)
	if len(o.Steps) != 4 {
		t.Fatalf("%d series, want 4 (purchases and reads, each on the system and a baseline)", len(o.Steps))
	}
	for _, s := range o.Steps {
		if len(s.Steps) == 0 || s.Steps[0].Worst.Answered == 0 {
			t.Errorf("%s, %s: no step measured", s.Name, s.Kind)
		}
		// Each step is new business: no key of an earlier step comes
		// back as a replay, and no buyer of one runs into their limit in
		// the next.
		for _, st := range s.Steps {
			if p, ok := st.Phase.Op(scenario.OpPurchase); ok && (p.Codes[opstats.CodeUnexpectedReplay] > 0 || p.Codes[opstats.CodeOK] == 0) {
				t.Errorf("%s at %.0f/s: %v", s.Name, st.Rate, p.Codes)
			}
		}
	}
	if !strings.Contains(md, "## Capacity") || !o.Pass() {
		t.Errorf("capacity report:\n%s", md)
	}
	checkReportFiles(t, cfg.OutDir, "capacity-purchases.svg", "capacity-stock-reads.svg")
}

// TestInvariantsCatchViolations plants each kind of violation in what a
// passing run left behind and checks the verdict names it.
func TestInvariantsCatchViolations(t *testing.T) {
	sys := startSystem(t)
	sys.env["LOADGEN_SSE_CLIENTS"] = "0"
	sys.env["LOADGEN_READ_RATE"] = "0"
	cfg := sys.config(t)
	o, err := Run(t.Context(), cfg, quietLog())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !o.Pass() {
		t.Fatalf("the clean run failed: %+v %+v", o.Checks, o.Verdicts)
	}
	db, rdb, plan := sys.origin.DB, sys.origin.Redis, o.Plan
	ctx := t.Context()
	sku := plan.SKUs[plan.Hot[0]]

	// A buyer confirmed an order the database does not hold.
	led := ledger.New()
	led.Confirm(ledger.Order{OrderID: "01JLOSTLOSTLOSTLOSTLOSTLOS", Buyer: "ghost", Key: "k", SKU: plan.Hot[0]})
	v, err := invariants.CheckSystem(ctx, db, rdb, cfg.RedisPrefix, plan, led, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantFailed(t, v, "every 201 is a stored order")

	// Orders nobody was told of, past a buyer's limit, without the
	// counter: three kinds of violation in one stray insert.
	for i := range scenario.PerBuyerLimit + 1 {
		_, err := db.ExecContext(ctx, "INSERT INTO orders (id, buyer_id, idempotency_key, sku, live_id, quantity, unit_price, currency, status, created_at)"+
			" VALUES (?, 'intruder', ?, ?, ?, 1, 1999, 'JPY', 'confirmed', NOW(6))",
			"01JSTRAY"+strings.Repeat("0", 17)+strconv.Itoa(i), "stray-"+strconv.Itoa(i), sku.ID, plan.Lives[sku.Live])
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err = invariants.CheckSystem(ctx, db, rdb, cfg.RedisPrefix, plan, ledger.New(), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantFailed(t, v, "units sold = order rows' units", "nobody over their limit", "no order nobody was told of")

	// A purchase the buyer was refused for certain, whose order exists.
	refusedLed := ledger.New()
	refusedLed.Refused("intruder", "stray-0")
	v, err = invariants.CheckSystem(ctx, db, rdb, cfg.RedisPrefix, plan, refusedLed, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantFailed(t, v, "a refused purchase left no order")

	// Redis drifting from the database, below zero.
	if err := rdb.HSet(ctx, redisstock.NewKeys(cfg.RedisPrefix).SKU(sku.ID), "sold", sku.Stock+5).Err(); err != nil {
		t.Fatal(err)
	}
	v, err = invariants.CheckSystem(ctx, db, rdb, cfg.RedisPrefix, plan, ledger.New(), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantFailed(t, v, "Redis agrees with the database", "nothing below zero in Redis")

	// The naive baseline's own tables.
	_, err = db.ExecContext(ctx, "INSERT INTO naive_orders (id, buyer_id, idempotency_key, sku, quantity, unit_price, currency, created_at)"+
		" VALUES ('01JNAIVESTRAY000000000000X', 'intruder', 'stray', ?, 1, 1999, 'JPY', NOW(6))", sku.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err = invariants.CheckNaive(ctx, db, plan, ledger.New())
	if err != nil {
		t.Fatal(err)
	}
	wantFailed(t, v, "units sold = order rows' units, nothing below zero, nobody over their limit", "no order nobody was told of")
}

func wantFailed(t *testing.T, v verdict.Checklist, names ...string) {
	t.Helper()
	if v.Pass() {
		t.Errorf("verdict passed; want %q to fail", names)
	}
	for _, n := range names {
		found := false
		for _, c := range v.Checks {
			if c.Name == n {
				found = true
				if c.OK {
					t.Errorf("%q passed (%s); want it to fail", n, c.Detail)
				}
			}
		}
		if !found {
			t.Errorf("no check named %q", n)
		}
	}
}
