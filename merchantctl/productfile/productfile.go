// Package productfile reads a merchant's product file (CSV or JSON) and
// checks every row before anything is sent, so a bad file is answered with
// all of its problems at once, each with the line it is on, and nothing is
// applied. The row rules are the origin's own (shop.ValidateProducts);
// this package adds what only a file can get wrong: encoding, columns,
// sizes, duplicate skus across the whole file, and cells a spreadsheet
// would run as formulas.
package productfile

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"livecommerce/origin/shop"
)

// Limits bound what a file may hold, so a hostile file costs at most
// MaxFileBytes of reading and never an unbounded line or field.
const (
	MaxFileBytes  = 64 << 20
	MaxFieldBytes = 4 << 10
	// MaxLineBytes is one physical line: seven fields of MaxFieldBytes
	// with room for quoting; anything longer is refused as it is read.
	MaxLineBytes = 64 << 10
	MaxRows      = 1_000_000
)

// Format is a file's syntax.
type Format string

// The formats a product file may have.
const (
	CSV  Format = "csv"
	JSON Format = "json"
)

// FormatOf picks the format from a file name's extension; ok is false
// when the extension names neither.
func FormatOf(name string) (Format, bool) {
	switch {
	case strings.HasSuffix(strings.ToLower(name), ".csv"):
		return CSV, true
	case strings.HasSuffix(strings.ToLower(name), ".json"):
		return JSON, true
	}
	return "", false
}

// Row is one product and the line of the file it starts on.
type Row struct {
	Line    int
	Product shop.ProductInput
}

// MaxProblems is how many problems a file is reported with at most; past
// that, reading stops (a hostile file must not fill memory or the screen).
const MaxProblems = 1000

// Problem is one reason a file is refused. Field is a product field, a
// column name, or empty for the file or line as a whole.
type Problem struct {
	Line   int
	Field  string
	Reason string
}

// Format renders the problem as FILE:LINE: field: reason.
func (p Problem) Format(file string) string {
	if p.Field == "" {
		return fmt.Sprintf("%s:%d: %s", file, p.Line, p.Reason)
	}
	return fmt.Sprintf("%s:%d: %s: %s", file, p.Line, p.Field, p.Reason)
}

// Read parses and checks a whole file. It returns the rows only when the
// file has no problem at all; otherwise the problems, sorted by line. err
// is for reading failures only.
func Read(r io.Reader, f Format) ([]Row, []Problem, error) {
	lr := &limitReader{r: r, line: 1}
	if f == CSV {
		// A JSON file may be minified onto one line; its fields are
		// checked once decoded.
		lr.maxLine = MaxLineBytes
	}
	br := bufio.NewReaderSize(lr, 64<<10)
	// A UTF-8 byte order mark, as spreadsheets write, is not content.
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	var (
		rows     []Row
		problems []Problem
		err      error
	)
	switch f {
	case CSV:
		rows, problems, err = readCSV(br)
	case JSON:
		rows, problems, err = readJSON(br)
	default:
		return nil, nil, fmt.Errorf("productfile: unknown format %q", f)
	}
	var tooLong *limitError
	stopped := errors.As(err, &tooLong)
	if stopped {
		problems = append(problems, Problem{Line: tooLong.line, Reason: tooLong.reason})
		err = nil
	}
	if err != nil {
		return nil, nil, err
	}
	// A file that hit a limit is refused as a whole: the rows read before
	// it are not worth checking one by one.
	if !stopped && len(problems) < MaxProblems {
		problems = merge(problems, rows)
	}
	if len(problems) > 0 {
		sortProblems(problems)
		if len(problems) > MaxProblems {
			n := len(problems) - MaxProblems
			problems = append(problems[:MaxProblems], Problem{Line: problems[MaxProblems].Line,
				Reason: fmt.Sprintf("and %d more problems from here on; fix these first", n)})
		}
		return nil, problems, nil
	}
	return rows, nil, nil
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
}

// limitReader counts lines and bytes as they are read and fails as soon
// as a line or the file grows past its limit, before the CSV reader
// buffers it.
type limitReader struct {
	r       io.Reader
	total   int64
	line    int // line of the next byte
	lineLen int
	maxLine int // 0: no limit
}

type limitError struct {
	line   int
	reason string
}

func (e *limitError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.reason) }

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i, b := range p[:n] {
		l.total++
		if l.total > MaxFileBytes {
			return i, &limitError{line: l.line, reason: fmt.Sprintf("file is larger than %d MiB; split it", MaxFileBytes>>20)}
		}
		if b == '\n' {
			l.line++
			l.lineLen = 0
			continue
		}
		l.lineLen++
		if l.maxLine > 0 && l.lineLen > l.maxLine {
			return i, &limitError{line: l.line, reason: fmt.Sprintf("line is longer than %d KiB (a field holds at most %d bytes); stopped reading", MaxLineBytes>>10, MaxFieldBytes)}
		}
	}
	return n, err
}
