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
	testSecret  = []byte("0123456789abcdef-test-secret")
	otherSecret = []byte("fedcba9876543210-other-secret")
	// testNow is the verifier's clock in deterministic tests. NumericDate
	// has one-second precision, so it is a whole second.
	testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// fixedVerifier returns a Verifier whose clock is pinned to testNow.
func fixedVerifier(t testing.TB) *Verifier {
	t.Helper()
	v, err := newVerifier(testSecret, func() time.Time { return testNow })
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
		{"short secret", []byte("short"), "b1", time.Hour, "at least 16"},
		{"nil secret", nil, "b1", time.Hour, "at least 16"},
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
		{0, true}, {1, true}, {15, true}, {16, false}, {64, false},
	}
	for _, tt := range tests {
		_, err := NewVerifier(make([]byte, tt.n))
		if got := err != nil; got != tt.wantErr {
			t.Errorf("NewVerifier(%d bytes): got error %v, want error %v", tt.n, err, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "need at least 16") {
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
