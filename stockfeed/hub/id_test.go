package hub

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"livecommerce/internal/stock"
)

func TestIDRoundTrip(t *testing.T) {
	keys := []key{
		{"A1", 1},
		{"A1", 88},
		{"sku_-9", 1 << 40},
		{"x", math.MaxInt64},
		{strings.Repeat("s", 64), math.MaxInt64}, // the longest id there is
		{"0", 10},
	}
	for _, k := range keys {
		s := formatID(k)
		got, ok := parseID(s)
		if !ok || got != k {
			t.Errorf("parseID(formatID(%+v) = %q) = %+v, %v; want %+v, true", k, s, got, ok, k)
		}
	}
	if got, want := formatID(key{"A1", 7}), "A1:7"; got != want {
		t.Errorf("formatID(A1, 7) = %q, want %q", got, want)
	}
}

func TestParseIDRejects(t *testing.T) {
	tests := []struct {
		name, id string
	}{
		{"empty", ""},
		{"colon only", ":"},
		{"no colon", "A1"},
		{"no version", "A1:"},
		{"no sku", ":1"},
		{"version zero", "A1:0"},
		{"version negative", "A1:-1"},
		{"leading zero", "A1:01"},
		{"plus sign", "A1:+1"},
		{"space before version", "A1: 1"},
		{"trailing space", "A1:1 "},
		{"leading space", " A1:1"},
		{"overflow", "A1:99999999999999999999"},
		{"max int64 plus one", "A1:9223372036854775808"},
		{"hex", "A1:0x10"},
		{"underscore digits", "A1:1_000"},
		{"fraction", "A1:1.5"},
		{"exponent", "A1:1e3"},
		{"fullwidth digit", "A1:１"},
		{"two colons", "A1:1:1"},
		{"colon in sku", "A:1:2"},
		{"path in sku", "../x:1"},
		{"dot in sku", "a.b:1"},
		{"wildcard sku", ">:1"},
		{"NUL in sku", "A\x001:1"},
		{"NUL after version", "A1:1\x00"},
		{"newline after version", "A1:1\n"},
		{"unicode sku", "é:1"},
		{"invalid utf-8 sku", "\xff:1"},
		{"sku 65 chars", strings.Repeat("a", 65) + ":1"},
		{"10 KB", strings.Repeat("A", 10<<10) + ":1"},
		{"percent-encoded", "A%31:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, ok := parseID(tt.id); ok {
				t.Errorf("parseID(%.100q) = %+v, true; want rejected", tt.id, k)
			}
		})
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"A1:1", "A1:88", "x:9223372036854775807", strings.Repeat("s", 64) + ":9223372036854775807",
		"", ":", "A1:", ":1", "A1:0", "A1:-1", "A1:01", "A1:+1", "A1:99999999999999999999",
		"../x:1", "A1:1\x00", "a:b:1", "é:1", strings.Repeat("A", 200) + ":1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := parseID(s)
		if !ok {
			if k != (key{}) {
				t.Fatalf("parseID(%q) rejected but returned %+v", s, k)
			}
			return
		}
		// Only ids this package could have written are accepted, and they
		// name exactly one position: formatting gives the input back.
		if !stock.ValidID(k.sku) || k.version <= 0 {
			t.Fatalf("parseID(%q) accepted %+v", s, k)
		}
		if got := formatID(k); got != s {
			t.Fatalf("formatID(parseID(%q)) = %q", s, got)
		}
		if want := k.sku + ":" + strconv.FormatInt(k.version, 10); want != s {
			t.Fatalf("parseID(%q) = %+v", s, k)
		}
	})
}
