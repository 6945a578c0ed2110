package feedclient

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"livecommerce/internal/stock"
)

func TestParseChange(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	compact, err := json.Marshal(stock.Level{SKU: "sku-007", LiveID: "L1", Remaining: 5, Status: stock.LowStock, Version: 42, UpdatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	other, err := json.Marshal(stock.Level{SKU: "sku-007", LiveID: "L2", Remaining: 5, Status: stock.LowStock, Version: 42, UpdatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	spaced := `{ "version": 42, "live_id": "L1", "sku": "sku-007", "updated_at": "2026-05-01T12:00:00.123456789Z" }`
	tests := []struct {
		name    string
		id      string
		data    string
		want    Change
		wantErr bool
	}{
		{"compact, as the feed writes it", "sku-007:42", string(compact), Change{"sku-007", 42, at}, false},
		{"other layout, decoded in full", "sku-007:42", spaced, Change{"sku-007", 42, at}, false},
		{"id names another version", "sku-007:41", string(compact), Change{}, true},
		{"another live's event", "sku-007:42", string(other), Change{}, true},
		{"another live's event, decoded in full", "sku-007:42", strings.Replace(spaced, "L1", "L2", 1), Change{}, true},
		{"id names another sku", "sku-008:42", string(compact), Change{}, true},
		{"sku is a prefix of the id's", "sku-00:42", string(compact), Change{}, true},
		{"no id", "", string(compact), Change{}, true},
		{"not JSON", "sku-007:42", "sold out", Change{}, true},
		{"no updated_at", "sku-007:42", `{"sku":"sku-007","live_id":"L1","version":42}`, Change{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChange("L1", tt.id, tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseChange error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (got.SKU != tt.want.SKU || got.Version != tt.want.Version || !got.UpdatedAt.Equal(tt.want.UpdatedAt)) {
				t.Errorf("ParseChange = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseChange(f *testing.F) {
	f.Add("sku-1:3", `{"sku":"sku-1","live_id":"L","remaining":1,"status":"in_stock","version":3,"updated_at":"2026-01-01T00:00:00Z"}`)
	f.Add("a:1", `{"sku":"a","version":1,"updated_at":"x"}`)
	f.Fuzz(func(t *testing.T, id, data string) {
		c, err := ParseChange("L", id, data)
		if err == nil && !strings.HasPrefix(id, c.SKU+":") {
			t.Errorf("ParseChange(%q) accepted sku %q that the id does not name", id, c.SKU)
		}
	})
}

func TestRamp(t *testing.T) {
	errs := Ramp(t.Context(), 50, 4, func(_ context.Context, i int) error {
		if i%10 == 0 {
			return fmt.Errorf("stream %d", i)
		}
		return nil
	})
	failed := 0
	for i, err := range errs {
		if (err != nil) != (i%10 == 0) {
			t.Errorf("stream %d: error %v", i, err)
		}
		if err != nil {
			failed++
		}
	}
	if failed != 5 {
		t.Errorf("got %d failures, want 5", failed)
	}
}
