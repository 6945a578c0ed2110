package stock_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"livecommerce/internal/stock"
)

func sampleLevel() stock.Level {
	return stock.Level{
		SKU: "A1", LiveID: "L1", Remaining: 41, Status: stock.InStock, Version: 88,
		UpdatedAt: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC),
	}
}

// sameEvent compares two events field by field; times by instant, since
// decoding gives a location of its own.
func sameEvent(t *testing.T, got, want stock.Event) {
	t.Helper()
	if got.Schema != want.Schema || got.SKU != want.SKU || got.LiveID != want.LiveID ||
		got.Remaining != want.Remaining || got.Status != want.Status || got.Version != want.Version ||
		!got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestEventWireFormat fails when a field name of the event drifts: the feed,
// the edge invalidator and browsers all read these names.
func TestEventWireFormat(t *testing.T) {
	b, err := json.Marshal(stock.NewEvent(sampleLevel()))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"schema":1,"sku":"A1","live_id":"L1","remaining":41,"status":"in_stock","version":88,"updated_at":"2024-05-01T12:00:00.123456789Z"}`
	if string(b) != want {
		t.Errorf("event JSON\ngot  %s\nwant %s", b, want)
	}
}

func TestDecodeEventRoundTrip(t *testing.T) {
	levels := []stock.Level{
		sampleLevel(),
		{SKU: "x", LiveID: strings.Repeat("L", 64), Remaining: 0, Status: stock.SoldOut, Version: 1,
			UpdatedAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)},
		{SKU: "sku_-9", LiveID: "live-1", Remaining: 3, Status: stock.LowStock, Version: 1 << 62,
			UpdatedAt: time.Now().UTC().Truncate(time.Millisecond)},
	}
	for _, l := range levels {
		e := stock.NewEvent(l)
		if e.Schema != stock.EventSchema {
			t.Errorf("NewEvent schema = %d, want %d", e.Schema, stock.EventSchema)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := stock.DecodeEvent(b)
		if err != nil {
			t.Fatalf("DecodeEvent(%s): %v", b, err)
		}
		sameEvent(t, got, e)
	}
}

func TestDecodeEventRejects(t *testing.T) {
	valid := map[string]any{
		"schema": 1, "sku": "A1", "live_id": "L1", "remaining": 41,
		"status": "in_stock", "version": 88, "updated_at": "2024-05-01T12:00:00Z",
	}
	// with returns the valid event with one field changed (or removed when
	// v is nil).
	with := func(field string, v any) []byte {
		m := map[string]any{}
		for k, x := range valid {
			m[k] = x
		}
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	validJSON := with("schema", 1)
	if _, err := stock.DecodeEvent(validJSON); err != nil {
		t.Fatalf("DecodeEvent(%s) = %v, want the base case accepted", validJSON, err)
	}
	padded := func(n int) []byte {
		// Whitespace is valid JSON: only the size is wrong.
		return append(append([]byte{}, validJSON[:len(validJSON)-1]...), append([]byte(strings.Repeat(" ", n-len(validJSON))), '}')...)
	}

	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"not json", []byte("stock changed")},
		{"truncated", validJSON[:len(validJSON)-5]},
		{"trailing garbage", append(append([]byte{}, validJSON...), "x"...)},
		{"two objects", append(append([]byte{}, validJSON...), validJSON...)},
		{"json null", []byte("null")},
		{"json array", []byte("[]")},
		{"json string", []byte(`"A1"`)},
		{"empty object", []byte("{}")},
		{"schema 0", with("schema", 0)},
		{"schema 2", with("schema", 2)},
		{"schema missing", with("schema", nil)},
		{"schema as string", with("schema", "1")},
		{"sku missing", with("sku", nil)},
		{"sku empty", with("sku", "")},
		{"sku 65 chars", with("sku", strings.Repeat("a", 65))},
		{"sku path", with("sku", "../etc")},
		{"sku nats wildcard", with("sku", ">")},
		{"sku NUL", with("sku", "A\x001")},
		{"sku unicode", with("sku", "ＡＢ")},
		{"sku number", with("sku", 7)},
		{"live_id missing", with("live_id", nil)},
		{"live_id with dot", with("live_id", "L1.x")},
		{"live_id with space", with("live_id", "L 1")},
		{"negative remaining", with("remaining", -1)},
		{"fractional remaining", with("remaining", 1.5)},
		{"remaining overflow", []byte(strings.Replace(string(validJSON), `"remaining":41`, `"remaining":9223372036854775808`, 1))},
		{"version zero", with("version", 0)},
		{"version negative", with("version", -5)},
		{"version missing", with("version", nil)},
		{"status unknown", with("status", "available")},
		{"status empty", with("status", "")},
		{"status wrong case", with("status", "IN_STOCK")},
		{"status missing", with("status", nil)},
		{"updated_at missing", with("updated_at", nil)},
		{"updated_at zero", with("updated_at", "0001-01-01T00:00:00Z")},
		{"updated_at not a time", with("updated_at", "yesterday")},
		{"updated_at unix seconds", with("updated_at", 1714564800)},
		{"updated_at far future", with("updated_at", time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339))},
		{"5 KB body", padded(5 << 10)},
		{"5 KB sku", with("sku", strings.Repeat("a", 5<<10))},
		{"deep nesting", []byte(strings.Repeat("[", 5000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := stock.DecodeEvent(tt.body)
			if err == nil {
				t.Errorf("DecodeEvent(%.200q) = %+v, nil; want an error", tt.body, e)
			}
		})
	}
}

func TestDecodeEventSizeLimit(t *testing.T) {
	base, err := json.Marshal(stock.NewEvent(sampleLevel()))
	if err != nil {
		t.Fatal(err)
	}
	pad := func(n int) []byte {
		return append(append([]byte{}, base...), strings.Repeat(" ", n-len(base))...)
	}
	if _, err := stock.DecodeEvent(pad(4096)); err != nil {
		t.Errorf("DecodeEvent(4096 bytes) = %v, want accepted", err)
	}
	if _, err := stock.DecodeEvent(pad(4097)); err == nil {
		t.Errorf("DecodeEvent(4097 bytes) = nil, want an error")
	}
}

func FuzzDecodeEvent(f *testing.F) {
	valid, err := json.Marshal(stock.NewEvent(sampleLevel()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"schema":1,"sku":"a","live_id":"b","remaining":0,"status":"sold_out","version":1,"updated_at":"2000-01-01T00:00:00+09:00"}`))
	f.Add([]byte(`{"schema":1,"sku":"a","live_id":"b","remaining":-1,"status":"sold_out","version":1,"updated_at":"2000-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"schema":1,"SKU":"a","LIVE_ID":"b","remaining":2,"status":"low_stock","version":9,"updated_at":"2000-01-01T00:00:00Z","extra":[1,2]}`))
	f.Add([]byte(`{"schema":1,"sku":"../x","live_id":"b","remaining":1,"status":"in_stock","version":1,"updated_at":"2000-01-01T00:00:00Z"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"schema":1e0}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := stock.DecodeEvent(data)
		if err != nil {
			return
		}
		// What is accepted holds the invariants consumers rely on.
		if e.Schema != stock.EventSchema || !stock.ValidID(e.SKU) || !stock.ValidID(e.LiveID) ||
			e.Remaining < 0 || e.Version <= 0 || e.UpdatedAt.IsZero() {
			t.Fatalf("DecodeEvent(%q) accepted %+v", data, e)
		}
		switch e.Status {
		case stock.InStock, stock.LowStock, stock.SoldOut:
		default:
			t.Fatalf("DecodeEvent(%q) accepted status %q", data, e.Status)
		}
		// And it survives a trip through the wire unchanged.
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-encode of accepted %+v: %v", e, err)
		}
		again, err := stock.DecodeEvent(b)
		if err != nil {
			t.Fatalf("DecodeEvent(re-encoded %s) = %v, want accepted (input %q)", b, err, data)
		}
		sameEvent(t, again, e)
	})
}
