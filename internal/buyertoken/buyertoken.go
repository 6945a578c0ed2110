// Package buyertoken issues and verifies the buyer JWTs that authorise
// purchases: HS256 only, subject = buyer id, expiry required.
//
// Verification sits on the purchase hot path, so a Verifier is built once
// with its parser and key function configured, and every failure is reported
// as ErrInvalidToken with a short reason that the HTTP edge maps to 401
// without echoing anything the client sent.
//
// Beyond the signature, a token is refused when:
//   - its expiry is further ahead than the maximum lifetime (WithMaxTTL,
//     24h by default, plus Leeway), or its iat is more than Leeway in the
//     future: a token minted to last for centuries would be a permanent
//     credential once leaked;
//   - its header has a crit parameter: no JWS extension is understood here,
//     and RFC 7515 section 4.1.11 requires refusing what is not understood;
//   - an issuer is configured (WithIssuer) and its iss is not exactly that;
//   - an audience is configured (WithAudience) and its aud does not list it;
//   - no audience is configured and it carries an aud at all. A token that
//     names an audience was minted for some service, and without a
//     configured audience there is no way to tell that it was this one, so
//     a token of another service sharing the secret is not taken for ours.
//     An iss, by contrast, is ignored when no issuer is configured: it says
//     who minted the token, not whom it is for, and host applications often
//     set one out of habit.
//
// Issue takes the same options, so that one deployment's settings describe
// both the tokens it mints and the tokens it accepts.
package buyertoken

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// MinSecretLen is the shortest HMAC secret accepted: HS256 wants a key
	// at least as long as its 256-bit output (RFC 7518 section 3.2), and a
	// shorter one is open to offline guessing from a single captured token.
	MinSecretLen = 32

	// MaxTokenLen bounds the work an unauthenticated client can make us do:
	// a legitimate token is a few hundred bytes.
	MaxTokenLen = 4096

	// MaxBuyerIDLen is the longest buyer id accepted.
	MaxBuyerIDLen = 128

	// Leeway absorbs clock skew between the issuer and this process.
	Leeway = 5 * time.Second

	// DefaultMaxTTL is the longest a token may still have to live when it
	// is verified (or be issued for), unless WithMaxTTL says otherwise.
	DefaultMaxTTL = 24 * time.Hour
	// ShortestMaxTTL and LongestMaxTTL bound what WithMaxTTL accepts.
	ShortestMaxTTL = time.Minute
	LongestMaxTTL  = 720 * time.Hour

	// MaxClaimValueLen is the longest issuer or audience accepted.
	MaxClaimValueLen = 256
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

// ValidClaimValue reports whether s can be an issuer or audience: 1..256
// printable ASCII characters without spaces, which URLs and service names
// are. The setting is compared byte for byte, so anything looser would only
// invite two spellings of one name.
func ValidClaimValue(s string) bool {
	if len(s) == 0 || len(s) > MaxClaimValueLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Option configures Issue and NewVerifier.
type Option func(*settings)

type settings struct {
	issuer   string
	audience string
	maxTTL   time.Duration
}

// WithIssuer sets the iss that Issue writes and that a Verifier requires,
// exactly. Empty leaves it unset: Issue writes none and a Verifier ignores
// iss.
func WithIssuer(iss string) Option { return func(s *settings) { s.issuer = iss } }

// WithAudience sets the aud that Issue writes and that a Verifier requires
// a token's aud to list. Empty leaves it unset: Issue writes none and a
// Verifier refuses every token that has an aud.
func WithAudience(aud string) Option { return func(s *settings) { s.audience = aud } }

// WithMaxTTL sets the longest lifetime Issue grants and the furthest ahead
// a Verifier accepts an expiry (plus Leeway). It must be between
// ShortestMaxTTL and LongestMaxTTL; zero means DefaultMaxTTL.
func WithMaxTTL(d time.Duration) Option { return func(s *settings) { s.maxTTL = d } }

func newSettings(opts []Option) (settings, error) {
	s := settings{maxTTL: DefaultMaxTTL}
	for _, o := range opts {
		o(&s)
	}
	if s.maxTTL == 0 {
		s.maxTTL = DefaultMaxTTL
	}
	var errs []error
	if s.maxTTL < ShortestMaxTTL || s.maxTTL > LongestMaxTTL {
		errs = append(errs, fmt.Errorf("buyertoken: max ttl must be between %s and %s, got %s", ShortestMaxTTL, LongestMaxTTL, s.maxTTL))
	}
	// Neither value is echoed: both come from configuration that may hold
	// anything, control characters included.
	if s.issuer != "" && !ValidClaimValue(s.issuer) {
		errs = append(errs, fmt.Errorf("buyertoken: issuer must be 1..%d printable ASCII characters without spaces", MaxClaimValueLen))
	}
	if s.audience != "" && !ValidClaimValue(s.audience) {
		errs = append(errs, fmt.Errorf("buyertoken: audience must be 1..%d printable ASCII characters without spaces", MaxClaimValueLen))
	}
	return s, errors.Join(errs...)
}

// Issue signs a token for buyerID that is valid from now until now+ttl,
// with the issuer and audience of opts. The expiry is truncated to whole
// seconds, as JWT NumericDate requires; ttl may not exceed the maximum
// lifetime of opts, as a Verifier would refuse the token.
func Issue(secret []byte, buyerID string, ttl time.Duration, now time.Time, opts ...Option) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("buyertoken: issue: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	set, err := newSettings(opts)
	if err != nil {
		return "", err
	}
	if !ValidBuyerID(buyerID) {
		// The id is not echoed: it may be arbitrary operator or client input.
		return "", errors.New("buyertoken: issue: invalid buyer id (want 1..128 of [A-Za-z0-9_.:@|-])")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("buyertoken: issue: ttl must be positive, got %s", ttl)
	}
	if ttl > set.maxTTL {
		return "", fmt.Errorf("buyertoken: issue: ttl %s is above the maximum lifetime %s", ttl, set.maxTTL)
	}
	claims := jwt.RegisteredClaims{
		Issuer:    set.issuer,
		Subject:   buyerID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	if set.audience != "" {
		claims.Audience = jwt.ClaimStrings{set.audience}
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
	now     func() time.Time
	set     settings
}

// NewVerifier returns a Verifier for secret, which must be at least
// MinSecretLen bytes, checking the issuer, audience and maximum lifetime
// of opts. The secret is copied.
func NewVerifier(secret []byte, opts ...Option) (*Verifier, error) {
	return newVerifier(secret, nil, opts...)
}

// newVerifier lets tests pin the clock; production always uses time.Now.
func newVerifier(secret []byte, now func() time.Time, opts ...Option) (*Verifier, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("buyertoken: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	set, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	// iss and aud are checked by Verify rather than by the parser, which
	// has no rule for an aud nobody configured and whose reasons for a
	// missing claim cannot be told apart without reading its messages.
	popts := []jwt.ParserOption{
		// The allow-list is what stops alg=none and the RS256/HS256
		// key-confusion trick; the key function checks it again below.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(now),
	}
	v := &Verifier{
		secret: any(append([]byte(nil), secret...)),
		parser: jwt.NewParser(popts...),
		now:    now,
		set:    set,
	}
	v.keyFunc = v.key
	return v, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	if t.Method != jwt.SigningMethodHS256 {
		return nil, errUnexpectedMethod
	}
	// Whatever extension crit names, it is not one implemented here, and
	// RFC 7515 section 4.1.11 says such a token must be refused. Even an
	// empty or malformed crit is refused: it is never sent by our issuers.
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritical
	}
	return v.secret, nil
}

var (
	errUnexpectedMethod = errors.New("unexpected signing method")
	errCritical         = errors.New("crit header")
)

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
	// The parser has required exp, so ExpiresAt is set.
	if claims.ExpiresAt.Time.After(v.now().Add(v.set.maxTTL + Leeway)) {
		return "", fmt.Errorf("%w: exp beyond the maximum lifetime", ErrInvalidToken)
	}
	if v.set.issuer != "" && claims.Issuer != v.set.issuer {
		return "", fmt.Errorf("%w: wrong or missing iss", ErrInvalidToken)
	}
	switch {
	case v.set.audience == "" && len(claims.Audience) > 0:
		return "", fmt.Errorf("%w: aud present but none configured", ErrInvalidToken)
	case v.set.audience != "" && !slices.Contains(claims.Audience, v.set.audience):
		return "", fmt.Errorf("%w: wrong or missing aud", ErrInvalidToken)
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
	case errors.Is(err, errCritical):
		return "unsupported crit header"
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
