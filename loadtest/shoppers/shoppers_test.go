package shoppers

import (
	"strings"
	"testing"

	"livecommerce/loadtest/lanes"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/scenario"
)

func TestErrorCode(t *testing.T) {
	tests := []struct {
		a    lanes.Answer
		want string
	}{
		{lanes.Answer{Status: 409, Body: []byte(`{"error":{"code":"sold_out","message":"x"}}`)}, "sold_out"},
		{lanes.Answer{Status: 502, Body: []byte(`<html>bad gateway</html>`)}, "http_502"},
		{lanes.Answer{Status: 400, Body: []byte(`{"error":{"code":""}}`)}, "http_400"},
		{lanes.Answer{Status: 400, Body: []byte(`{"error":{"code":"` + strings.Repeat("x", 41) + `"}}`)}, "http_400"},
	}
	for _, tc := range tests {
		if got := errorCode(tc.a); got != tc.want {
			t.Errorf("errorCode(%d %s): got %q, want %q", tc.a.Status, tc.a.Body, got, tc.want)
		}
	}
}

func TestReadOutcome(t *testing.T) {
	tests := []struct {
		a    lanes.Answer
		want string
	}{
		{lanes.Answer{Status: 200, Body: []byte(`{"sku":"S1","live_id":"L","remaining":3,"version":4}`)}, opstats.CodeOK},
		{lanes.Answer{Status: 200, Body: []byte(`{"sku":"S2","version":4}`)}, opstats.CodeBadResponse},
		{lanes.Answer{Status: 200, Body: []byte(`{"sku":"S1"}`)}, opstats.CodeBadResponse},
		{lanes.Answer{Status: 404, Body: []byte(`{"error":{"code":"not_found"}}`)}, "not_found"},
	}
	for _, tc := range tests {
		if got := readOutcome(tc.a, "S1"); got != tc.want {
			t.Errorf("readOutcome(%d %s): got %q, want %q", tc.a.Status, tc.a.Body, got, tc.want)
		}
	}
}

func TestRefusalCode(t *testing.T) {
	tests := []struct {
		kind       scenario.PurchaseKind
		code, want string
	}{
		{scenario.BuyFlash, "sold_out", "sold_out"},
		{scenario.BuyNormal, "sold_out", "sold_out (not the flash product)"},
		{scenario.BuyGreedy, "purchase_limit_exceeded", "purchase_limit_exceeded"},
		{scenario.BuyNormal, "purchase_limit_exceeded", "purchase_limit_exceeded (not a greedy buyer)"},
		{scenario.BuyNormal, "rate_limited", "rate_limited"},
	}
	for _, tc := range tests {
		if got := refusalCode(scenario.Purchase{Kind: tc.kind}, tc.code); got != tc.want {
			t.Errorf("kind %d, %s: got %q, want %q", tc.kind, tc.code, got, tc.want)
		}
	}
}
