package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
)

// TestUploadHostileFiles: every bad file is refused whole with each
// problem on its line and field, and nothing reaches the server (the
// upload asks for the live to be created first, so even that would show).
func TestUploadHostileFiles(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	good := "A1,Tee,1999,JPY,10,2,1\n"
	cases := []struct {
		name, file, content string
		want                []string // substrings of stderr, each a FILE:LINE: field: reason
	}{
		{"not utf8", "f.csv", header + good + "A2,T\xffe,1,JPY,1,1,0\n", []string{"f.csv:3: name: not valid UTF-8"}},
		{"utf8 error in header", "f.csv", "sku,na\xffme,price\n" + good, []string{"f.csv:1: column 2: header is not valid UTF-8"}},
		{"missing columns", "f.csv", "sku,name,price\nA1,Tee,1\n", []string{
			"f.csv:1: currency: required column missing", "f.csv:1: stock: required column missing", "f.csv:1: per_buyer_limit: required column missing"}},
		{"unknown columns", "f.csv", "sku,name,price,currency,stock,per_buyer_limit,colour,size\n" + "A1,Tee,1,JPY,1,1,red,L\n", []string{
			`f.csv:1: "colour": unknown column 7`, `f.csv:1: "size": unknown column 8`}},
		{"duplicate columns", "f.csv", "sku,name,price,currency,stock,Qty,per_buyer_limit\nA1,Tee,1,JPY,1,1,1\n", []string{
			`f.csv:1: stock: columns 5 ("stock") and 6 ("Qty") are both stock`}},
		{"duplicate skus", "f.csv", header + good + "A2,Mug,1,JPY,1,1,0\n" + good, []string{
			`f.csv:2: sku: "A1" is repeated on line 4`, `f.csv:4: sku: "A1" duplicates line 2`}},
		{"negative stock", "f.csv", header + "A1,Tee,1999,JPY,-5,2,1\n", []string{"f.csv:2: stock: must be between 0 and 100000000"}},
		{"huge stock and price", "f.csv", header + "A1,Tee,99999999999999999999999,JPY,100000001,2,1\n", []string{
			"f.csv:2: stock: must be between 0 and 100000000", "f.csv:2: price: must be between 0 and 1000000000000"}},
		{"non-integer numbers", "f.csv", header + "A1,Tee,19.99,JPY,1e3,\"1,000\",x\n", []string{
			`f.csv:2: price: "19.99" is not a whole number`, `f.csv:2: stock: "1e3" is not a whole number`,
			`f.csv:2: per_buyer_limit: "1,000" is not a whole number`, `f.csv:2: low_stock_threshold: "x" is not a whole number`}},
		{"formula injection", "f.csv", header +
			"A1,=cmd|' /C calc'!A0,1,JPY,1,1,0\n" +
			"A2,+1+1,1,JPY,1,1,0\n" +
			"-A3,Mug,1,JPY,1,1,0\n" +
			"A4,@SUM(A1:A2),1,JPY,1,1,0\n" +
			"A5,\"\tTee\",1,JPY,1,1,0\n" +
			"A6,\"\rTee\",1,JPY,1,1,0\n", []string{
			`f.csv:2: name: starts with "=", which a spreadsheet would run as a formula`,
			`f.csv:3: name: starts with "+"`, `f.csv:4: sku: starts with "-"`, `f.csv:5: name: starts with "@"`,
			`f.csv:6: name: starts with "\t"`, `f.csv:7: name: starts with "\r"`}},
		{"name over limit", "f.csv", header + "A1," + strings.Repeat("n", 201) + ",1,JPY,1,1,0\n", []string{"f.csv:2: name: must be 1 to 200"}},
		{"5 KiB field", "f.csv", header + "A1," + strings.Repeat("n", 5<<10) + ",1,JPY,1,1,0\n", []string{"f.csv:2: name: longer than 4096 bytes"}},
		{"1 MB field", "f.csv", header + good + "A2," + strings.Repeat("n", 1<<20) + ",1,JPY,1,1,0\n", []string{"f.csv:3: line is longer than 64 KiB"}},
		{"empty file", "f.csv", "", []string{"f.csv:1: file is empty"}},
		{"header only", "f.csv", header, []string{"f.csv:2: no product rows after the header"}},
		{"ragged rows", "f.csv", header + good + "A2,Mug,1,JPY\n" + "A3,Cup,1,JPY,1,1,0,extra\n", []string{
			"f.csv:3: row has 4 fields, the header has 7", "f.csv:4: row has 8 fields, the header has 7"}},
		{"row rules of the origin", "f.csv", header + "A 1,,1,usd,1,0,\n", []string{
			"f.csv:2: sku: must be 1 to 64", "f.csv:2: name: required", "f.csv:2: currency: must be a three-letter", "f.csv:2: per_buyer_limit: must be between 1 and 10000"}},
		{"csv syntax", "f.csv", header + good + "A2,\"Mu\"g,1,JPY,1,1,0\n", []string{"f.csv:3: CSV syntax"}},
		{"json not an array", "f.json", `{"sku":"A1"}`, []string{"f.json:1: expected a JSON array of products"}},
		{"json bad rows", "f.json", "[\n" + `{"sku":"A1","name":"Tee","price":"1999","currency":"JPY","stock":1,"per_buyer_limit":1},` + "\n" +
			`{"sku":"A2","name":"=HYPERLINK(1)","price":1,"currency":"JPY","stock":1,"per_buyer_limit":1,"color":"red"}` + "\n]", []string{
			"f.json:2: price: must be an integer within range", "f.json:3: color: unknown field"}},
		{"json formula", "f.json", `[{"sku":"A1","name":"=1+1","price":1,"currency":"JPY","stock":1,"per_buyer_limit":1}]`, []string{`f.json:1: name: starts with "="`}},
		{"json not utf8", "f.json", "[\n{\"sku\":\"A1\",\"name\":\"T\xffe\"}\n]", []string{"f.json:2: not valid UTF-8"}},
		{"json empty array", "f.json", "[]", []string{"f.json:1: the array holds no products"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.content)
			live := uniqueID("H")
			r := run(t, envFor(e), "upload", "--live", live, "--title", "Hostile", path)
			if r.code != 1 {
				t.Fatalf("got %s, want exit 1", r)
			}
			// Messages name the file as given; compare from the base name on.
			stderr := strings.ReplaceAll(r.stderr, path, tc.file)
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q; got:\n%s", w, stderr)
				}
			}
			if !strings.Contains(r.stderr, "nothing was sent") {
				t.Errorf("stderr: got %q, want it to say nothing was sent", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", r.stdout)
			}
			if len(r.stderr) > 64<<10 {
				t.Errorf("stderr is %d bytes; a hostile cell should not be echoed whole", len(r.stderr))
			}
		})
	}
	if n := count(t, e, "SELECT COUNT(*) FROM products"); n != 0 {
		t.Errorf("products in the database: got %d, want 0", n)
	}
	if n := count(t, e, "SELECT COUNT(*) FROM lives"); n != 0 {
		t.Errorf("lives in the database: got %d, want 0", n)
	}
}

func TestUploadAcceptsBOMAliasesAndJSON(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	live := uniqueID("G")
	purgeAtEnd(t, e, live)
	csv := writeFile(t, "p.csv", "\xef\xbb\xbf SKU ,Product Name,Price,CURRENCY,qty,Limit\r\nB1,Tee,1999,JPY,10,2\r\nB2,\"Mug, large\",500,USD,3,1\r\n")
	if r := run(t, envFor(e), "upload", "--live", live, "--title", "Good", csv); r.code != 0 {
		t.Fatalf("csv: %s", r)
	}
	js := writeFile(t, "p.json", `[{"sku":"B3","name":"Cap","price":100,"currency":"USD","stock":1,"per_buyer_limit":1,"low_stock_threshold":0}]`)
	r := run(t, envFor(e), "upload", "--live", live, js)
	if r.code != 0 || !strings.Contains(r.stdout, "uploaded 1 products") {
		t.Fatalf("json: %s", r)
	}
	if n := liveProducts(t, e, live); n != 3 {
		t.Errorf("products: got %d, want 3", n)
	}
	var name string
	e.DB.QueryRow("SELECT name FROM products WHERE sku = 'B2'").Scan(&name)
	if name != "Mug, large" {
		t.Errorf("name of B2: got %q, want %q", name, "Mug, large")
	}
}

func TestUploadDryRunSendsNothing(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	live := uniqueID("D")
	path := productsCSV(t, "D", 12)
	// No key needed to check a file.
	r := run(t, map[string]string{"ORIGIN_URL": e.URL}, "upload", "--live", live, "--title", "Dry", "--dry-run", "--chunk-size", "5", path)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	for _, w := range []string{"12 products", "3 request(s)", "request 1: lines 2-6, 5 rows", "request 3: lines 12-13, 2 rows", "nothing was sent"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if n := count(t, e, "SELECT COUNT(*) FROM lives"); n != 0 {
		t.Errorf("lives: got %d, want 0", n)
	}
}

// TestUploadServerRejectsChunk: the server's row errors are mapped back to
// the file's lines, the applied requests are named, and re-running the
// fixed upload completes it.
func TestUploadServerRejectsChunk(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	other, live := uniqueID("O"), uniqueID("R")
	purgeAtEnd(t, e, other)
	purgeAtEnd(t, e, live)
	taken := writeFile(t, "taken.csv", header+"TAKEN,Other,1,JPY,1,1,0\n")
	if r := run(t, envFor(e), "upload", "--live", other, "--title", "Other", taken); r.code != 0 {
		t.Fatalf("%s", r)
	}
	body := header + "R1,a,1,JPY,1,1,0\nR2,b,1,JPY,1,1,0\nR3,c,1,JPY,1,1,0\nTAKEN,d,1,JPY,1,1,0\nR5,e,1,JPY,1,1,0\n"
	path := writeFile(t, "f.csv", body)
	r := run(t, envFor(e), "upload", "--live", live, "--title", "Mine", "--chunk-size", "2", path)
	if r.code != 1 {
		t.Fatalf("got %s, want exit 1", r)
	}
	stderr := strings.ReplaceAll(r.stderr, path, "f.csv")
	for _, w := range []string{"f.csv:5: sku: ", "(server)", "request 2/3 (lines 4-5) failed", "requests 1-1 (lines 2-3, 2 products) were applied", "request 2 was not applied", "the 1 after it were not sent"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if n := liveProducts(t, e, live); n != 2 {
		t.Errorf("products applied: got %d, want 2 (the first request)", n)
	}
	fixed := writeFile(t, "f.csv", strings.Replace(body, "TAKEN,d", "R4,d", 1))
	if r := run(t, envFor(e), "upload", "--live", live, "--chunk-size", "2", fixed); r.code != 0 {
		t.Fatalf("re-run: %s", r)
	}
	if n := liveProducts(t, e, live); n != 5 {
		t.Errorf("products after the re-run: got %d, want 5", n)
	}
}

// flaky answers each path's first attempts with the given statuses, then
// passes requests to the origin.
type flaky struct {
	mu       sync.Mutex
	fail     map[string][]int
	attempts map[string]int
	proxy    *httputil.ReverseProxy
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.attempts[key]++
	n := f.attempts[key]
	var status int
	if n <= len(f.fail[key]) {
		status = f.fail[key][n-1]
	}
	f.mu.Unlock()
	if status == 0 {
		f.proxy.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", "0")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":"unavailable","message":"try again (%d)"}}`, status)
}

func newFlaky(t *testing.T, e *origintest.Env, fail map[string][]int) (*flaky, string) {
	u, _ := url.Parse(e.URL)
	f := &flaky{fail: fail, attempts: map[string]int{}, proxy: httputil.NewSingleHostReverseProxy(u)}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return f, s.URL
}

func TestUploadRetries503And429(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	live := uniqueID("T")
	purgeAtEnd(t, e, live)
	products := "PUT /admin/v1/lives/" + live + "/products"
	f, front := newFlaky(t, e, map[string][]int{
		"PUT /admin/v1/lives/" + live: {503},
		products:                      {503, 429},
	})
	path := productsCSV(t, "T", 7)
	r := run(t, map[string]string{"ORIGIN_URL": front, "MERCHANT_API_KEY": e.Key}, "upload", "--live", live, "--title", "Retry", "--chunk-size", "5", path)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if got := f.attempts[products]; got != 4 {
		t.Errorf("product requests: got %d, want 4 (503, 429, then 2 chunks)", got)
	}
	if n := liveProducts(t, e, live); n != 7 {
		t.Errorf("products: got %d, want 7", n)
	}
	if !strings.Contains(r.stderr, "retrying") {
		t.Errorf("stderr: got %q, want a note about retrying", r.stderr)
	}
	// A server that never recovers: bounded attempts, then exit 1.
	f2, front2 := newFlaky(t, e, map[string][]int{products: {503, 503, 503, 503, 503, 503}})
	start := time.Now()
	r = run(t, map[string]string{"ORIGIN_URL": front2, "MERCHANT_API_KEY": e.Key}, "upload", "--live", live, path)
	if r.code != 1 || !strings.Contains(r.stderr, "gave up") {
		t.Fatalf("got %s, want exit 1 having given up", r)
	}
	if got := f2.attempts[products]; got != 5 {
		t.Errorf("attempts: got %d, want 5", got)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("gave up after %s; Retry-After: 0 should make it quick", time.Since(start))
	}
}

// TestUpload50k: a 50,000-row file lands whole, and the report covers it.
func TestUpload50k(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 rows")
	}
	// Above the default MAX_PRODUCTS_PER_LIVE: the CLI's chunking is
	// what is under test.
	e := origintest.Start(t, origintest.Options{Tweak: func(c *app.Config) { c.ProductsPerLive = 50_000 }})
	live := uniqueID("K")
	purgeAtEnd(t, e, live)
	path := productsCSV(t, "K", 50_000)
	env := envFor(e)
	// Loading 5,000 new skus takes the origin seconds, more under -race.
	env["MERCHANTCTL_TIMEOUT"] = "5m"
	start := time.Now()
	r := run(t, env, "upload", "--live", live, "--title", "Big sale", path)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	t.Logf("50,000 rows uploaded in %s", time.Since(start).Round(time.Millisecond))
	if n := liveProducts(t, e, live); n != 50_000 {
		t.Fatalf("products: got %d, want 50000", n)
	}
	if !strings.Contains(r.stdout, "uploaded 50000 products") || !strings.Contains(r.stdout, "in 10 request(s)") {
		t.Errorf("stdout: %q", r.stdout)
	}
	// Not a terminal: plain progress lines on stderr, none on stdout.
	if !strings.Contains(r.stderr, "50000/50000 rows applied (request 10/10") || strings.Contains(r.stdout, "rows applied") {
		t.Errorf("progress: stderr %q, stdout %q", r.stderr, r.stdout)
	}
	if res, err := e.Purchase("buyer-1", uniqueID("idem"), "K0", 2); err != nil || res.Status != 201 {
		t.Fatalf("purchase: %v %d %s", err, res.Status, res.Body)
	}
	r = run(t, envFor(e), "report", "--live", live, "--json")
	if r.code != 0 {
		t.Fatalf("report: %s", r)
	}
	var rep struct {
		Products []struct {
			SKU       string `json:"sku"`
			UnitsSold int64  `json:"units_sold"`
			Revenue   int64  `json:"revenue"`
		} `json:"products"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report --json: %v", err)
	}
	if len(rep.Products) != 50_000 {
		t.Errorf("report lines: got %d, want 50000", len(rep.Products))
	}
	for _, p := range rep.Products {
		if p.SKU == "K0" && (p.UnitsSold != 2 || p.Revenue != 3998) {
			t.Errorf("K0 in the report: got %+v, want 2 sold for 3998", p)
		}
	}
}

func BenchmarkUpload50k(b *testing.B) {
	e := origintest.Start(b, origintest.Options{})
	rows := 0
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		live := uniqueID("B")
		purgeAtEnd(b, e, live)
		path := productsCSV(b, fmt.Sprintf("B%d-", i), 50_000)
		b.StartTimer()
		if r := run(b, envFor(e), "upload", "--live", live, "--title", "Bench", path); r.code != 0 {
			b.Fatalf("%s", r)
		}
		rows += 50_000
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
