package productfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"livecommerce/origin/shop"
)

// readJSON takes the body PUT /admin/v1/lives/{live}/products takes: an
// array of product objects. Each element's problems are on the line the
// element starts on.
func readJSON(r io.Reader) ([]Row, []Problem, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, []Problem{{Line: 1, Reason: "file is empty; expected a JSON array of products"}}, nil
	}
	// encoding/json would silently turn bad bytes into U+FFFD.
	if problems := invalidUTF8Lines(data); len(problems) > 0 {
		return nil, problems, nil
	}
	// Offsets only move forward while the array is read, so lines are
	// counted from the last offset asked about: linear, not quadratic, in
	// the size of the file.
	var seenOff int64
	seenLine := 1
	lineAt := func(off int64) int {
		off = max(0, min(off, int64(len(data))))
		if off < seenOff {
			return 1 + bytes.Count(data[:off], []byte("\n"))
		}
		seenLine += bytes.Count(data[seenOff:off], []byte("\n"))
		seenOff = off
		return seenLine
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, []Problem{{Line: lineAt(dec.InputOffset()), Reason: "expected a JSON array of products"}}, nil
	}
	var raws []json.RawMessage
	var lines []int
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, []Problem{{Line: lineAt(dec.InputOffset()), Reason: "JSON syntax: " + jsonSyntax(err)}}, nil
		}
		if len(raws) >= MaxRows {
			return nil, []Problem{{Line: lineAt(dec.InputOffset()), Reason: fmt.Sprintf("more than %d products; split the file", MaxRows)}}, nil
		}
		raws = append(raws, raw)
		lines = append(lines, lineAt(dec.InputOffset()-int64(len(raw))))
	}
	if _, err := dec.Token(); err != nil {
		return nil, []Problem{{Line: lineAt(dec.InputOffset()), Reason: "JSON syntax: " + jsonSyntax(err)}}, nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, []Problem{{Line: lineAt(dec.InputOffset()), Reason: "unexpected content after the array"}}, nil
	}
	if len(raws) == 0 {
		return nil, []Problem{{Line: 1, Reason: "the array holds no products"}}, nil
	}
	inputs, errs := shop.DecodeProducts(raws)
	rows := make([]Row, len(inputs))
	for i := range inputs {
		rows[i] = Row{Line: lines[i], Product: inputs[i]}
	}
	var problems []Problem
	undecoded := map[int]bool{}
	for _, e := range errs {
		problems = append(problems, Problem{Line: lines[e.Row-1], Field: e.Field, Reason: e.Reason})
		undecoded[e.Row-1] = true
	}
	// Decoding stops at a row's first bad field, so the rest of that row
	// is unknown; checking it would only report its later fields missing.
	kept := rows[:0]
	for i, r := range rows {
		if !undecoded[i] {
			kept = append(kept, r)
		}
	}
	rows = kept
	for _, r := range rows {
		for _, f := range []struct {
			name string
			v    *string
		}{{"sku", r.Product.SKU}, {"name", r.Product.Name}, {"currency", r.Product.Currency}} {
			if f.v != nil && len(*f.v) > MaxFieldBytes {
				problems = append(problems, Problem{Line: r.Line, Field: f.name, Reason: fmt.Sprintf("longer than %d bytes", MaxFieldBytes)})
			}
		}
	}
	return rows, problems, nil
}

func jsonSyntax(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return se.Error()
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return "unexpected end of file"
	}
	return "not valid JSON"
}

func invalidUTF8Lines(data []byte) []Problem {
	var problems []Problem
	for i, line := range bytes.Split(data, []byte("\n")) {
		if !utf8.Valid(line) {
			problems = append(problems, Problem{Line: i + 1, Reason: "not valid UTF-8; save the file as UTF-8"})
		}
	}
	return problems
}
