package httpapi

import (
	"errors"
	"strings"
	"testing"

	"livecommerce/origin/shop"
)

// FuzzDecodeArray: whatever the body, decodeArray returns at most the cap
// of elements or an error the contract can answer, and never panics.
func FuzzDecodeArray(f *testing.F) {
	for _, s := range []string{`[]`, `[1]`, `[{"sku":"A"}]`, `null`, `{}`, `[1,]`, `[1 2]`, `[[[[`, `]`, `[1]x`, `[1][2]`,
		`["` + strings.Repeat("x", 100) + `"]`, "[\x00]", `[1,1,1,1,1,1]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, err := decodeArray(body, 5)
		var br badRequest
		var inv *shop.InvalidError
		switch {
		case err == nil && len(raw) > 5:
			t.Fatalf("%q: %d elements past the cap of 5", body, len(raw))
		case err != nil && !errors.As(err, &br) && !errors.As(err, &inv):
			t.Fatalf("%q: error %v is not a client error", body, err)
		}
	})
}

// FuzzRequestID: an id is kept only when it is short and plain.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"abc", "a\x01b", strings.Repeat("a", 65), "ü", "a b", "x\r\nSet-Cookie: y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !validRequestID(id) {
			return
		}
		if len(id) == 0 || len(id) > 64 {
			t.Fatalf("%q kept: wrong length", id)
		}
		for _, r := range id {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", r) {
				t.Fatalf("%q kept with %q", id, r)
			}
		}
	})
}
