package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"livecommerce/internal/stock"
	"livecommerce/merchantctl/adminclient"
	"livecommerce/merchantctl/productfile"
	"livecommerce/origin/adminapi"
	"livecommerce/origin/shop"
)

// maxChunkBytes keeps a request under the origin's 4 MiB admin body
// limit even when 5,000 rows carry long multi-byte names.
const maxChunkBytes = 3 << 20

const uploadHelp = `Usage: merchantctl upload --live LIVE [--title TITLE] [--format csv|json] [--dry-run] FILE

Checks every row of FILE first and, if any is wrong, prints all the problems
as FILE:LINE: field: reason and sends nothing. Otherwise upserts the products
into the live in requests of at most 5,000 rows, in file order. Each request
is all-or-nothing and idempotent, so re-running the same upload is safe.
FILE "-" reads standard input (then --format is required).

CSV: the first line names the columns, in any order, case-insensitive:
  sku, name, price, currency, stock, per_buyer_limit, low_stock_threshold (optional)
  aliases: quantity, qty -> stock; limit, buyer_limit -> per_buyer_limit;
           low_stock, threshold -> low_stock_threshold; product_name -> name
  (spaces and hyphens in a header count as underscores). price is in minor
  units (JPY 1999 = ¥1,999; USD 1999 = $19.99). Numbers are plain digits.
  Text may not start with = + - @ (spreadsheet formulas). UTF-8, with or
  without a byte order mark; at most 64 MiB, 4 KiB per field.
JSON: an array of product objects, as PUT /admin/v1/lives/{live}/products takes.

Flags:
  --live LIVE          the live to upload into (required)
  --title TITLE        create the live (or update its title) first
  --sale-starts-at T   with --title: when the sale opens (RFC 3339)
  --sale-ends-at T     with --title: when the sale closes (RFC 3339)
  --format csv|json    the file's format (default: from the extension)
  --dry-run            check the file and show the requests; send nothing
  --chunk-size N       rows per request, 1 to 5000 (default 5000)

Examples:
  merchantctl upload --live spring-sale --title "Spring sale" products.csv
  merchantctl upload --live spring-sale --dry-run products.csv
  merchantctl upload --live spring-sale --format json - < products.json
`

type chunk struct {
	rows  []productfile.Row
	body  []byte
	first int // line of the first row
	last  int
}

func runUpload(ctx context.Context, e Env, args []string) error {
	var c common
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	c.register(fs)
	live := fs.String("live", "", "")
	title := fs.String("title", "", "")
	starts := fs.String("sale-starts-at", "", "")
	ends := fs.String("sale-ends-at", "", "")
	format := fs.String("format", "", "")
	dryRun := fs.Bool("dry-run", false, "")
	chunkSize := fs.Int("chunk-size", shop.MaxProducts, "")
	pos, err := parse(e, fs, uploadHelp, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return usagef("expected one FILE, got %d arguments", len(pos))
	case *live == "":
		return usagef("--live is required")
	case !stock.ValidID(*live):
		return usagef("--live must be 1 to 64 of A-Z a-z 0-9 _ -")
	case *chunkSize < 1 || *chunkSize > shop.MaxProducts:
		return usagef("--chunk-size must be 1 to %d", shop.MaxProducts)
	case *title == "" && (*starts != "" || *ends != ""):
		return usagef("--sale-starts-at and --sale-ends-at need --title")
	case *title != "" && (strings.TrimSpace(*title) != *title || utf8.RuneCountInString(*title) > shop.MaxTitle):
		return usagef("--title must be 1 to %d characters without surrounding spaces", shop.MaxTitle)
	}
	for _, t := range []struct{ flag, v string }{{"--sale-starts-at", *starts}, {"--sale-ends-at", *ends}} {
		if t.v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, t.v); err != nil {
			return usagef("%s must be an RFC 3339 time such as 2026-12-01T10:00:00Z", t.flag)
		}
	}
	name := pos[0]
	f := productfile.Format(strings.ToLower(*format))
	switch {
	case *format == "":
		var ok bool
		if f, ok = productfile.FormatOf(name); !ok {
			return usagef("cannot tell the format of %q from its extension; pass --format csv or --format json", name)
		}
	case f != productfile.CSV && f != productfile.JSON:
		return usagef("--format must be csv or json")
	}
	s, err := c.load(e.Getenv, !*dryRun)
	if err != nil {
		return err
	}

	rows, err := readFile(e, name, f)
	if err != nil {
		return err
	}
	chunks, err := makeChunks(rows, *chunkSize)
	if err != nil {
		return err
	}
	if *dryRun {
		printPlan(e.Stdout, name, *live, rows, chunks)
		return nil
	}

	client := adminclient.New(s.Origin, s.Key, s.Timeout)
	current := 0
	var bar *progress
	client.OnRetry = func(attempt int, wait time.Duration, err error) {
		if bar != nil {
			bar.abort()
		}
		fmt.Fprintf(e.Stderr, "merchantctl upload: request %d/%d: %s; retrying in %s\n", current+1, len(chunks), describe(err), wait.Round(time.Millisecond))
	}
	if *title != "" {
		in := adminapi.LiveBody{Title: *title}
		if *starts != "" {
			in.SaleStartsAt = starts
		}
		if *ends != "" {
			in.SaleEndsAt = ends
		}
		created, err := client.PutLive(ctx, *live, in)
		if err != nil {
			return &rejected{"creating live " + *live + ": " + describe(err) + "; no products were sent"}
		}
		verb := "updated"
		if created {
			verb = "created"
		}
		fmt.Fprintf(e.Stdout, "live %s %s\n", *live, verb)
	}
	bar = newProgress(e.Stderr, len(rows), len(chunks))
	done := 0
	for i, ch := range chunks {
		current = i
		if _, err := client.PutProducts(ctx, *live, ch.body); err != nil {
			bar.abort()
			return uploadFailed(e, name, *live, chunks, i, err)
		}
		done += len(ch.rows)
		bar.update(i+1, done, ch)
	}
	bar.finish()
	fmt.Fprintf(e.Stdout, "uploaded %d products from %s to live %s in %d request(s)\n", len(rows), name, *live, len(chunks))
	return nil
}

func readFile(e Env, name string, f productfile.Format) ([]productfile.Row, error) {
	var r io.Reader = e.Stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return nil, &rejected{err.Error()}
		}
		defer file.Close()
		if fi, err := file.Stat(); err == nil && !fi.Mode().IsRegular() {
			return nil, &rejected{name + ": not a regular file"}
		}
		r = file
	}
	rows, problems, err := productfile.Read(r, f)
	if err != nil {
		return nil, &rejected{fmt.Sprintf("reading %s: %v", name, err)}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(e.Stderr, p.Format(name))
		}
		return nil, &rejected{fmt.Sprintf("%d problem(s) in %s; nothing was sent", len(problems), name)}
	}
	return rows, nil
}

// makeChunks cuts rows into request bodies of at most size rows and
// maxChunkBytes, in file order.
func makeChunks(rows []productfile.Row, size int) ([]chunk, error) {
	var chunks []chunk
	var cur chunk
	flush := func() {
		if len(cur.rows) == 0 {
			return
		}
		cur.body = append(cur.body, ']')
		cur.last = cur.rows[len(cur.rows)-1].Line
		chunks = append(chunks, cur)
		cur = chunk{}
	}
	for i := range rows {
		b, err := adminclient.EncodeProducts([]shop.ProductInput{rows[i].Product})
		if err != nil {
			return nil, err
		}
		obj := b[1 : len(b)-1] // the one element of the array
		if len(cur.rows) == size || len(cur.body)+len(obj)+2 > maxChunkBytes {
			flush()
		}
		if len(cur.rows) == 0 {
			cur.body = append(make([]byte, 0, 64<<10), '[')
			cur.first = rows[i].Line
		} else {
			cur.body = append(cur.body, ',')
		}
		cur.body = append(cur.body, obj...)
		cur.rows = append(cur.rows, rows[i])
	}
	flush()
	return chunks, nil
}

func printPlan(w io.Writer, name, live string, rows []productfile.Row, chunks []chunk) {
	fmt.Fprintf(w, "%s: %d products, no problems found\n", name, len(rows))
	fmt.Fprintf(w, "would upload to live %s in %d request(s) of at most %d rows:\n", live, len(chunks), shop.MaxProducts)
	for i, c := range chunks {
		fmt.Fprintf(w, "  request %d: lines %d-%d, %d rows, %d KiB\n", i+1, c.first, c.last, len(c.rows), (len(c.body)+1023)/1024)
	}
	fmt.Fprintln(w, "dry run: nothing was sent")
}

// uploadFailed explains a stopped upload: the server's row errors on the
// file's lines, and which requests were applied.
func uploadFailed(e Env, name, live string, chunks []chunk, failed int, err error) error {
	var apiErr *adminclient.Error
	if errors.As(err, &apiErr) && len(apiErr.Details) > 0 {
		ch := chunks[failed]
		for _, d := range apiErr.Details {
			p := productfile.Problem{Field: d.Field, Reason: d.Reason + " (server)"}
			if d.Row >= 1 && d.Row <= len(ch.rows) {
				p.Line = ch.rows[d.Row-1].Line
			} else {
				p.Line = ch.first
			}
			fmt.Fprintln(e.Stderr, p.Format(name))
		}
	}
	fmt.Fprintf(e.Stderr, "merchantctl upload: request %d/%d (lines %d-%d) failed: %s\n", failed+1, len(chunks), chunks[failed].first, chunks[failed].last, describe(err))
	var state string
	switch {
	case failed == 0:
		state = "no earlier request was applied"
	default:
		rows := 0
		for _, c := range chunks[:failed] {
			rows += len(c.rows)
		}
		state = fmt.Sprintf("requests 1-%d (lines %d-%d, %d products) were applied", failed, chunks[0].first, chunks[failed-1].last, rows)
	}
	// An error answer from the origin changed nothing; no answer at all, or
	// a gateway's timeout, leaves it unknown.
	var apiErr2 *adminclient.Error
	var dial *net.OpError
	neverSent := errors.As(err, &dial) && dial.Op == "dial"
	if neverSent || errors.As(err, &apiErr2) && apiErr2.Status != 502 && apiErr2.Status != 504 {
		state += fmt.Sprintf("; request %d was not applied", failed+1)
	} else {
		state += fmt.Sprintf("; request %d may or may not have been applied", failed+1)
	}
	if rest := len(chunks) - failed - 1; rest > 0 {
		state += fmt.Sprintf(" and the %d after it were not sent", rest)
	}
	return &rejected{fmt.Sprintf("%s into live %s: %s. Fix the cause and run the same command again: re-sending applied rows is safe.", name, live, state)}
}
