// Package apikey defines merchant API keys: how they are generated, parsed
// and hashed. A key is "lck_" + a 24-hex-digit public id + "_" + a secret;
// only a SHA-256 of the secret is stored. The secret has 256 bits of
// entropy, so a fast hash is enough: there is nothing to brute-force.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

const (
	prefix   = "lck_"
	idLen    = 24
	secLen   = 43 // 32 bytes, unpadded base64url
	totalLen = len(prefix) + idLen + 1 + secLen
)

// ErrMalformed is returned for anything that is not a well-formed key.
var ErrMalformed = errors.New("apikey: malformed key")

// Key is a freshly generated key. Plain is shown to the merchant once.
type Key struct {
	ID    string
	Plain string
	Hash  [32]byte
}

// Generate makes a new key.
func Generate() (Key, error) {
	var id [idLen / 2]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Key{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return Key{}, err
	}
	sec := base64.RawURLEncoding.EncodeToString(secret[:])
	k := Key{ID: hex.EncodeToString(id[:]), Plain: ""}
	k.Plain = prefix + k.ID + "_" + sec
	k.Hash = sha256.Sum256([]byte(sec))
	return k, nil
}

// Parse splits a presented key into its id and the hash of its secret.
func Parse(plain string) (id string, hash [32]byte, err error) {
	if len(plain) != totalLen || !strings.HasPrefix(plain, prefix) || plain[len(prefix)+idLen] != '_' {
		return "", hash, ErrMalformed
	}
	id = plain[len(prefix) : len(prefix)+idLen]
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", hash, ErrMalformed
	}
	sec := plain[len(prefix)+idLen+1:]
	// The decoder skips CR and LF; a key holds neither.
	if strings.ContainsAny(sec, "\r\n") {
		return "", hash, ErrMalformed
	}
	if _, err := base64.RawURLEncoding.DecodeString(sec); err != nil {
		return "", hash, ErrMalformed
	}
	return id, sha256.Sum256([]byte(sec)), nil
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// Name is how a key is shown to operators and in listings: "lck_" and its
// public id, which is how the key itself begins. It reveals nothing of the
// secret.
func Name(id string) string { return prefix + id }

// ParseID reads a key id as an operator gives it: the 24 lowercase hex
// digits, with or without the "lck_" prefix. A whole key (id and secret)
// is refused, so that a secret is never accepted where a name is expected.
func ParseID(s string) (string, error) {
	id := strings.TrimPrefix(s, prefix)
	if len(id) != idLen {
		return "", ErrMalformed
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", ErrMalformed
		}
	}
	return id, nil
}
