package buyertoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef-test-secret")
	otherSecret = []byte("fedcba9876543210fedcba9876543210-other-secret")
	// testNow is the verifier's clock in deterministic tests. NumericDate
	// has one-second precision, so it is a whole second.
	testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// fixedVerifier returns a Verifier with opts whose clock is pinned to
// testNow.
func fixedVerifier(t testing.TB, opts ...Option) *Verifier {
	t.Helper()
	v, err := newVerifier(testSecret, func() time.Time { return testNow }, opts...)
	if err != nil {
		t.Fatalf("newVerifier: %v", err)
	}
	return v
}

// b64 is the unpadded base64url encoding JWT segments use.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// rawHS256 assembles a token from literal header and payload JSON and signs
// it with HMAC-SHA256, so tests can produce claims the jwt library would
// never emit (wrong types, hostile subjects, odd headers).
func rawHS256(t testing.TB, secret []byte, header, payload string) string {
	t.Helper()
	signing := b64(header) + "." + b64(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// signed signs claims with method and key using the jwt library.
func signed(t testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// signedWithHeader signs claims with HS256 and key, adding header fields.
func signedWithHeader(t testing.TB, key []byte, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func claimsFor(sub string, exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "iat": testNow.Add(-time.Minute).Unix(), "exp": exp.Unix()}
}

const hsHeader = `{"alg":"HS256","typ":"JWT"}`

func TestIssueThenVerify(t *testing.T) {
	v, err := NewVerifier(testSecret)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	for _, id := range []string{"b", "buyer-42", "user@example.com", "tenant|a:b_c.d-e", strings.Repeat("x", 128)} {
		tok, err := Issue(testSecret, id, time.Hour, time.Now())
		if err != nil {
			t.Fatalf("Issue(%q): %v", id, err)
		}
		got, err := v.Verify(tok)
		if err != nil {
			t.Fatalf("Verify(Issue(%q)): %v", id, err)
		}
		if got != id {
			t.Errorf("Verify(Issue(%q)) = %q, want %q", id, got, id)
		}
	}
}

func TestIssueClaims(t *testing.T) {
	tok, err := Issue(testSecret, "b1", 90*time.Minute, testNow)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	var c jwt.RegisteredClaims
	parsed, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return testSecret, nil },
		jwt.WithTimeFunc(func() time.Time { return testNow }))
	if err != nil {
		t.Fatalf("parse issued token: %v", err)
	}
	if got, want := parsed.Method.Alg(), "HS256"; got != want {
		t.Errorf("alg: got %s, want %s", got, want)
	}
	if got, want := c.Subject, "b1"; got != want {
		t.Errorf("sub: got %q, want %q", got, want)
	}
	if got, want := c.IssuedAt.Time, testNow; !got.Equal(want) {
		t.Errorf("iat: got %v, want %v", got, want)
	}
	if got, want := c.ExpiresAt.Time, testNow.Add(90*time.Minute); !got.Equal(want) {
		t.Errorf("exp: got %v, want %v", got, want)
	}
}

func TestIssueRejects(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		id     string
		ttl    time.Duration
		want   string
	}{
		{"short secret", []byte("short"), "b1", time.Hour, "at least 32"},
		{"nil secret", nil, "b1", time.Hour, "at least 32"},
		{"16-byte secret", []byte("0123456789abcdef"), "b1", time.Hour, "at least 32"},
		{"31-byte secret", testSecret[:31], "b1", time.Hour, "at least 32"},
		{"empty id", testSecret, "", time.Hour, "invalid buyer id"},
		{"space in id", testSecret, "a b", time.Hour, "invalid buyer id"},
		{"unicode id", testSecret, "bÜyer", time.Hour, "invalid buyer id"},
		{"too long id", testSecret, strings.Repeat("a", 129), time.Hour, "invalid buyer id"},
		{"zero ttl", testSecret, "b1", 0, "ttl must be positive"},
		{"negative ttl", testSecret, "b1", -time.Second, "ttl must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Issue(tt.secret, tt.id, tt.ttl, testNow)
			if err == nil {
				t.Fatalf("Issue: got token %q, want error containing %q", tok, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Issue error: got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNewVerifierSecretLength(t *testing.T) {
	tests := []struct {
		n       int
		wantErr bool
	}{
		{0, true}, {1, true}, {15, true}, {16, true}, {31, true}, {32, false}, {64, false},
	}
	for _, tt := range tests {
		_, err := NewVerifier(make([]byte, tt.n))
		if got := err != nil; got != tt.wantErr {
			t.Errorf("NewVerifier(%d bytes): got error %v, want error %v", tt.n, err, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "need at least 32") {
			t.Errorf("NewVerifier(%d bytes): got %q, want a message naming the minimum", tt.n, err)
		}
	}
}

func TestNewVerifierCopiesSecret(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	v, err := NewVerifier(secret)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	tok, err := Issue(testSecret, "b1", time.Hour, time.Now())
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	for i := range secret {
		secret[i] = 0
	}
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("Verify after caller zeroed its secret: got %v, want success", err)
	}
}

func TestVerify(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa key: %v", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ec key: %v", err)
	}
	exp := testNow.Add(time.Hour)
	expUnix := exp.Unix()
	iat := testNow.Add(-time.Minute).Unix()
	payload := func(sub string) string {
		return fmt.Sprintf(`{"sub":%q,"iat":%d,"exp":%d}`, sub, iat, expUnix)
	}
	noneToken, err := jwt.NewWithClaims(jwt.SigningMethodNone, claimsFor("b1", exp)).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatalf("sign none: %v", err)
	}
	valid := rawHS256(t, testSecret, hsHeader, payload("b1"))
	validParts := strings.Split(valid, ".")

	tests := []struct {
		name    string
		token   string
		wantID  string // empty means an error is expected
		wantWhy string // substring of the error
	}{
		{"valid", valid, "b1", ""},
		{"valid via library", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("buyer:7@shop", exp)), "buyer:7@shop", ""},
		{"expired", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(-10*time.Second))), "", "expired"},
		{"expired long ago", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(-48*time.Hour))), "", "expired"},
		{"expired within leeway", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(-3*time.Second))), "b1", ""},
		{"no exp", rawHS256(t, testSecret, hsHeader, `{"sub":"b1"}`), "", "missing exp"},
		{"exp null", rawHS256(t, testSecret, hsHeader, `{"sub":"b1","exp":null}`), "", "missing exp"},
		{"exp string", rawHS256(t, testSecret, hsHeader, `{"sub":"b1","exp":"tomorrow"}`), "", "malformed"},
		{"exp huge", rawHS256(t, testSecret, hsHeader, `{"sub":"b1","exp":1e309}`), "", ""},
		{"iat in future", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","iat":%d,"exp":%d}`, testNow.Add(time.Hour).Unix(), expUnix)), "", "issued in the future"},
		{"nbf in future", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","nbf":%d,"exp":%d}`, testNow.Add(time.Hour).Unix(), expUnix)), "", "not valid yet"},
		{"wrong secret", signed(t, jwt.SigningMethodHS256, otherSecret, claimsFor("b1", exp)), "", "bad signature"},
		{"tampered payload", validParts[0] + "." + b64(payload("b2")) + "." + validParts[2], "", "bad signature"},
		{"signature stripped", validParts[0] + "." + validParts[1] + ".", "", "bad signature"},
		{"alg none", noneToken, "", "signing method"},
		{"alg none lowercase", b64(`{"alg":"none"}`) + "." + b64(payload("b1")) + ".", "", ""},
		{"alg none with hmac signature", rawHS256(t, testSecret, `{"alg":"none"}`, payload("b1")), "", ""},
		{"alg missing", rawHS256(t, testSecret, `{"typ":"JWT"}`, payload("b1")), "", ""},
		{"HS384", signed(t, jwt.SigningMethodHS384, testSecret, claimsFor("b1", exp)), "", "signing method"},
		{"HS512", signed(t, jwt.SigningMethodHS512, testSecret, claimsFor("b1", exp)), "", "signing method"},
		{"RS256", signed(t, jwt.SigningMethodRS256, rsaKey, claimsFor("b1", exp)), "", "signing method"},
		{"ES256", signed(t, jwt.SigningMethodES256, ecKey, claimsFor("b1", exp)), "", "signing method"},
		// Key confusion: claims RS256 but is MACed with the shared secret.
		{"RS256 header HMAC body", rawHS256(t, testSecret, `{"alg":"RS256","typ":"JWT"}`, payload("b1")), "", "signing method"},
		{"empty", "", "", "empty"},
		{"garbage", "not a token", "", "malformed"},
		{"dots only", "..", "", "malformed"},
		{"two segments", validParts[0] + "." + validParts[1], "", "malformed"},
		{"four segments", valid + ".x", "", "malformed"},
		{"bearer prefix left on", "Bearer " + valid, "", "malformed"},
		{"header not json", b64("{{{") + "." + validParts[1] + "." + validParts[2], "", "malformed"},
		{"header not base64", "!!!." + validParts[1] + "." + validParts[2], "", "malformed"},
		{"payload not json", rawHS256(t, testSecret, hsHeader, `[1,2,3]`), "", "malformed"},
		{"payload truncated", rawHS256(t, testSecret, hsHeader, `{"sub":"b1","exp":`), "", "malformed"},
		{"oversized", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","exp":%d,"pad":%q}`, expUnix, strings.Repeat("p", MaxTokenLen))), "", "longer than 4096"},
		{"sub missing", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"exp":%d}`, expUnix)), "", "missing sub"},
		{"sub empty", rawHS256(t, testSecret, hsHeader, payload("")), "", "missing sub"},
		{"sub number", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":42,"exp":%d}`, expUnix)), "", "malformed"},
		{"sub array", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":["b1"],"exp":%d}`, expUnix)), "", "malformed"},
		{"sub with space", rawHS256(t, testSecret, hsHeader, payload("b 1")), "", "malformed sub"},
		{"sub with newline", rawHS256(t, testSecret, hsHeader, payload("b1\nlevel=admin")), "", "malformed sub"},
		{"sub with NUL", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1\u0000","exp":%d}`, expUnix)), "", "malformed sub"},
		{"sub unicode", rawHS256(t, testSecret, hsHeader, payload("bÜyer")), "", "malformed sub"},
		{"sub fullwidth digits", rawHS256(t, testSecret, hsHeader, payload("１２３")), "", "malformed sub"},
		{"sub 129 chars", rawHS256(t, testSecret, hsHeader, payload(strings.Repeat("a", 129))), "", "malformed sub"},
		{"sub 200 chars", rawHS256(t, testSecret, hsHeader, payload(strings.Repeat("a", 200))), "", "malformed sub"},
		{"sub sql", rawHS256(t, testSecret, hsHeader, payload("1' OR '1'='1")), "", "malformed sub"},
		{"sub sql comment", rawHS256(t, testSecret, hsHeader, payload("b1;--")), "", "malformed sub"},
		{"sub path", rawHS256(t, testSecret, hsHeader, payload("../../etc/passwd")), "", "malformed sub"},
		{"sub redis glob", rawHS256(t, testSecret, hsHeader, payload("b*")), "", "malformed sub"},

		// Lifetime: the default maximum is 24h, plus Leeway.
		{"exp at the maximum", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(DefaultMaxTTL))), "b1", ""},
		{"exp at the maximum plus leeway", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(DefaultMaxTTL+Leeway))), "b1", ""},
		{"exp a second beyond", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(DefaultMaxTTL+Leeway+time.Second))), "", "maximum lifetime"},
		{"exp in 25h", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(25*time.Hour))), "", "maximum lifetime"},
		{"exp in a century", signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.AddDate(100, 0, 0))), "", "maximum lifetime"},
		{"exp year 9999", rawHS256(t, testSecret, hsHeader, `{"sub":"b1","exp":253402300799}`), "", "maximum lifetime"},
		{"exp max int64", rawHS256(t, testSecret, hsHeader, `{"sub":"b1","exp":9223372036854775807}`), "", ""},
		{"exp 1e18", rawHS256(t, testSecret, hsHeader, `{"sub":"b1","exp":1e18}`), "", "maximum lifetime"},
		{"exp far, iat old", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","iat":%d,"exp":%d}`, testNow.Add(-time.Hour).Unix(), testNow.Add(48*time.Hour).Unix())), "", "maximum lifetime"},
		{"iat within leeway ahead", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","iat":%d,"exp":%d}`, testNow.Add(Leeway).Unix(), expUnix)), "b1", ""},
		{"iat just beyond leeway ahead", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","iat":%d,"exp":%d}`, testNow.Add(Leeway+time.Second).Unix(), expUnix)), "", "issued in the future"},
		{"iat a year ahead", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","iat":%d,"exp":%d}`, testNow.AddDate(1, 0, 0).Unix(), expUnix)), "", "issued in the future"},

		// crit: no extension is understood, so any crit is refused.
		{"crit unknown extension", rawHS256(t, testSecret, `{"alg":"HS256","typ":"JWT","crit":["exp-ext"],"exp-ext":true}`, payload("b1")), "", "unsupported crit"},
		{"crit b64", rawHS256(t, testSecret, `{"alg":"HS256","crit":["b64"],"b64":false}`, payload("b1")), "", "unsupported crit"},
		{"crit empty list", rawHS256(t, testSecret, `{"alg":"HS256","crit":[]}`, payload("b1")), "", "unsupported crit"},
		{"crit null", rawHS256(t, testSecret, `{"alg":"HS256","crit":null}`, payload("b1")), "", "unsupported crit"},
		{"crit not a list", rawHS256(t, testSecret, `{"alg":"HS256","crit":"exp"}`, payload("b1")), "", "unsupported crit"},
		{"crit hostile", rawHS256(t, testSecret, `{"alg":"HS256","crit":["`+strings.Repeat("\\n<script>", 50)+`"]}`, payload("b1")), "", "unsupported crit"},
		{"crit with wrong secret", signedWithHeader(t, otherSecret, map[string]any{"crit": []string{"x"}}, claimsFor("b1", exp)), "", ""},
		{"Crit is another parameter", rawHS256(t, testSecret, `{"alg":"HS256","Crit":["x"]}`, payload("b1")), "b1", ""},

		// aud without a configured audience: minted for another service.
		{"aud string, none configured", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","aud":"payments","exp":%d}`, expUnix)), "", "aud present"},
		{"aud list, none configured", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","aud":["payments","shop"],"exp":%d}`, expUnix)), "", "aud present"},
		{"aud empty string, none configured", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","aud":"","exp":%d}`, expUnix)), "", "aud present"},
		{"aud empty list, none configured", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","aud":[],"exp":%d}`, expUnix)), "b1", ""},
		{"aud null, none configured", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","aud":null,"exp":%d}`, expUnix)), "b1", ""},
		{"aud number", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","aud":7,"exp":%d}`, expUnix)), "", ""},
		// iss without a configured issuer is ignored.
		{"iss, none configured", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","iss":"https://shop.example","exp":%d}`, expUnix)), "b1", ""},
		{"iss number", rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","iss":7,"exp":%d}`, expUnix)), "", ""},
	}
	v := fixedVerifier(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(tt.token)
			if tt.wantID != "" {
				if err != nil {
					t.Fatalf("Verify: got error %v, want buyer %q", err, tt.wantID)
				}
				if got != tt.wantID {
					t.Errorf("Verify: got buyer %q, want %q", got, tt.wantID)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify: got buyer %q, want an error", got)
			}
			if got != "" {
				t.Errorf("Verify: got buyer %q alongside error, want empty", got)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify error: got %v, want it to wrap ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.wantWhy) {
				t.Errorf("Verify error: got %q, want it to contain %q", err, tt.wantWhy)
			}
			// The reason is for logs and must not carry attacker text.
			if len(err.Error()) > 100 {
				t.Errorf("Verify error: got %d bytes (%q), want a short fixed reason", len(err.Error()), err)
			}
		})
	}
}

// TestVerifyIssuerAudience: a configured issuer must be the token's iss
// exactly, and a configured audience must be listed in its aud.
func TestVerifyIssuerAudience(t *testing.T) {
	const iss, aud = "https://shop.example", "livecommerce-origin"
	expUnix := testNow.Add(time.Hour).Unix()
	tok := func(extra string) string {
		return rawHS256(t, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1",%s"exp":%d}`, extra, expUnix))
	}
	both := []Option{WithIssuer(iss), WithAudience(aud)}
	tests := []struct {
		name    string
		opts    []Option
		token   string
		wantErr string // empty: accepted as b1
	}{
		{"both match", both, tok(`"iss":"https://shop.example","aud":"livecommerce-origin",`), ""},
		{"aud in a list", both, tok(`"iss":"https://shop.example","aud":["payments","livecommerce-origin"],`), ""},
		{"iss missing", both, tok(`"aud":"livecommerce-origin",`), "wrong or missing iss"},
		{"iss empty", both, tok(`"iss":"","aud":"livecommerce-origin",`), "wrong or missing iss"},
		{"iss other", both, tok(`"iss":"https://evil.example","aud":"livecommerce-origin",`), "wrong or missing iss"},
		{"iss differs in case", both, tok(`"iss":"https://SHOP.example","aud":"livecommerce-origin",`), "wrong or missing iss"},
		{"iss with trailing slash", both, tok(`"iss":"https://shop.example/","aud":"livecommerce-origin",`), "wrong or missing iss"},
		{"iss prefix", both, tok(`"iss":"https://shop.exampl","aud":"livecommerce-origin",`), "wrong or missing iss"},
		{"iss with NUL", both, tok(`"iss":"https://shop.example\u0000","aud":"livecommerce-origin",`), "wrong or missing iss"},
		{"iss list", both, tok(`"iss":["https://shop.example"],"aud":"livecommerce-origin",`), "malformed"},
		{"aud missing", both, tok(`"iss":"https://shop.example",`), "wrong or missing aud"},
		{"aud empty list", both, tok(`"iss":"https://shop.example","aud":[],`), "wrong or missing aud"},
		{"aud other", both, tok(`"iss":"https://shop.example","aud":"payments",`), "wrong or missing aud"},
		{"aud substring", both, tok(`"iss":"https://shop.example","aud":"livecommerce-origin-staging",`), "wrong or missing aud"},
		{"aud list without ours", both, tok(`"iss":"https://shop.example","aud":["payments","livecommerce"],`), "wrong or missing aud"},
		{"aud hostile", both, tok(`"iss":"https://shop.example","aud":"` + strings.Repeat("<x>", 300) + `",`), "wrong or missing aud"},
		{"issuer only: no aud", []Option{WithIssuer(iss)}, tok(`"iss":"https://shop.example",`), ""},
		{"issuer only: aud present", []Option{WithIssuer(iss)}, tok(`"iss":"https://shop.example","aud":"livecommerce-origin",`), "aud present"},
		{"audience only: any iss", []Option{WithAudience(aud)}, tok(`"iss":"anyone","aud":"livecommerce-origin",`), ""},
		{"audience only: no iss", []Option{WithAudience(aud)}, tok(`"aud":"livecommerce-origin",`), ""},
		{"empty options are unset", []Option{WithIssuer(""), WithAudience("")}, tok(`"iss":"anyone",`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fixedVerifier(t, tt.opts...).Verify(tt.token)
			if tt.wantErr == "" {
				if err != nil || got != "b1" {
					t.Fatalf("Verify: got (%q, %v), want (b1, nil)", got, err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify: got (%q, %v), want ErrInvalidToken", got, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Verify error: got %q, want it to contain %q", err, tt.wantErr)
			}
			if len(err.Error()) > 100 || strings.Contains(err.Error(), "example") || strings.Contains(err.Error(), "<x>") {
				t.Errorf("Verify error: got %q, want a short reason quoting nothing from the token", err)
			}
		})
	}
}

// TestVerifyMaxTTL: the configured maximum lifetime replaces the default.
func TestVerifyMaxTTL(t *testing.T) {
	tests := []struct {
		name    string
		maxTTL  time.Duration
		exp     time.Duration // from testNow
		wantErr bool
	}{
		{"default, 23h", 0, 23 * time.Hour, false},
		{"default, 25h", 0, 25 * time.Hour, true},
		{"1m, 1m", time.Minute, time.Minute, false},
		{"1m, 2m", time.Minute, 2 * time.Minute, true},
		{"720h, 719h", LongestMaxTTL, 719 * time.Hour, false},
		{"720h, 721h", LongestMaxTTL, 721 * time.Hour, true},
	}
	for _, tt := range tests {
		v := fixedVerifier(t, WithMaxTTL(tt.maxTTL))
		_, err := v.Verify(signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(tt.exp))))
		if got := err != nil; got != tt.wantErr {
			t.Errorf("%s: Verify error = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
		want string
	}{
		{"max ttl below 1m", WithMaxTTL(59 * time.Second), "max ttl must be between"},
		{"max ttl negative", WithMaxTTL(-time.Hour), "max ttl must be between"},
		{"max ttl above 720h", WithMaxTTL(721 * time.Hour), "max ttl must be between"},
		{"max ttl a century", WithMaxTTL(100 * 365 * 24 * time.Hour), "max ttl must be between"},
		{"issuer with space", WithIssuer("my shop"), "issuer must be"},
		{"issuer with newline", WithIssuer("shop\nlevel=admin"), "issuer must be"},
		{"issuer with NUL", WithIssuer("shop\x00"), "issuer must be"},
		{"issuer unicode", WithIssuer("shöp"), "issuer must be"},
		{"issuer oversized", WithIssuer(strings.Repeat("i", MaxClaimValueLen+1)), "issuer must be"},
		{"audience with tab", WithAudience("a\tb"), "audience must be"},
		{"audience invalid UTF-8", WithAudience("\xff"), "audience must be"},
		{"audience oversized", WithAudience(strings.Repeat("a", 10000)), "audience must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(testSecret, tt.opt); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewVerifier: got %v, want an error containing %q", err, tt.want)
			}
			tok, err := Issue(testSecret, "b1", time.Minute, testNow, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Issue: got (%q, %v), want an error containing %q", tok, err, tt.want)
			}
			if len(err.Error()) > 120 {
				t.Errorf("Issue error: got %d bytes, want a message that does not echo the value", len(err.Error()))
			}
		})
	}
	for _, o := range []Option{WithMaxTTL(ShortestMaxTTL), WithMaxTTL(LongestMaxTTL), WithMaxTTL(0),
		WithIssuer(strings.Repeat("i", MaxClaimValueLen)), WithAudience("urn:x-shop:origin")} {
		if _, err := NewVerifier(testSecret, o); err != nil {
			t.Errorf("NewVerifier with a valid option: got %v, want success", err)
		}
	}
}

// TestIssueOptions: Issue writes the configured iss and aud, refuses a ttl
// above the maximum lifetime, and its tokens pass a Verifier built with
// the same options.
func TestIssueOptions(t *testing.T) {
	opts := []Option{WithIssuer("https://shop.example"), WithAudience("origin"), WithMaxTTL(2 * time.Hour)}
	tok, err := Issue(testSecret, "b1", 2*time.Hour, testNow, opts...)
	if err != nil {
		t.Fatalf("Issue at the maximum ttl: %v", err)
	}
	var c jwt.RegisteredClaims
	if _, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return testSecret, nil },
		jwt.WithTimeFunc(func() time.Time { return testNow })); err != nil {
		t.Fatalf("parse issued token: %v", err)
	}
	if got, want := c.Issuer, "https://shop.example"; got != want {
		t.Errorf("iss: got %q, want %q", got, want)
	}
	if got, want := strings.Join(c.Audience, ","), "origin"; got != want {
		t.Errorf("aud: got %q, want %q", got, want)
	}
	if got, err := fixedVerifier(t, opts...).Verify(tok); err != nil || got != "b1" {
		t.Errorf("Verify with the same options: got (%q, %v), want (b1, nil)", got, err)
	}
	if _, err := fixedVerifier(t).Verify(tok); err == nil {
		t.Errorf("Verify without an audience: got success, want the aud refused")
	}

	plain, err := Issue(testSecret, "b1", time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c = jwt.RegisteredClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(plain, &c); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "" || len(c.Audience) != 0 {
		t.Errorf("Issue without options: got iss %q aud %q, want neither", c.Issuer, c.Audience)
	}

	for _, tt := range []struct {
		ttl  time.Duration
		opts []Option
	}{
		{2*time.Hour + time.Second, opts},
		{DefaultMaxTTL + time.Second, nil},
		{100 * 365 * 24 * time.Hour, nil},
		{LongestMaxTTL + time.Nanosecond, []Option{WithMaxTTL(LongestMaxTTL)}},
	} {
		tok, err := Issue(testSecret, "b1", tt.ttl, testNow, tt.opts...)
		if err == nil || !strings.Contains(err.Error(), "above the maximum lifetime") {
			t.Errorf("Issue(ttl %s): got (%q, %v), want it refused as above the maximum lifetime", tt.ttl, tok, err)
		}
	}
}

// TestVerifyRealClock covers the exported constructor, whose clock is
// time.Now, with margins far wider than any scheduling delay.
func TestVerifyRealClock(t *testing.T) {
	v, err := NewVerifier(testSecret)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	tests := []struct {
		name    string
		issued  time.Time
		ttl     time.Duration
		wantErr bool
	}{
		{"fresh", time.Now(), time.Minute, false},
		{"expired", time.Now().Add(-2 * time.Hour), time.Hour, true},
		{"issued an hour ahead", time.Now().Add(time.Hour), time.Hour, true},
	}
	for _, tt := range tests {
		tok, err := Issue(testSecret, "b1", tt.ttl, tt.issued)
		if err != nil {
			t.Fatalf("%s: Issue: %v", tt.name, err)
		}
		_, err = v.Verify(tok)
		if got := err != nil; got != tt.wantErr {
			t.Errorf("%s: Verify error = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := fixedVerifier(t)
	good := signed(t, jwt.SigningMethodHS256, testSecret, claimsFor("b1", testNow.Add(time.Hour)))
	bad := signed(t, jwt.SigningMethodHS256, otherSecret, claimsFor("b1", testNow.Add(time.Hour)))
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				if id, err := v.Verify(good); err != nil || id != "b1" {
					errs <- fmt.Errorf("good token: got (%q, %v), want (b1, nil)", id, err)
					return
				}
				if _, err := v.Verify(bad); err == nil {
					errs <- errors.New("bad token: got success, want error")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestValidBuyerID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a", true},
		{"Buyer_01", true},
		{"user@example.com", true},
		{"tenant|42:sub-id.x", true},
		{strings.Repeat("z", 128), true},
		{"", false},
		{strings.Repeat("z", 129), false},
		{"a b", false},
		{" a", false},
		{"a\t", false},
		{"a\n", false},
		{"a\x00", false},
		{"a/b", false},
		{"a+b", false},
		{"a'b", false},
		{"a\"b", false},
		{"a;b", false},
		{"a*b", false},
		{"ü", false},
		{"\xff", false},
		{"１", false},
	}
	for _, tt := range tests {
		if got := ValidBuyerID(tt.in); got != tt.want {
			t.Errorf("ValidBuyerID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

var buyerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:@|-]{1,128}$`)

func FuzzValidBuyerID(f *testing.F) {
	for _, s := range []string{"", "a", "a b", "user@example.com", strings.Repeat("a", 128), strings.Repeat("a", 129), "ü", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The regexp is the specification; the byte loop is the fast path.
		if got, want := ValidBuyerID(s), buyerIDPattern.MatchString(s); got != want {
			t.Errorf("ValidBuyerID(%q) = %v, want %v", s, got, want)
		}
	})
}

func FuzzVerify(f *testing.F) {
	exp := testNow.Add(time.Hour).Unix()
	f.Add(rawHS256(f, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","exp":%d}`, exp)))
	f.Add(rawHS256(f, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b 1","exp":%d}`, exp)))
	f.Add(rawHS256(f, testSecret, `{"alg":"none"}`, `{"sub":"b1"}`))
	f.Add(rawHS256(f, testSecret, `{"alg":"HS256","crit":["b64"],"b64":false}`, fmt.Sprintf(`{"sub":"b1","exp":%d}`, exp)))
	f.Add(rawHS256(f, testSecret, hsHeader, fmt.Sprintf(`{"sub":"b1","aud":"x","exp":%d}`, exp)))
	f.Add(rawHS256(f, testSecret, hsHeader, `{"sub":"b1","exp":99999999999}`))
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	v := fixedVerifier(f)
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify error %v does not wrap ErrInvalidToken", err)
			}
			if id != "" {
				t.Fatalf("Verify returned id %q with error %v", id, err)
			}
			return
		}
		if !ValidBuyerID(id) {
			t.Fatalf("Verify accepted invalid buyer id %q", id)
		}
		if len(token) > MaxTokenLen {
			t.Fatalf("Verify accepted a %d-byte token", len(token))
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	v, err := NewVerifier(testSecret)
	if err != nil {
		b.Fatalf("NewVerifier: %v", err)
	}
	tok, err := Issue(testSecret, "buyer-1234567890", time.Hour, time.Now())
	if err != nil {
		b.Fatalf("Issue: %v", err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatalf("Verify: %v", err)
			}
		}
	})
}

func BenchmarkVerifyRejectsGarbage(b *testing.B) {
	v, err := NewVerifier(testSecret)
	if err != nil {
		b.Fatalf("NewVerifier: %v", err)
	}
	big := strings.Repeat("A", MaxTokenLen+1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(big); err == nil {
			b.Fatal("Verify accepted an oversized token")
		}
	}
}
