package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"livecommerce/internal/buyertoken"
	"livecommerce/origin/apikey"
	"livecommerce/origin/origintest"
)

// hs256 signs header and payload JSON as given, so a test can build tokens
// a well-behaved issuer never would.
func hs256(secret, header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// hostileBuyerAuth are Authorization values that must not buy anything.
func hostileBuyerAuth(t *testing.T, e *origintest.Env) []struct{ name, header string } {
	t.Helper()
	now := time.Now()
	expired, err := buyertoken.Issue([]byte(origintest.Secret), "alice", time.Minute, now.Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, err := buyertoken.Issue([]byte("another-secret-0123456789abcdef-and-then-some"), "alice", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString([]byte(origintest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	exp := now.Add(time.Hour).Unix()
	valid := token(t, "alice")
	parts := strings.Split(valid, ".")
	return []struct{ name, header string }{
		{"missing", ""},
		{"empty bearer", "Bearer "},
		{"scheme only", "Bearer"},
		{"wrong scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret"))},
		{"valid token under another scheme", "Token " + valid},
		{"token without scheme", valid},
		{"garbage", "Bearer not-a-token"},
		{"three garbage segments", "Bearer aaa.bbb.ccc"},
		{"expired", "Bearer " + expired},
		{"signed with another secret", "Bearer " + otherSecret},
		{"alg none", "Bearer " + none},
		{"alg none, lowercase, HMAC signature", "Bearer " + hs256(origintest.Secret, `{"alg":"none"}`, fmt.Sprintf(`{"sub":"alice","exp":%d}`, exp))},
		{"HS512", "Bearer " + hs512},
		{"no exp", "Bearer " + hs256(origintest.Secret, `{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice"}`)},
		{"no sub", "Bearer " + hs256(origintest.Secret, `{"alg":"HS256","typ":"JWT"}`, fmt.Sprintf(`{"exp":%d}`, exp))},
		{"hostile sub", "Bearer " + hs256(origintest.Secret, `{"alg":"HS256","typ":"JWT"}`, fmt.Sprintf(`{"sub":"a:*\u0000","exp":%d}`, exp))},
		{"tampered payload", "Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"mallory","exp":%d}`, exp))) + "." + parts[2]},
		{"signature stripped", "Bearer " + parts[0] + "." + parts[1] + "."},
		{"merchant API key", "Bearer " + e.Key},
		{"oversized", "Bearer " + strings.Repeat("A", 6000)},
	}
}

func TestBuyerAuth(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 10, PerBuyerLimit: 10})
	// An order of alice's to read back with bad credentials.
	rc := wantCreated(t, buyQty(t, e, "alice", "first", "A1", 1))

	for _, tt := range hostileBuyerAuth(t, e) {
		t.Run(tt.name, func(t *testing.T) {
			var auth []string
			if tt.header != "" {
				auth = []string{"Authorization", tt.header}
			}
			before := snapshot(t, e, "A1")
			r := do(t, e, "POST", "/v1/purchases", []byte(`{"sku":"A1","quantity":1}`),
				append([]string{"Idempotency-Key", uniqueID("k"), "Content-Type", "application/json"}, auth...)...)
			wantError(t, r, 401, "unauthorized")
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("401 Cache-Control: got %q, want no-store", cc)
			}
			wantUnchanged(t, e, before)

			r = do(t, e, "GET", "/v1/orders/"+rc.OrderID, nil, auth...)
			wantError(t, r, 401, "unauthorized")
			if strings.Contains(string(r.Body), rc.OrderID) {
				t.Errorf("401 body %s carries the order", r.Body)
			}
		})
	}

	t.Run("auth is checked before the request is", func(t *testing.T) {
		before := snapshot(t, e, "A1")
		r := do(t, e, "POST", "/v1/purchases", []byte(`not json`))
		wantError(t, r, 401, "unauthorized")
		wantUnchanged(t, e, before)
	})

	t.Run("scheme is case-insensitive", func(t *testing.T) {
		r := do(t, e, "POST", "/v1/purchases", []byte(`{"sku":"A1","quantity":1}`),
			"Authorization", "bearer "+token(t, "alice"), "Idempotency-Key", uniqueID("k"))
		wantCreated(t, r)
	})
}

func TestMerchantAuth(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("MINE", "", origintest.Product{SKU: "A1", Stock: 10, PerBuyerLimit: 10})

	unknown, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	_, revoked, err := e.Server.Deps().DB.CreateMerchant(context.Background(), "Revoked Shop", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	revokedID, _, err := apikey.Parse(revoked)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.Exec("UPDATE merchant_api_keys SET revoked_at = ? WHERE id = ?", time.Now().UTC(), revokedID); err != nil {
		t.Fatal(err)
	}
	// The right id with another secret.
	forged := e.Key[:len(e.Key)-4] + "AAAA"
	if forged == e.Key {
		forged = e.Key[:len(e.Key)-4] + "BBBB"
	}

	tests := []struct{ name, header string }{
		{"missing", ""},
		{"wrong scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte(e.Key+":"))},
		{"key without scheme", e.Key},
		{"garbage", "Bearer not-a-key"},
		{"buyer token", "Bearer " + token(t, "alice")},
		{"unknown key", "Bearer " + unknown.Plain},
		{"revoked key", "Bearer " + revoked},
		{"forged secret", "Bearer " + forged},
		{"key with upper-case id", "Bearer " + e.Key[:4] + strings.ToUpper(e.Key[4:28]) + e.Key[28:]},
		{"oversized", "Bearer " + strings.Repeat("k", 6000)},
	}
	requests := []struct {
		method, path, body string
	}{
		{"PUT", "/admin/v1/lives/MINE", `{"title":"Hijacked"}`},
		{"PUT", "/admin/v1/lives/NEWLIVE", `{"title":"New"}`},
		{"PUT", "/admin/v1/lives/MINE/products", `[{"sku":"A1","name":"x","price":1,"currency":"JPY","stock":0,"per_buyer_limit":1}]`},
	}
	var lives int
	if err := e.DB.QueryRow("SELECT COUNT(*) FROM lives").Scan(&lives); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rq := range requests {
				before := snapshot(t, e, "A1")
				var headers []string
				if tt.header != "" {
					headers = []string{"Authorization", tt.header}
				}
				r := do(t, e, rq.method, rq.path, []byte(rq.body), headers...)
				if r.Status != 401 {
					t.Errorf("%s %s: got %d, want 401", rq.method, rq.path, r.Status)
				}
				wantError(t, r, 401, "unauthorized")
				wantUnchanged(t, e, before)
			}
			var title string
			var n int
			if err := e.DB.QueryRow("SELECT title FROM lives WHERE id = 'MINE'").Scan(&title); err != nil || title != "Test live" {
				t.Errorf("title of MINE: got %q (%v), want %q", title, err, "Test live")
			}
			if err := e.DB.QueryRow("SELECT COUNT(*) FROM lives").Scan(&n); err != nil || n != lives {
				t.Errorf("lives: got %d (%v), want %d", n, err, lives)
			}
		})
	}
}
