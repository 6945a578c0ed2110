package naiveorigin

import (
	"errors"
	"strings"
	"testing"

	"livecommerce/internal/stock"
)

func TestParsePurchase(t *testing.T) {
	tests := []struct {
		body    string
		wantSKU string
		wantQty int
		wantErr bool
	}{
		{`{"sku":"A1","quantity":1}`, "A1", 1, false},
		{` {"quantity":100, "sku":"a_b-C"} `, "a_b-C", 100, false},
		{`{"sku":"A1","quantity":1,"price":0,"extra":{"nested":[1,2]}}`, "A1", 1, false},
		{`{"sku":"A1","quantity":101}`, "", 0, true},
		{`{"sku":"A1","quantity":-0}`, "", 0, true},
		{`{"sku":"A1","quantity":1.0}`, "", 0, true},
		{`{"sku":"A1","quantity":null}`, "", 0, true},
		{`{"sku":null,"quantity":1}`, "", 0, true},
		{`{"sku":"","quantity":1}`, "", 0, true},
		{`{"sku":"A\u00e91","quantity":1}`, "", 0, true},
		{`{"sku":"A1","quantity":1}}`, "", 0, true},
		{`"A1"`, "", 0, true},
	}
	for _, tc := range tests {
		sku, qty, err := parsePurchase([]byte(tc.body))
		if (err != nil) != tc.wantErr || sku != tc.wantSKU || qty != tc.wantQty {
			t.Errorf("parsePurchase(%s): got %q, %d, %v; want %q, %d, error %v", tc.body, sku, qty, err, tc.wantSKU, tc.wantQty, tc.wantErr)
		}
	}
}

func FuzzParsePurchase(f *testing.F) {
	for _, s := range []string{
		`{"sku":"A1","quantity":1}`, `{"sku":"A1","quantity":100}`, `{"sku":"A1","quantity":1e2}`,
		`{"sku":"A1'; DROP TABLE x","quantity":1}`, `{"sku":"A1","quantity":"1"}`, `null`, `[]`, ``,
		`{"sku":"A1","quantity":1}]`, `{"SKU":"A1","QUANTITY":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sku, qty, err := parsePurchase(body)
		if err != nil {
			var br badRequest
			if !errors.As(err, &br) {
				t.Fatalf("error %v is not an invalid_request", err)
			}
			return
		}
		if !stock.ValidID(sku) || qty < 1 || qty > maxQuantity {
			t.Fatalf("accepted sku %q quantity %d", sku, qty)
		}
	})
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"k", true},
		{"order-2024-05-01 #7 ~!", true},
		{strings.Repeat("k", 255), true},
		{"", false},
		{strings.Repeat("k", 256), false},
		{"k\x00", false},
		{"k\tk", false},
		{"k\x7f", false},
		{"clé", false},
	}
	for _, tc := range tests {
		if got := validKey(tc.key); got != tc.want {
			t.Errorf("validKey(%q): got %v, want %v", tc.key, got, tc.want)
		}
	}
}
