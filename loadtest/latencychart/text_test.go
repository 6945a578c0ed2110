package latencychart

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "purchase p99", "purchase p99"},
		{"markup is kept, to be escaped later", "</text><script>", "</text><script>"},
		{"white space folds to one line", "  a\tb\r\n\nc  ", "a b c"},
		{"C0 and C1 controls go", "a\x00b\x1b[31mc\x7fd\u0090e", "ab[31mcde"},
		{"invalid UTF-8 goes", "a\xff\xfeb", "ab"},
		{"XML-forbidden code points go", "a\uFFFEb\uFFFFc", "abc"},
		{"bidi overrides go", "a\u202Eevil\u202Cb", "aevilb"},
		{"other scripts stay", "注文 p99 ⏱", "注文 p99 ⏱"},
		{"empty", "", ""},
		{"only controls", "\x01\x02", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanText(tt.in, maxLabelRunes); got != tt.want {
				t.Errorf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanTextTruncates(t *testing.T) {
	long := strings.Repeat("é", 200)
	got := cleanText(long, maxLabelRunes)
	if n := utf8.RuneCountInString(got); n != maxLabelRunes {
		t.Errorf("got %d runes, want %d", n, maxLabelRunes)
	}
	if !strings.HasSuffix(got, "…") {
		t.Errorf("got %q, want it to end in an ellipsis", got)
	}
	if got := cleanText(strings.Repeat("x", maxLabelRunes), maxLabelRunes); strings.Contains(got, "…") {
		t.Errorf("a label of exactly %d runes was cut: %q", maxLabelRunes, got)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"abcdef", 10, "abcdef"},
		{"abcdef", 6, "abcdef"},
		{"abcdef", 4, "abc…"},
		{"ab def", 4, "ab…"},
		{"abcdef", 1, "…"},
		{"abcdef", 0, ""},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.limit); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	writeText(&b, `<a href="x">&'`)
	if got, want := b.String(), "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
