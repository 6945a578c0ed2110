package apikey_test

import (
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"testing"

	"livecommerce/origin/apikey"
)

// keyFormat is the documented shape of a key: "lck_", 24 lowercase hex
// digits, "_", and 43 characters of unpadded base64url.
var keyFormat = regexp.MustCompile(`^lck_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$`)

func generate(t testing.TB) apikey.Key {
	t.Helper()
	k, err := apikey.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return k
}

func TestGenerateParseRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		k := generate(t)
		if !keyFormat.MatchString(k.Plain) {
			t.Fatalf("Generate().Plain = %q, want it to match %s", k.Plain, keyFormat)
		}
		if seen[k.ID] || seen[k.Plain] {
			t.Fatalf("Generate repeated %q", k.Plain)
		}
		seen[k.ID], seen[k.Plain] = true, true
		id, hash, err := apikey.Parse(k.Plain)
		if err != nil {
			t.Fatalf("Parse(%q) = %v, want nil", k.Plain, err)
		}
		if id != k.ID {
			t.Errorf("Parse id = %q, want %q", id, k.ID)
		}
		if hash != k.Hash {
			t.Errorf("Parse hash = %x, want %x", hash, k.Hash)
		}
		// Only the secret is hashed.
		if want := sha256.Sum256([]byte(k.Plain[len("lck_")+24+1:])); hash != want {
			t.Errorf("hash = %x, want SHA-256 of the secret %x", hash, want)
		}
		if !apikey.Equal(hash[:], k.Hash[:]) {
			t.Error("Equal(hash, hash) = false, want true")
		}
	}
}

func TestEqual(t *testing.T) {
	a := sha256.Sum256([]byte("a"))
	b := sha256.Sum256([]byte("b"))
	tests := []struct {
		name string
		x, y []byte
		want bool
	}{
		{"same", a[:], a[:], true},
		{"different", a[:], b[:], false},
		{"prefix", a[:], a[:31], false},
		{"empty stored", nil, a[:], false},
		{"one bit", a[:], flipBit(a[:]), false},
	}
	for _, tt := range tests {
		if got := apikey.Equal(tt.x, tt.y); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func flipBit(b []byte) []byte {
	c := append([]byte{}, b...)
	c[len(c)-1] ^= 1
	return c
}

func TestParseRejects(t *testing.T) {
	k := generate(t)
	id, secret := k.Plain[4:28], k.Plain[29:]
	tests := []struct {
		name, key string
	}{
		{"empty", ""},
		{"garbage", "hello"},
		{"wrong prefix", "lcx_" + id + "_" + secret},
		{"uppercase prefix", "LCK_" + id + "_" + secret},
		{"no prefix, right length", "xxxx" + id + "_" + secret},
		{"one short", k.Plain[:len(k.Plain)-1]},
		{"one long", k.Plain + "A"},
		{"bearer prefix kept", "Bearer " + k.Plain},
		{"trailing space", k.Plain + " "},
		{"leading space", " " + k.Plain[1:]},
		{"uppercase hex id", "lck_" + strings.ToUpper(id[:1]) + "A" + id[2:] + "_" + secret},
		{"non-hex id", "lck_" + "g" + id[1:] + "_" + secret},
		{"dash instead of underscore", "lck_" + id + "-" + secret},
		{"id shifted", "lck_" + id[:23] + "__" + secret},
		{"secret with padding", "lck_" + id + "_" + secret[:42] + "="},
		{"secret with plus", "lck_" + id + "_" + "+" + secret[1:]},
		{"secret with slash", "lck_" + id + "_" + "/" + secret[1:]},
		{"secret with space", "lck_" + id + "_" + " " + secret[1:]},
		{"secret with NUL", "lck_" + id + "_" + "\x00" + secret[1:]},
		{"secret with dot", "lck_" + id + "_" + "." + secret[1:]},
		// The base64 decoder skips CR and LF: a key carrying one must
		// still be refused, it is not the documented format.
		{"secret with newline", "lck_" + id + "_" + secret[:20] + "\n" + secret[20:42]},
		{"secret with carriage return", "lck_" + id + "_" + secret[:20] + "\r" + secret[20:42]},
		{"unicode in id", "lck_" + "é" + id[2:] + "_" + secret},
		{"unicode in secret", "lck_" + id + "_" + "é" + secret[2:]},
		{"fullwidth digits", "lck_" + "０" + id[3:] + "_" + secret},
		{"10 KB", strings.Repeat("a", 10<<10)},
		{"10 KB with prefix", "lck_" + strings.Repeat("0", 10<<10)},
		{"all underscores", strings.Repeat("_", len(k.Plain))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, hash, err := apikey.Parse(tt.key)
			if !errors.Is(err, apikey.ErrMalformed) {
				t.Errorf("Parse(%.100q) = %q, %x, %v; want ErrMalformed", tt.key, id, hash, err)
			}
			if id != "" {
				t.Errorf("Parse(%.100q) id = %q, want empty on error", tt.key, id)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(generate(f).Plain)
	f.Add("lck_000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("lck_00000000000000000000000A_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("lck_000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("lck_")
	f.Add("")
	f.Add(strings.Repeat("é", 36))
	f.Fuzz(func(t *testing.T, s string) {
		id, hash, err := apikey.Parse(s)
		if err != nil {
			if !errors.Is(err, apikey.ErrMalformed) {
				t.Fatalf("Parse(%q) = %v, want ErrMalformed", s, err)
			}
			return
		}
		if !keyFormat.MatchString(s) {
			t.Fatalf("Parse(%q) accepted a key that does not match %s", s, keyFormat)
		}
		if id != s[4:28] {
			t.Fatalf("Parse(%q) id = %q, want %q", s, id, s[4:28])
		}
		if want := sha256.Sum256([]byte(s[29:])); hash != want {
			t.Fatalf("Parse(%q) hash = %x, want %x", s, hash, want)
		}
	})
}

func TestParseID(t *testing.T) {
	k := generate(t)
	for _, in := range []string{k.ID, apikey.Name(k.ID)} {
		if id, err := apikey.ParseID(in); err != nil || id != k.ID {
			t.Errorf("ParseID(%q) = %q, %v; want %q", in, id, err, k.ID)
		}
	}
	if got := apikey.Name(k.ID); got != k.Plain[:28] {
		t.Errorf("Name(%q) = %q, want the start of the key %q", k.ID, got, k.Plain[:28])
	}
	for _, bad := range []string{
		"", "lck_", k.Plain, k.Plain[:29], "lck_" + k.ID + "_",
		strings.ToUpper(k.ID), "LCK_" + k.ID, "lck_lck_" + k.ID, k.ID[:23], k.ID + "0",
		" " + k.ID[1:], k.ID[:23] + "\n", "lck_' OR '1'='1' -- xxxxxxxx", "g" + k.ID[1:],
		strings.Repeat("0", 10<<10), "０" + k.ID[3:],
	} {
		if id, err := apikey.ParseID(bad); !errors.Is(err, apikey.ErrMalformed) || id != "" {
			t.Errorf("ParseID(%.60q) = %q, %v; want ErrMalformed", bad, id, err)
		}
	}
}

func FuzzParseID(f *testing.F) {
	k := generate(f)
	f.Add(k.ID)
	f.Add(apikey.Name(k.ID))
	f.Add(k.Plain)
	f.Add("lck_lck_000000000000000000000000")
	f.Add("00000000000000000000000\n")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := apikey.ParseID(s)
		if err != nil {
			return
		}
		if !regexp.MustCompile(`^(lck_)?[0-9a-f]{24}$`).MatchString(s) || !strings.HasSuffix(s, id) || len(id) != 24 {
			t.Fatalf("ParseID(%q) = %q, want only lck_ and 24 lowercase hex digits accepted", s, id)
		}
	})
}
