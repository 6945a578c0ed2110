package markdown

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDocTable(t *testing.T) {
	var d Doc
	d.Line("# %s", "Title")
	d.Line("")
	d.Table("Result", "Value", "")
	d.Row("a", "1", "")
	d.Row("b", "", "ok")
	want := "# Title\n\n| Result | Value | |\n|---|---|---|\n| a | 1 | |\n| b | | ok |\n"
	if got := d.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDur(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{-5 * time.Millisecond, "0"},
		{500 * time.Microsecond, "0.50 ms"},
		{time.Millisecond, "1.0 ms"},
		{2500 * time.Microsecond, "2.5 ms"},
		{10 * time.Millisecond, "10 ms"},
		{250 * time.Millisecond, "250 ms"},
		{9999 * time.Millisecond, "9999 ms"},
		{10 * time.Second, "10.0 s"},
		{90 * time.Second, "90.0 s"},
	}
	for _, tc := range tests {
		if got := Dur(tc.d); got != tc.want {
			t.Errorf("Dur(%s): got %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestNum(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{999, "999"},
		{1000, "1,000"},
		{12.4, "12"},
		{999.5, "1,000"},
		{1234567, "1,234,567"},
		{-999, "-999"},
		{-1234, "-1,234"},
		{-1_000_000, "-1,000,000"},
		{200_000, "200,000"},
		{-0.2, "0"},
		{math.NaN(), "n/a"},
		{math.Inf(1), "n/a"},
	}
	for _, tc := range tests {
		if got := Num(tc.v); got != tc.want {
			t.Errorf("Num(%g): got %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{20, 2, "10×"},
		{3, 2, "1.5×"},
		{1, 3, "0.3×"},
		{123, 1, "123×"},
		{0, 5, "n/a"},
		{5, 0, "n/a"},
		{-1, 5, "n/a"},
		{math.NaN(), 1, "n/a"},
		{1, math.NaN(), "n/a"},
	}
	for _, tc := range tests {
		if got := Ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("Ratio(%g, %g): got %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a|b\nc", `a\|b c`},
		{"x\r\ny", "x  y"},
		{"||", `\|\|`},
	}
	for _, tc := range tests {
		if got := Cell(tc.in); got != tc.want {
			t.Errorf("Cell(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
	long := Cell(strings.Repeat("a|\n", 1000))
	if !strings.HasSuffix(long, "…") || len(long) > maxCell+len("…") {
		t.Errorf("a long cell: got %d bytes ending %q, want at most %d and an ellipsis", len(long), long[len(long)-5:], maxCell)
	}
	if strings.ContainsAny(long, "\r\n") {
		t.Error("a long cell kept a line break")
	}
	// A cut never splits a character.
	if cut := Cell(strings.Repeat("é", 400)); !strings.HasSuffix(cut, "é…") {
		t.Errorf("a long cell of two-byte characters ends %q", cut[len(cut)-8:])
	}
}
