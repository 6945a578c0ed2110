package productfile_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"livecommerce/merchantctl/productfile"
	"livecommerce/origin/shop"
)

const head = "sku,name,price,currency,stock,per_buyer_limit,low_stock_threshold\n"

func read(t *testing.T, f productfile.Format, s string) ([]productfile.Row, []string) {
	t.Helper()
	rows, problems, err := productfile.Read(strings.NewReader(s), f)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	var out []string
	for _, p := range problems {
		out = append(out, p.Format("f"))
	}
	return rows, out
}

func TestReadCSVAcceptsGoodFile(t *testing.T) {
	in := "\xef\xbb\xbf SKU ,Product Name,PRICE,currency,Qty,limit,low-stock\r\n" +
		"A1,Tee,1999,JPY,10,2,1\r\n" +
		"\r\n" +
		"A2,\"Mug, large\",500,USD,0,1,\r\n"
	rows, problems := read(t, productfile.CSV, in)
	if len(problems) > 0 {
		t.Fatalf("got problems %q, want none", problems)
	}
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	if got := rows[1].Line; got != 4 {
		t.Errorf("second row line: got %d, want 4", got)
	}
	if got := *rows[1].Product.Name; got != "Mug, large" {
		t.Errorf("name: got %q, want %q", got, "Mug, large")
	}
	if rows[1].Product.LowStockThreshold != nil {
		t.Errorf("empty threshold: got %v, want unset", *rows[1].Product.LowStockThreshold)
	}
}

func TestReadJSON(t *testing.T) {
	in := "[\n" +
		`{"sku":"A1","name":"Tee","price":1999,"currency":"JPY","stock":10,"per_buyer_limit":2},` + "\n" +
		`{"sku":"A2","name":"@SUM(1)","price":"5","currency":"JPY","stock":10,"per_buyer_limit":2},` + "\n" +
		`{"sku":"A1","name":"Tee","price":1999,"currency":"JPY","stock":-1,"per_buyer_limit":2,"colour":"red"},` + "\n" +
		`{"sku":"A3","name":"=1+1","price":1,"currency":"JPY","stock":1,"per_buyer_limit":1}` + "\n]"
	_, problems := read(t, productfile.JSON, in)
	joined := strings.Join(problems, "\n")
	for _, w := range []string{"f:3: price: ", "f:4: colour: unknown field", "f:5: name: starts with \"=\""} {
		if !strings.Contains(joined, w) {
			t.Errorf("problems %q: want one containing %q", problems, w)
		}
	}
	// One line, minified, is fine for JSON.
	one := `[{"sku":"A1","name":"` + strings.Repeat("x", 100) + `","price":1,"currency":"JPY","stock":1,"per_buyer_limit":1}]`
	if _, problems := read(t, productfile.JSON, strings.Repeat(" ", 70<<10)+one); len(problems) > 0 {
		t.Errorf("long JSON line: got %q, want no problem", problems)
	}
}

// endless yields the same bytes forever and counts them.
type endless struct {
	b []byte
	n int
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.b[(e.n+i)%len(e.b)]
	}
	e.n += len(p)
	return len(p), nil
}

func TestReadCSVStopsOnHugeField(t *testing.T) {
	src := &endless{b: []byte("x")}
	_, problems, err := productfile.Read(io.MultiReader(strings.NewReader(head+"A1,"), src), productfile.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Reason, "longer than 64 KiB") || problems[0].Line != 2 {
		t.Fatalf("got %v, want one line-2 problem about a line longer than 64 KiB", problems)
	}
	if src.n > 1<<20 {
		t.Errorf("read %d bytes of an endless field, want under 1 MiB", src.n)
	}
}

func TestReadStopsAtFileLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 64 MiB")
	}
	// Long rows, so the 64 MiB limit comes before MaxRows.
	row := []byte("A," + strings.Repeat("b", 200) + ",1,JPY,1,1,0\n")
	src := &endless{b: row}
	_, problems, err := productfile.Read(io.MultiReader(strings.NewReader(head), src), productfile.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(reasons(problems), "|"), "larger than 64 MiB") {
		t.Errorf("got %d problems, want one saying the file is larger than 64 MiB", len(problems))
	}
	if src.n > productfile.MaxFileBytes+1<<20 {
		t.Errorf("read %d bytes, want at most about %d", src.n, productfile.MaxFileBytes)
	}
}

func reasons(ps []productfile.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Reason)
	}
	return out
}

// FuzzReadCSV: Read never panics, and whatever it accepts passes the
// origin's own row rules, has no formula cell and no sku twice.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		head + "A1,Tee,1999,JPY,10,2,1\n",
		"\xef\xbb\xbf" + head + "A1,Tee,1999,JPY,10,2,\n",
		"sku,name,price,currency,qty,limit\nA1,Tee,1,USD,1,1\nA2,\"a\"\"b\",2,USD,2,2\n",
		head + "A1,=cmd|' /C calc'!A0,1,JPY,1,1,0\n",
		head + "A1,Tee,1,JPY,-1,1,0\nA1,Tee,1e3,JPY,1,1,0\n",
		head + "A1,\"multi\nline\",1,JPY,1,1,0\n",
		head + "A1,Tee\xff,1,JPY,1,1,0\n",
		head,
		"",
		"sku,sku,name\n",
		head + "A1,Tee,1,JPY,1,1\n",
		head + "\"A1,Tee,1,JPY,1,1,0\n",
		head + "-A1,Tee,99999999999999999999,JPY,1,1,0\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, problems, err := productfile.Read(bytes.NewReader(data), productfile.CSV)
		if err != nil {
			t.Fatalf("Read error on in-memory data: %v", err)
		}
		if len(problems) > 0 {
			if rows != nil {
				t.Fatalf("got rows and problems together")
			}
			for _, p := range problems {
				if p.Line < 1 || p.Reason == "" {
					t.Fatalf("problem without line or reason: %+v", p)
				}
			}
			return
		}
		if len(rows) == 0 {
			t.Fatalf("accepted a file with no rows")
		}
		in := make([]shop.ProductInput, len(rows))
		seen := map[string]bool{}
		prev := 1
		for i, r := range rows {
			in[i] = r.Product
			if r.Line <= prev {
				t.Fatalf("row %d: line %d not after %d", i, r.Line, prev)
			}
			prev = r.Line
			for _, s := range []*string{r.Product.SKU, r.Product.Name, r.Product.Currency} {
				if s != nil && *s != "" && strings.ContainsAny((*s)[:1], "=+-@\t\r") {
					t.Fatalf("accepted formula cell %q", *s)
				}
			}
			if seen[*r.Product.SKU] {
				t.Fatalf("accepted sku %q twice", *r.Product.SKU)
			}
			seen[*r.Product.SKU] = true
		}
		if _, errs := shop.ValidateProducts(in); len(errs) > 0 {
			t.Fatalf("accepted rows the origin refuses: %v", errs)
		}
	})
}

// TestHostileFileReportsBoundedProblems: a file of nothing but bad cells
// stops at MaxProblems instead of holding a problem per cell in memory.
func TestHostileFileReportsBoundedProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("sku,name,price,currency,stock,per_buyer_limit,low_stock_threshold\n")
	for range 200_000 {
		b.WriteString("=,=,x,=,x,x,x\n")
	}
	rows, problems, err := productfile.Read(strings.NewReader(b.String()), productfile.CSV)
	if err != nil || rows != nil {
		t.Fatalf("got %d rows, %v", len(rows), err)
	}
	if len(problems) > productfile.MaxProblems+1 || len(problems) < productfile.MaxProblems {
		t.Errorf("got %d problems, want %d and a last line saying reading stopped", len(problems), productfile.MaxProblems)
	}
	if last := problems[len(problems)-1]; !strings.Contains(last.Reason, "more than") && !strings.Contains(last.Reason, "more problems") {
		t.Errorf("last problem %+v, want one saying the rest were not read", last)
	}
}

// TestLargeJSONFileReadsInLinearTime guards against counting lines from the
// start of the file for every product.
func TestLargeJSONFileReadsInLinearTime(t *testing.T) {
	var b strings.Builder
	b.WriteString("[\n")
	const n = 100_000
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"sku":"J%d","name":"N","price":100,"currency":"JPY","stock":1,"per_buyer_limit":1,"low_stock_threshold":0}`, i)
	}
	b.WriteString("\n]\n")
	rows, problems, err := productfile.Read(strings.NewReader(b.String()), productfile.JSON)
	if err != nil || len(problems) > 0 || len(rows) != n {
		t.Fatalf("got %d rows, %d problems (%v), %v", len(rows), len(problems), problems[:min(3, len(problems))], err)
	}
	if rows[n-1].Line != n+1 {
		t.Errorf("last product on line %d, want %d", rows[n-1].Line, n+1)
	}
}
