package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"livecommerce/internal/stock"
	"livecommerce/merchantctl/adminclient"
)

const reportHelp = `Usage: merchantctl report --live LIVE [--json]

Prints units sold, remaining and revenue per sku of a live, summed by the
origin from its orders. Revenue is shown in the currency's major units
(JPY 1999 -> "JPY 1,999", USD 1999 -> "USD 19.99"); --json prints the
origin's answer unchanged.

Examples:
  merchantctl report --live spring-sale
  merchantctl report --live spring-sale --json > report.json
`

const livesHelp = `Usage: merchantctl lives [--json]

Lists your lives, newest first, with their sale windows and product counts;
--json prints the origin's answer unchanged.

Examples:
  merchantctl lives
  merchantctl lives --json
`

func runReport(ctx context.Context, e Env, args []string) error {
	var c common
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	c.register(fs)
	live := fs.String("live", "", "")
	asJSON := fs.Bool("json", false, "")
	pos, err := parse(e, fs, reportHelp, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %s", shown(pos[0]))
	case *live == "":
		return usagef("--live is required")
	case !stock.ValidID(*live):
		return usagef("--live must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	s, err := c.load(e.Getenv, true)
	if err != nil {
		return err
	}
	r, raw, err := adminclient.New(s.Origin, s.Key, s.Timeout).Report(ctx, *live)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeRaw(e.Stdout, raw)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SKU\tNAME\tSTOCK\tSOLD\tREMAINING\tREVENUE\t")
	totals := map[string]int64{}
	var sold int64
	for _, p := range r.Products {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t\n", cell(p.SKU), cell(p.Name), p.Stock, p.UnitsSold, p.Remaining, Money(p.Revenue, p.Currency))
		totals[p.Currency] += p.Revenue
		sold += p.UnitsSold
	}
	currencies := make([]string, 0, len(totals))
	for cur := range totals {
		currencies = append(currencies, cur)
	}
	sort.Strings(currencies)
	for i, cur := range currencies {
		label, n := "", ""
		if i == 0 {
			label, n = "TOTAL", strconv.FormatInt(sold, 10)
		}
		fmt.Fprintf(tw, "%s\t\t\t%s\t\t%s\t\n", label, n, Money(totals[cur], cur))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "live %s: %d products, generated %s\n", r.LiveID, len(r.Products), r.GeneratedAt.UTC().Format(time.RFC3339))
	return nil
}

func runLives(ctx context.Context, e Env, args []string) error {
	var c common
	fs := flag.NewFlagSet("lives", flag.ContinueOnError)
	c.register(fs)
	asJSON := fs.Bool("json", false, "")
	pos, err := parse(e, fs, livesHelp, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %s", shown(pos[0]))
	}
	s, err := c.load(e.Getenv, true)
	if err != nil {
		return err
	}
	lives, raw, err := adminclient.New(s.Origin, s.Key, s.Timeout).Lives(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeRaw(e.Stdout, raw)
	}
	if len(lives) == 0 {
		fmt.Fprintln(e.Stdout, "no lives yet: create one with merchantctl upload --live LIVE --title TITLE FILE")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LIVE\tTITLE\tPRODUCTS\tSALE STARTS\tSALE ENDS\tUPDATED")
	for _, l := range lives {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", cell(l.LiveID), cell(l.Title), l.Products, timeCell(l.SaleStartsAt), timeCell(l.SaleEndsAt), l.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func writeRaw(w io.Writer, raw []byte) error {
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

func timeCell(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// cell makes server text safe for a table: no tabs or control characters
// to break the columns or drive the terminal.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// minorUnits are the ISO 4217 currencies without two decimal places.
var minorUnits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// Money formats an amount in minor units with its currency's decimals and
// thousands separators: Money(1999, "JPY") is "JPY 1,999", Money(1999,
// "USD") is "USD 19.99".
func Money(minor int64, currency string) string {
	digits, ok := minorUnits[currency]
	if !ok {
		digits = 2
	}
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-minor) // -MinInt64 wraps to itself, which uint64 reads right
	}
	s := strconv.FormatUint(u, 10)
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	whole, frac := s[:len(s)-digits], s[len(s)-digits:]
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := currency + " " + sign + b.String()
	if digits > 0 {
		out += "." + frac
	}
	return out
}
