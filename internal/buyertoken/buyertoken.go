// Package buyertoken issues and verifies the buyer JWTs that authorise
// purchases: HS256 only, subject = buyer id, expiry required.
//
// Verification sits on the purchase hot path, so a Verifier is built once
// with its parser and key function configured, and every failure is reported
// as ErrInvalidToken with a short reason that the HTTP edge maps to 401
// without echoing anything the client sent.
package buyertoken

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// MinSecretLen is the shortest HMAC secret accepted. Shorter secrets are
	// brute-forceable offline from a single captured token.
	MinSecretLen = 16

	// MaxTokenLen bounds the work an unauthenticated client can make us do:
	// a legitimate token is a few hundred bytes.
	MaxTokenLen = 4096

	// MaxBuyerIDLen is the longest buyer id accepted.
	MaxBuyerIDLen = 128

	// Leeway absorbs clock skew between the issuer and this process.
	Leeway = 5 * time.Second
)

// ErrInvalidToken is returned, wrapped with a reason, for every token that
// must not be trusted. Callers test for it with errors.Is and answer 401.
var ErrInvalidToken = errors.New("buyertoken: invalid token")

// ValidBuyerID reports whether s is 1..128 characters of [A-Za-z0-9_.:@|-].
// The set is narrow on purpose: buyer ids end up in logs, Redis keys and SQL
// parameters, and anything outside it is more likely an attack than an id.
func ValidBuyerID(s string) bool {
	if len(s) == 0 || len(s) > MaxBuyerIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !buyerIDByte(s[i]) {
			return false
		}
	}
	return true
}

func buyerIDByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '_', '.', ':', '@', '|', '-':
		return true
	}
	return false
}

// Issue signs a token for buyerID that is valid from now until now+ttl.
// The expiry is truncated to whole seconds, as JWT NumericDate requires.
func Issue(secret []byte, buyerID string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("buyertoken: issue: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	if !ValidBuyerID(buyerID) {
		// The id is not echoed: it may be arbitrary operator or client input.
		return "", errors.New("buyertoken: issue: invalid buyer id (want 1..128 of [A-Za-z0-9_.:@|-])")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("buyertoken: issue: ttl must be positive, got %s", ttl)
	}
	claims := jwt.RegisteredClaims{
		Subject:   buyerID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("buyertoken: issue: sign: %w", err)
	}
	return s, nil
}

// Verifier checks buyer tokens against one secret. It is safe for
// concurrent use.
type Verifier struct {
	// secret is the HMAC key, boxed once: returning a []byte as `any` from
	// the key function would otherwise allocate on every Verify.
	secret any
	parser *jwt.Parser
	// keyFunc is bound once so Verify does not allocate a closure per call.
	keyFunc jwt.Keyfunc
}

// NewVerifier returns a Verifier for secret, which must be at least
// MinSecretLen bytes. The secret is copied.
func NewVerifier(secret []byte) (*Verifier, error) {
	return newVerifier(secret, nil)
}

// newVerifier lets tests pin the clock; production always uses time.Now.
func newVerifier(secret []byte, now func() time.Time) (*Verifier, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("buyertoken: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	opts := []jwt.ParserOption{
		// The allow-list is what stops alg=none and the RS256/HS256
		// key-confusion trick; the key function checks it again below.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	}
	if now != nil {
		opts = append(opts, jwt.WithTimeFunc(now))
	}
	v := &Verifier{
		secret: any(append([]byte(nil), secret...)),
		parser: jwt.NewParser(opts...),
	}
	v.keyFunc = v.key
	return v, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	if t.Method != jwt.SigningMethodHS256 {
		return nil, errUnexpectedMethod
	}
	return v.secret, nil
}

var errUnexpectedMethod = errors.New("unexpected signing method")

// Verify checks token and returns its buyer id. Every failure wraps
// ErrInvalidToken; the reason never quotes the token or its claims.
func (v *Verifier) Verify(token string) (buyerID string, err error) {
	if len(token) == 0 {
		return "", fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(token) > MaxTokenLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenLen)
	}
	var claims jwt.RegisteredClaims
	if _, err := v.parser.ParseWithClaims(token, &claims, v.keyFunc); err != nil {
		return "", fmt.Errorf("%w: %s", ErrInvalidToken, reason(err))
	}
	if claims.Subject == "" {
		return "", fmt.Errorf("%w: missing sub", ErrInvalidToken)
	}
	if !ValidBuyerID(claims.Subject) {
		return "", fmt.Errorf("%w: malformed sub", ErrInvalidToken)
	}
	return claims.Subject, nil
}

// reason turns a jwt error into a fixed phrase. The library's own messages
// can contain header values chosen by the client, which must not reach logs
// or responses verbatim.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, errUnexpectedMethod):
		return "unexpected signing method"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// The parser reports a disallowed alg as a signature error.
		return "bad signature or signing method"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing exp"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrInvalidType):
		return "claim has the wrong type"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable"
	default:
		return "rejected"
	}
}
