package productfile

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"livecommerce/origin/shop"
)

// Columns are the product fields a CSV header may name, in the API's
// order; low_stock_threshold is optional.
var Columns = []string{"sku", "name", "price", "currency", "stock", "per_buyer_limit", "low_stock_threshold"}

// Aliases are other header names accepted for a field, after the header
// is lower-cased, trimmed, and spaces and hyphens are made underscores.
var Aliases = map[string]string{
	"product_name": "name",
	"quantity":     "stock",
	"qty":          "stock",
	"limit":        "per_buyer_limit",
	"buyer_limit":  "per_buyer_limit",
	"low_stock":    "low_stock_threshold",
	"threshold":    "low_stock_threshold",
}

// intRange is each integer field's bounds, to explain a number too large
// to parse in the same words the origin uses for one out of range.
var intRange = map[string][2]int64{
	"price":               {0, shop.MaxPrice},
	"stock":               {0, shop.MaxStock},
	"per_buyer_limit":     {1, shop.MaxLimit},
	"low_stock_threshold": {0, shop.MaxStock},
}

func normalizeColumn(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.NewReplacer(" ", "_", "-", "_").Replace(h)
	if f, ok := Aliases[h]; ok {
		return f
	}
	return h
}

func known(field string) bool {
	for _, c := range Columns {
		if c == field {
			return true
		}
	}
	return false
}

// header maps each column to its field, or returns every problem with it.
func header(rec []string) ([]string, []Problem) {
	var problems []Problem
	bad := func(field, reason string) {
		problems = append(problems, Problem{Line: 1, Field: field, Reason: reason})
	}
	fields := make([]string, len(rec))
	seen := map[string]int{}
	for i, raw := range rec {
		if !utf8.ValidString(raw) {
			bad(fmt.Sprintf("column %d", i+1), "header is not valid UTF-8; save the file as UTF-8")
			continue
		}
		f := normalizeColumn(raw)
		switch {
		case f == "":
			bad(fmt.Sprintf("column %d", i+1), "empty column name")
		case len(raw) > 100:
			bad(fmt.Sprintf("column %d", i+1), "column name longer than 100 bytes")
		case !known(f):
			bad(strconv.Quote(strings.TrimSpace(raw)), fmt.Sprintf("unknown column %d; the columns are %s (see merchantctl upload --help for aliases)", i+1, strings.Join(Columns, ", ")))
		default:
			if first, dup := seen[f]; dup {
				bad(f, fmt.Sprintf("columns %d (%q) and %d (%q) are both %s", first+1, strings.TrimSpace(rec[first]), i+1, strings.TrimSpace(raw), f))
				continue
			}
			seen[f] = i
			fields[i] = f
		}
	}
	for _, c := range Columns {
		if _, ok := seen[c]; !ok && c != "low_stock_threshold" {
			bad(c, "required column missing")
		}
	}
	return fields, problems
}

func readCSV(r io.Reader) ([]Row, []Problem, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // ragged rows are reported, not fatal
	cr.ReuseRecord = true
	rec, err := cr.Read()
	if err == io.EOF {
		return nil, []Problem{{Line: 1, Reason: "file is empty; the first line must be a header naming the columns (" + strings.Join(Columns, ",") + ")"}}, nil
	}
	if err != nil {
		return nil, csvProblem(err), notParse(err)
	}
	fields, problems := header(rec)
	if len(problems) > 0 {
		return nil, problems, nil
	}
	headerLine, _ := cr.FieldPos(0)
	var rows []Row
	records := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rows, append(problems, csvProblem(err)...), notParse(err)
		}
		line, _ := cr.FieldPos(0)
		records++
		if records > MaxRows {
			return rows, append(problems, Problem{Line: line, Reason: fmt.Sprintf("more than %d product rows; split the file", MaxRows)}), nil
		}
		if len(rec) != len(fields) {
			problems = append(problems, Problem{Line: line, Reason: fmt.Sprintf("row has %d fields, the header has %d", len(rec), len(fields))})
			continue // its cells cannot be matched to columns, so they are not checked
		}
		row := Row{Line: line}
		for i, cell := range rec {
			if p, ok := cellProblem(fields[i], cell); !ok {
				problems = append(problems, Problem{Line: line, Field: fields[i], Reason: p})
				continue
			}
			if err := setField(&row.Product, fields[i], cell); err != "" {
				problems = append(problems, Problem{Line: line, Field: fields[i], Reason: err})
			}
		}
		rows = append(rows, row)
		if len(problems) >= MaxProblems {
			// A hostile file could otherwise hold millions of them.
			return nil, append(problems, Problem{Line: line, Reason: fmt.Sprintf("more than %d problems; stopped reading here", MaxProblems)}), nil
		}
	}
	if records == 0 {
		return nil, append(problems, Problem{Line: headerLine + 1, Reason: "no product rows after the header"}), nil
	}
	return rows, problems, nil
}

func cellProblem(field, cell string) (string, bool) {
	switch {
	case len(cell) > MaxFieldBytes:
		return fmt.Sprintf("longer than %d bytes", MaxFieldBytes), false
	case !utf8.ValidString(cell):
		return "not valid UTF-8; save the file as UTF-8", false
	}
	return "", true
}

// setField stores one cell. An empty cell leaves the field unset, which
// the row rules report as required (or, for the threshold, as zero).
func setField(p *shop.ProductInput, field, cell string) string {
	if cell == "" {
		return ""
	}
	if _, isInt := intRange[field]; isInt {
		n, reason := parseInt(field, cell)
		if reason != "" {
			return reason
		}
		switch field {
		case "price":
			p.Price = &n
		case "stock":
			p.Stock = &n
		case "per_buyer_limit":
			p.PerBuyerLimit = &n
		case "low_stock_threshold":
			p.LowStockThreshold = &n
		}
		return ""
	}
	s := cell
	switch field {
	case "sku":
		p.SKU = &s
	case "name":
		p.Name = &s
	case "currency":
		p.Currency = &s
	}
	return ""
}

// parseInt accepts a plain integer in decimal digits: no sign but minus,
// no separators, fractions or exponents, so "1,000" or "1e3" are never
// guessed at.
func parseInt(field, cell string) (int64, string) {
	t := strings.TrimSpace(cell)
	digits := strings.TrimPrefix(t, "-")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Sprintf("%s is not a whole number (digits only, no separators, decimals or exponents)", quoteCell(cell))
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		r := intRange[field]
		return 0, fmt.Sprintf("must be between %d and %d", r[0], r[1])
	}
	return n, ""
}

// quoteCell quotes a cell for a message, cut short so a long cell does
// not flood the terminal.
func quoteCell(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "…"
	}
	return strconv.Quote(s)
}

func csvProblem(err error) []Problem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return []Problem{{Line: pe.Line, Reason: "CSV syntax: " + pe.Err.Error() + "; stopped reading"}}
	}
	return nil
}

// notParse keeps reading failures (and limits) as errors; CSV syntax
// errors are already problems.
func notParse(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil
	}
	return err
}
