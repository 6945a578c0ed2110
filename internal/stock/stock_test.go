package stock_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"livecommerce/internal/stock"
)

func TestStatusFor(t *testing.T) {
	tests := []struct {
		remaining, low int64
		want           stock.Status
	}{
		{remaining: 0, low: 0, want: stock.SoldOut},
		{remaining: 0, low: 5, want: stock.SoldOut},
		{remaining: -3, low: 5, want: stock.SoldOut}, // Redis may dip below zero for a moment
		{remaining: 1, low: 0, want: stock.InStock},
		{remaining: 1, low: 1, want: stock.LowStock},
		{remaining: 5, low: 5, want: stock.LowStock}, // the threshold itself is low
		{remaining: 6, low: 5, want: stock.InStock},
		{remaining: 1, low: 100, want: stock.LowStock},
		{remaining: 1 << 40, low: 10, want: stock.InStock},
		{remaining: 3, low: -1, want: stock.InStock},
	}
	for _, tt := range tests {
		if got := stock.StatusFor(tt.remaining, tt.low); got != tt.want {
			t.Errorf("StatusFor(%d, %d) = %q, want %q", tt.remaining, tt.low, got, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"letters and digits", "A1", true},
		{"one char", "a", true},
		{"dash and underscore", "live_2024-05-01", true},
		{"64 chars", strings.Repeat("x", 64), true},
		{"65 chars", strings.Repeat("x", 65), false},
		{"empty", "", false},
		{"space inside", "A 1", false},
		{"leading space", " A1", false},
		{"trailing newline", "A1\n", false},
		{"dot dot slash", "../A1", false},
		{"slash", "a/b", false},
		{"dot", "a.b", false}, // would add a token to the NATS subject
		{"nats wildcard star", "*", false},
		{"nats wildcard gt", ">", false},
		{"NUL", "A\x001", false},
		{"trailing NUL", "A1\x00", false},
		{"unicode letter", "é", false},
		{"fullwidth digit", "１", false},
		{"cyrillic lookalike", "А1", false},
		{"emoji", "A1🙂", false},
		{"invalid utf-8", "A\xff", false},
		{"percent-encoded", "A%2F1", false},
		{"colon", "a:b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stock.ValidID(tt.id); got != tt.want {
				t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	if got, want := stock.Subject("L1", "A1"), "stock.L1.A1"; got != want {
		t.Errorf("Subject(L1, A1) = %q, want %q", got, want)
	}
	if got, want := stock.LiveSubject("L1"), "stock.L1.*"; got != want {
		t.Errorf("LiveSubject(L1) = %q, want %q", got, want)
	}
}

func TestCacheTags(t *testing.T) {
	if got := stock.SKUTag("A1"); got != "sku-A1" {
		t.Errorf("stock.SKUTag(A1) = %q", got)
	}
	if got := stock.LiveTag("L1"); got != "live-L1" {
		t.Errorf("stock.LiveTag(L1) = %q", got)
	}
	for _, tt := range []struct{ tag, sku, live string }{
		{"sku-A1", "A1", ""},
		{"live-L_1-x", "", "L_1-x"},
		{"sku-" + strings.Repeat("a", 64), strings.Repeat("a", 64), ""},
		{"sku-", "", ""},
		{"sku-" + strings.Repeat("a", 65), "", ""},
		{"live-a b", "", ""},
		{"live-a\nb", "", ""},
		{"SKU-A1", "", ""},
		{"order-1", "", ""},
		{"", "", ""},
	} {
		sku, live, ok := stock.ParseTag(tt.tag)
		if sku != tt.sku || live != tt.live || ok != (tt.sku != "" || tt.live != "") {
			t.Errorf("ParseTag(%q) = %q, %q, %v; want %q, %q", tt.tag, sku, live, ok, tt.sku, tt.live)
		}
	}
}

func TestAnswerFor(t *testing.T) {
	tests := []struct {
		err        error
		ok         bool
		status     int
		code       string
		retryAfter int
	}{
		{stock.ErrSoldOut, true, 409, "sold_out", 0},
		{fmt.Errorf("reserve: %w", stock.ErrLimitExceeded), true, 409, "purchase_limit_exceeded", 0},
		{stock.ErrIdempotencyKeyInUse, true, 409, "idempotency_key_in_use", 1},
		{stock.ErrIdempotencyKeyReused, true, 422, "idempotency_key_reused", 0},
		{fmt.Errorf("redis: %w", stock.ErrUnavailable), true, 503, "unavailable", 1},
		{stock.ErrNotFound, true, 404, "not_found", 0},
		{errors.New("something else"), false, 0, "", 0},
		{nil, false, 0, "", 0},
	}
	for _, tt := range tests {
		a, ok := stock.AnswerFor(tt.err)
		if ok != tt.ok || a.Status != tt.status || a.Code != tt.code || a.RetryAfter != tt.retryAfter || (ok && a.Message == "") {
			t.Errorf("AnswerFor(%v) = %+v, %v; want %d %s retry %d, %v", tt.err, a, ok, tt.status, tt.code, tt.retryAfter, tt.ok)
		}
	}
}
