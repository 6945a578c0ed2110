package productfile

import (
	"fmt"

	"livecommerce/origin/shop"
)

// formulaProblem applies the origin's spreadsheet-formula rule
// (shop.FormulaStart), and calls a leading tab or carriage return by the
// same name: spreadsheets run those cells as formulas too, and the origin
// refuses them as control characters.
func formulaProblem(v *string) (string, bool) {
	if v == nil || *v == "" || !(shop.FormulaStart(*v) || (*v)[0] == '\t' || (*v)[0] == '\r') {
		return "", false
	}
	return fmt.Sprintf("starts with %q, which a spreadsheet would run as a formula; remove or change the first character", (*v)[:1]), true
}

type problemKey struct {
	line  int
	field string
}

// Check applies the rules every file shares: no formula cells, no sku
// twice in the file (the server only sees one chunk at a time), and the
// origin's own row rules. A field with a problem found earlier is not
// reported twice.
func Check(rows []Row) []Problem {
	return merge(nil, rows)
}

// merge adds Check's problems to those already found while reading, one
// per line and field.
func merge(found []Problem, rows []Row) []Problem {
	have := make(map[problemKey]bool, len(found))
	for _, p := range found {
		have[problemKey{p.Line, p.Field}] = true
	}
	add := func(p Problem) {
		found = append(found, p)
		have[problemKey{p.Line, p.Field}] = true
	}
	firstLine := make(map[string]int, len(rows))
	for _, r := range rows {
		for _, f := range []struct {
			name string
			v    *string
		}{{"sku", r.Product.SKU}, {"name", r.Product.Name}, {"currency", r.Product.Currency}} {
			if reason, bad := formulaProblem(f.v); bad && !have[problemKey{r.Line, f.name}] {
				add(Problem{Line: r.Line, Field: f.name, Reason: reason})
			}
		}
		if r.Product.SKU == nil || have[problemKey{r.Line, "sku"}] {
			continue
		}
		sku := *r.Product.SKU
		if first, dup := firstLine[sku]; dup {
			add(Problem{Line: r.Line, Field: "sku", Reason: fmt.Sprintf("%q duplicates line %d", sku, first)})
			found = append(found, Problem{Line: first, Field: "sku", Reason: fmt.Sprintf("%q is repeated on line %d", sku, r.Line)})
			continue
		}
		firstLine[sku] = r.Line
	}
	inputs := make([]shop.ProductInput, len(rows))
	for i, r := range rows {
		inputs[i] = r.Product
	}
	_, errs := shop.ValidateProducts(inputs)
	for _, e := range errs {
		line := rows[e.Row-1].Line
		if have[problemKey{line, e.Field}] {
			continue
		}
		found = append(found, Problem{Line: line, Field: e.Field, Reason: e.Reason})
	}
	return found
}
