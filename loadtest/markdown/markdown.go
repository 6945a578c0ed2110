// Package markdown writes the load tools' reports: Markdown documents
// whose tables stay tables whatever a server answered, and the figures in
// them printed one way.
package markdown

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Doc is a Markdown document being written.
type Doc struct{ b strings.Builder }

// Line writes one line: format and args as fmt.Sprintf takes them.
func (d *Doc) Line(format string, args ...any) {
	fmt.Fprintf(&d.b, format, args...)
	d.b.WriteByte('\n')
}

// Table starts a table with its header.
func (d *Doc) Table(header ...string) {
	d.Row(header...)
	d.b.WriteByte('|')
	for range header {
		d.b.WriteString("---|")
	}
	d.b.WriteByte('\n')
}

// Row writes one row of a table. Cells are written as they are: pass
// text that did not come from the tool itself through Cell.
func (d *Doc) Row(cells ...string) {
	d.b.WriteByte('|')
	for _, c := range cells {
		if c != "" {
			d.b.WriteByte(' ')
			d.b.WriteString(c)
		}
		d.b.WriteString(" |")
	}
	d.b.WriteByte('\n')
}

// String is the document so far.
func (d *Doc) String() string { return d.b.String() }

// maxCell is the longest a Cell gets, in bytes.
const maxCell = 300

// Cell makes text safe inside a table cell: no pipe or line break can end
// the cell or the row, and a long text is cut.
func Cell(s string) string {
	s = strings.NewReplacer("|", "\\|", "\r", " ", "\n", " ").Replace(s)
	if len(s) > maxCell {
		i := maxCell
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

// Dur prints a latency: a precision that suits its size.
func Dur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d <= 0:
		return "0"
	case ms < 1:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 10_000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// Num prints a count, rounded, with thousands separators.
func Num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	v = math.Round(v)
	if v == 0 {
		v = 0 // no "-0"
	}
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Ratio prints a/b as "N×", or "n/a" when either is not positive.
func Ratio(a, b float64) string {
	if a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "n/a"
	}
	r := a / b
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.1f×", r)
}
