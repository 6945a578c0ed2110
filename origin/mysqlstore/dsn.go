package mysqlstore

import (
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// safeCharsets are the connection character sets CheckDSN accepts.
//
// Open has the driver interpolate arguments into the statement text, and
// the driver escapes a quote by putting a backslash (0x5c) before it, byte
// by byte. That is sound only if the server cannot read 0x5c as the second
// byte of a multibyte character: in big5, cp932, gbk, sjis and gb18030 it
// can, so a value ending in such a lead byte swallows the backslash and the
// quote after it closes the string. The list is an allowlist rather than a
// denylist of those, so that no other charset has to be proven safe.
var safeCharsets = []string{"utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", "binary"}

// collationName is what a collation can look like: it ends up after
// "SET NAMES x COLLATE", so nothing that could end that statement passes.
var collationName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// sessionCharsetWords are the words a system variable in the DSN would need
// to change the character set: the driver sends each unknown parameter as
// "SET key = value", and a value such as "1, NAMES gbk" is a second
// assignment.
var sessionCharsetWords = []string{"names", "charset", "character", "collat"}

// CheckDSN refuses a MySQL DSN that would make Open's client-side escaping
// unsafe: a charset parameter naming anything but utf8mb4, utf8mb3, utf8,
// latin1, ascii or binary (each of a comma-separated list), a collation of
// another character set, or a system-variable parameter that touches the
// character set or collation. Its errors never quote the DSN, which may
// carry a password.
func CheckDSN(dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return errors.New("does not parse as a MySQL DSN")
	}
	// The driver keeps charset to itself, so it is read the way the
	// driver's parser reads it: the parameters follow the first '?' after
	// the last '/', and the value is used as written, unescaped.
	for _, v := range rawParams(dsn, "charset") {
		for _, cs := range strings.Split(v, ",") {
			if !safeCharset(cs) {
				return errors.New("charset must be one of " + strings.Join(safeCharsets, ", ") +
					" (client-side escaping is unsafe in multibyte sets such as gbk or sjis)")
			}
		}
	}
	if c := cfg.Collation; c != "" {
		cs, _, _ := strings.Cut(c, "_")
		if !collationName.MatchString(c) || !safeCharset(cs) {
			return errors.New("collation must belong to one of " + strings.Join(safeCharsets, ", "))
		}
	}
	for k, v := range cfg.Params {
		kv := strings.ToLower(k + "=" + v)
		for _, w := range sessionCharsetWords {
			if strings.Contains(kv, w) {
				return errors.New("system variables may not change the character set or collation; use the charset and collation parameters")
			}
		}
	}
	return nil
}

func safeCharset(cs string) bool {
	return slices.ContainsFunc(safeCharsets, func(s string) bool { return strings.EqualFold(s, cs) })
}

// rawParams returns every value of the DSN parameter key, as written.
func rawParams(dsn, key string) []string {
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		return nil
	}
	_, query, ok := strings.Cut(dsn[slash+1:], "?")
	if !ok {
		return nil
	}
	var out []string
	for p := range strings.SplitSeq(query, "&") {
		if k, v, ok := strings.Cut(p, "="); ok && k == key {
			out = append(out, v)
		}
	}
	return out
}
