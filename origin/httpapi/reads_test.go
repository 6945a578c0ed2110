package httpapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
)

const wantCachePolicy = "public, max-age=1, stale-while-revalidate=5, stale-if-error=60"

type stockObject struct {
	SKU       string    `json:"sku"`
	LiveID    string    `json:"live_id"`
	Remaining int64     `json:"remaining"`
	Status    string    `json:"status"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// freshReads turns the in-process micro-cache down to a nanosecond so each
// read sees the previous purchase.
func freshReads(c *app.Config) { c.MicroCacheTTL = time.Nanosecond }

func readSKU(t *testing.T, e *origintest.Env, sku string) (stockObject, origintest.Response) {
	t.Helper()
	r := do(t, e, "GET", "/v1/products/"+sku+"/stock", nil)
	if r.Status != 200 {
		t.Fatalf("read %s: got %d %s, want 200", sku, r.Status, r.Body)
	}
	var s stockObject
	if err := json.Unmarshal(r.Body, &s); err != nil {
		t.Fatalf("read %s: body %s: %v", sku, r.Body, err)
	}
	return s, r
}

// wantCacheHeaders checks the contract's caching headers of a stock read.
func wantCacheHeaders(t *testing.T, r origintest.Response, tags ...string) {
	t.Helper()
	if got := r.Header.Get("Cache-Control"); got != wantCachePolicy {
		t.Errorf("Cache-Control: got %q, want %q", got, wantCachePolicy)
	}
	if got := r.Header.Get("CDN-Cache-Control"); got != wantCachePolicy {
		t.Errorf("CDN-Cache-Control: got %q, want %q", got, wantCachePolicy)
	}
	for name, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(strings.ToLower(v), "s-maxage") {
				t.Errorf("%s: got %q, want no s-maxage", name, v)
			}
		}
	}
	cacheTag := strings.Split(r.Header.Get("Cache-Tag"), ",")
	for i := range cacheTag {
		cacheTag[i] = strings.TrimSpace(cacheTag[i])
	}
	xkey := strings.Fields(r.Header.Get("xkey"))
	for _, tag := range tags {
		if !slices.Contains(cacheTag, tag) {
			t.Errorf("Cache-Tag: got %q, want it to carry %q", r.Header.Get("Cache-Tag"), tag)
		}
		if !slices.Contains(xkey, tag) {
			t.Errorf("xkey: got %q, want it to carry %q", r.Header.Get("xkey"), tag)
		}
	}
}

// wantStrongETag returns the response's ETag after checking its form.
func wantStrongETag(t *testing.T, r origintest.Response) string {
	t.Helper()
	etag := r.Header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' || strings.HasPrefix(etag, "W/") {
		t.Errorf("ETag: got %q, want a strong quoted entity tag", etag)
	}
	return etag
}

func TestStockReads(t *testing.T) {
	t.Parallel()
	e := start(t, freshReads)
	e.SetUpLive("RL", "",
		origintest.Product{SKU: "C3", Stock: 7, PerBuyerLimit: 10},
		origintest.Product{SKU: "A1", Stock: 5, PerBuyerLimit: 10, LowStockThreshold: 2},
		origintest.Product{SKU: "B2", Stock: 0, PerBuyerLimit: 10})
	if r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/EMPTY", []byte(`{"title":"No products yet"}`)); r.Status != 201 {
		t.Fatalf("put live EMPTY: got %d %s, want 201", r.Status, r.Body)
	}

	t.Run("sku read", func(t *testing.T) {
		s, r := readSKU(t, e, "A1")
		if s.SKU != "A1" || s.LiveID != "RL" || s.Remaining != 5 || s.Status != "in_stock" || s.Version < 1 || s.UpdatedAt.IsZero() {
			t.Errorf("stock of A1: got %+v, want A1 in RL, 5 remaining, in_stock, a version and a time", s)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("Content-Type: got %q, want application/json", r.Header.Get("Content-Type"))
		}
		var raw map[string]json.RawMessage
		json.Unmarshal(r.Body, &raw)
		for _, f := range []string{"sku", "live_id", "remaining", "status", "version", "updated_at"} {
			if _, ok := raw[f]; !ok {
				t.Errorf("stock object %s: got no %q", r.Body, f)
			}
		}
		if ts := strings.Trim(string(raw["updated_at"]), `"`); !strings.HasSuffix(ts, "Z") {
			t.Errorf("updated_at: got %q, want RFC 3339 UTC", ts)
		}
		wantCacheHeaders(t, r, "sku-A1", "live-RL")
		wantStrongETag(t, r)
	})

	t.Run("conditional sku read", func(t *testing.T) {
		_, r := readSKU(t, e, "C3")
		etag := wantStrongETag(t, r)
		tests := []struct {
			name, ifNoneMatch string
			want              int
		}{
			{"same tag", etag, 304},
			{"in a list", `"nope", ` + etag + `, "other"`, 304},
			{"list without spaces", `"nope",` + etag, 304},
			{"weak form", "W/" + etag, 304},
			{"wildcard", "*", 304},
			{"other tag", `"0000000000000000"`, 200},
			{"unquoted tag", strings.Trim(etag, `"`), 200},
		}
		for _, tt := range tests {
			r := do(t, e, "GET", "/v1/products/C3/stock", nil, "If-None-Match", tt.ifNoneMatch)
			if r.Status != tt.want {
				t.Errorf("%s (If-None-Match %s): got %d, want %d", tt.name, tt.ifNoneMatch, r.Status, tt.want)
				continue
			}
			if tt.want == 304 {
				if len(r.Body) != 0 {
					t.Errorf("%s: 304 with body %q, want none", tt.name, r.Body)
				}
				if got := r.Header.Get("ETag"); got != etag {
					t.Errorf("%s: 304 ETag got %q, want %q", tt.name, got, etag)
				}
				wantCacheHeaders(t, r, "sku-C3", "live-RL")
			}
		}
	})

	t.Run("live read", func(t *testing.T) {
		r := do(t, e, "GET", "/v1/lives/RL/stock", nil)
		if r.Status != 200 {
			t.Fatalf("read live: got %d %s, want 200", r.Status, r.Body)
		}
		var l struct {
			LiveID   string        `json:"live_id"`
			Products []stockObject `json:"products"`
		}
		if err := json.Unmarshal(r.Body, &l); err != nil {
			t.Fatalf("live body %s: %v", r.Body, err)
		}
		var skus []string
		for _, p := range l.Products {
			skus = append(skus, p.SKU)
			if p.LiveID != "RL" {
				t.Errorf("product %s: got live_id %q, want RL", p.SKU, p.LiveID)
			}
			one, _ := readSKU(t, e, p.SKU)
			if one.Remaining != p.Remaining || one.Version != p.Version || one.Status != p.Status {
				t.Errorf("product %s: live read %+v, sku read %+v, want the same level", p.SKU, p, one)
			}
		}
		if l.LiveID != "RL" || !slices.Equal(skus, []string{"A1", "B2", "C3"}) {
			t.Errorf("live read: got %q with %v, want RL with [A1 B2 C3] in sku order", l.LiveID, skus)
		}
		wantCacheHeaders(t, r, "live-RL")
		etag := wantStrongETag(t, r)
		if r := do(t, e, "GET", "/v1/lives/RL/stock", nil, "If-None-Match", etag); r.Status != 304 {
			t.Errorf("conditional live read: got %d, want 304", r.Status)
		}

		r = do(t, e, "GET", "/v1/lives/EMPTY/stock", nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `"products":[]`) {
			t.Errorf("live without products: got %d %s, want 200 with an empty products list", r.Status, r.Body)
		}
	})

	t.Run("unknown ids are 404 with a JSON error", func(t *testing.T) {
		for _, path := range []string{"/v1/products/NOPE/stock", "/v1/lives/NOPE/stock"} {
			r := do(t, e, "GET", path, nil)
			wantError(t, r, 404, "not_found")
			if cc := r.Header.Get("Cache-Control"); cc == "" {
				t.Errorf("%s: 404 without Cache-Control, want the contract's (a 404 may be cached)", path)
			}
			if r.Header.Get("ETag") != "" {
				t.Errorf("%s: 404 with ETag %q, want none", path, r.Header.Get("ETag"))
			}
		}
		r := do(t, e, "GET", "/v1/products/NOPE/stock", nil)
		wantCacheHeaders(t, r, "sku-NOPE")
	})

	t.Run("invalid ids are 400 and not cacheable", func(t *testing.T) {
		for _, id := range []string{
			"a.b",
			strings.Repeat("A", 65),
			"%2E%2E%2Fx",
			"..%2Fx",
			"%C3%A9",
			"a%20b",
			"a%00b",
			"A*",
			"a%0Ab",
		} {
			for _, path := range []string{"/v1/products/" + id + "/stock", "/v1/lives/" + id + "/stock"} {
				r := do(t, e, "GET", path, nil)
				wantError(t, r, 400, "invalid_request")
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("GET %s: Cache-Control got %q, want no-store", path, cc)
				}
			}
		}
	})
}

func TestStockReadsFollowPurchases(t *testing.T) {
	t.Parallel()
	e := start(t, freshReads)
	e.SetUpLive("RL", "", origintest.Product{SKU: "A1", Stock: 5, PerBuyerLimit: 10, LowStockThreshold: 2})

	s, r := readSKU(t, e, "A1")
	etag := r.Header.Get("ETag")
	steps := []struct {
		qty        int
		wantRemain int64
		wantStatus string
	}{
		{2, 3, "in_stock"},
		{1, 2, "low_stock"},
		{1, 1, "low_stock"},
		{1, 0, "sold_out"},
	}
	version := s.Version
	for i, st := range steps {
		rc := wantCreated(t, buyQty(t, e, "alice", uniqueID("k"), "A1", st.qty))
		if rc.Version != version+1 || rc.Remaining != st.wantRemain {
			t.Errorf("purchase %d: receipt version %d remaining %d, want %d and %d", i, rc.Version, rc.Remaining, version+1, st.wantRemain)
		}
		got, r := readSKU(t, e, "A1")
		if got.Version != version+1 {
			t.Errorf("after purchase %d: version got %d, want %d (one more per purchase)", i, got.Version, version+1)
		}
		if got.Remaining != st.wantRemain || got.Status != st.wantStatus {
			t.Errorf("after purchase %d: got %d %s, want %d %s", i, got.Remaining, got.Status, st.wantRemain, st.wantStatus)
		}
		if r.Header.Get("ETag") == etag {
			t.Errorf("after purchase %d: ETag unchanged %s, want a new one", i, etag)
		}
		if r := do(t, e, "GET", "/v1/products/A1/stock", nil, "If-None-Match", etag); r.Status != 200 {
			t.Errorf("after purchase %d: If-None-Match with the old ETag got %d, want 200", i, r.Status)
		}
		etag = r.Header.Get("ETag")
		version = got.Version
	}

	// A refused purchase is no change: the version stays.
	wantError(t, buyQty(t, e, "bob", uniqueID("k"), "A1", 1), 409, "sold_out")
	if got, _ := readSKU(t, e, "A1"); got.Version != version {
		t.Errorf("after a refused purchase: version got %d, want %d", got.Version, version)
	}
}
