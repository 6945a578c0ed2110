package mysqlstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"livecommerce/origin/mysqlstore"
)

// TestRotateAPIKeyConcurrent: rotations of one merchant at once never take
// it past MaxActiveKeys; each one either adds a working key or is
// ErrTooManyKeys and adds nothing.
func TestRotateAPIKeyConcurrent(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	id, first := merchant(t, s)
	const tries = 12
	var wg sync.WaitGroup
	keys := make(chan string, tries)
	errs := make(chan error, tries)
	for range tries {
		wg.Go(func() {
			r, err := s.RotateAPIKey(ctx, id, false, now)
			if err != nil {
				errs <- err
				return
			}
			keys <- r.Key
		})
	}
	wg.Wait()
	close(keys)
	close(errs)
	for err := range errs {
		if !errors.Is(err, mysqlstore.ErrTooManyKeys) {
			t.Errorf("RotateAPIKey = %v, want nil or ErrTooManyKeys", err)
		}
	}
	issued := 0
	for key := range keys {
		issued++
		if got, err := s.MerchantByAPIKey(ctx, key); err != nil || got != id {
			t.Errorf("MerchantByAPIKey(rotated key) = %q, %v; want %q", got, err, id)
		}
	}
	if want := mysqlstore.MaxActiveKeys - 1; issued != want {
		t.Errorf("rotations that issued a key: got %d, want %d", issued, want)
	}
	if n := count(t, s, "SELECT COUNT(*) FROM merchant_api_keys WHERE merchant_id = ? AND revoked_at IS NULL", id); n != mysqlstore.MaxActiveKeys {
		t.Errorf("active keys: got %d, want %d", n, mysqlstore.MaxActiveKeys)
	}
	if got, err := s.MerchantByAPIKey(ctx, first); err != nil || got != id {
		t.Errorf("MerchantByAPIKey(first key) = %q, %v; want %q (rotation keeps old keys)", got, err, id)
	}

	// Revoking the merchant's keys revokes all of them; unknown ids are
	// their own errors.
	r, err := s.RevokeMerchantKeys(ctx, id, now)
	if err != nil || len(r.Revoked) != mysqlstore.MaxActiveKeys {
		t.Fatalf("RevokeMerchantKeys = %+v, %v; want %d keys revoked", r, err, mysqlstore.MaxActiveKeys)
	}
	if _, err := s.MerchantByAPIKey(ctx, first); !errors.Is(err, mysqlstore.ErrBadAPIKey) {
		t.Errorf("MerchantByAPIKey(revoked key) = %v, want ErrBadAPIKey", err)
	}
	if _, err := s.RevokeAPIKey(ctx, "000000000000000000000000", now); !errors.Is(err, mysqlstore.ErrUnknownAPIKey) {
		t.Errorf("RevokeAPIKey(unknown) = %v, want ErrUnknownAPIKey", err)
	}
	if _, err := s.RotateAPIKey(ctx, "m_0000000000000000", true, now); !errors.Is(err, mysqlstore.ErrUnknownMerchant) {
		t.Errorf("RotateAPIKey(unknown merchant) = %v, want ErrUnknownMerchant", err)
	}
	if _, err := s.APIKeys(ctx, "m_0000000000000000"); !errors.Is(err, mysqlstore.ErrUnknownMerchant) {
		t.Errorf("APIKeys(unknown merchant) = %v, want ErrUnknownMerchant", err)
	}
}
