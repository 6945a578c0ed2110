package mysqlstore_test

import (
	"strings"
	"testing"

	"livecommerce/origin/mysqlstore"
)

// dsnPassword is in every DSN below, so a test can see that no error
// quotes it.
const dsnPassword = "s3cr3t-pw"

func TestCheckDSN(t *testing.T) {
	const base = "root:" + dsnPassword + "@tcp(127.0.0.1:3306)/livecommerce?parseTime=true"
	tests := []struct {
		name string
		dsn  string
		want string // substring of the error; empty means accepted
	}{
		{"no charset", base, ""},
		{"no parameters", "root:" + dsnPassword + "@tcp(127.0.0.1:3306)/livecommerce", ""},
		{"utf8mb4", base + "&charset=utf8mb4", ""},
		{"upper case", base + "&charset=UTF8MB4", ""},
		{"every safe one", base + "&charset=utf8mb4,utf8mb3,utf8,latin1,ascii,binary", ""},
		{"safe collation", base + "&collation=utf8mb4_general_ci", ""},
		{"safe collation, 0900", base + "&charset=utf8mb4&collation=utf8mb4_0900_ai_ci", ""},
		{"latin1 collation", base + "&collation=latin1_swedish_ci", ""},
		{"binary collation", base + "&collation=binary", ""},
		{"harmless system variable", base + "&sql_mode=%27TRADITIONAL%27&time_zone=%27%2B00%3A00%27", ""},
		{"charset-looking password", "root:x?charset=gbk&collation=gbk_bin@tcp(127.0.0.1:3306)/livecommerce", ""},

		{"gbk", base + "&charset=gbk", "charset must be one of"},
		{"GBK", base + "&charset=GBK", "charset must be one of"},
		{"sjis", base + "&charset=sjis", "charset must be one of"},
		{"big5", base + "&charset=big5", "charset must be one of"},
		{"cp932", base + "&charset=cp932", "charset must be one of"},
		{"gb18030", base + "&charset=gb18030", "charset must be one of"},
		{"gb2312", base + "&charset=gb2312", "charset must be one of"},
		{"euckr", base + "&charset=euckr", "charset must be one of"},
		{"utf16", base + "&charset=utf16", "charset must be one of"},
		{"unsafe one second", base + "&charset=utf8mb4,gbk", "charset must be one of"},
		{"unsafe one first", base + "&charset=gbk,utf8mb4", "charset must be one of"},
		{"repeated, unsafe last", base + "&charset=utf8mb4&charset=sjis", "charset must be one of"},
		{"repeated, unsafe first", base + "&charset=sjis&charset=utf8mb4", "charset must be one of"},
		{"empty", base + "&charset=", "charset must be one of"},
		{"empty in a list", base + "&charset=utf8mb4,", "charset must be one of"},
		{"padded", base + "&charset=utf8mb4 ", "charset must be one of"},
		{"escaped", base + "&charset=%67bk", "charset must be one of"},
		{"injected statement", base + "&charset=utf8mb4;SET NAMES gbk", "charset must be one of"},
		{"injected collate", base + "&charset=utf8mb4 COLLATE gbk_bin", "charset must be one of"},
		{"oversized", base + "&charset=" + strings.Repeat("utf8mb4", 2000), "charset must be one of"},
		{"only parameter", "root:" + dsnPassword + "@tcp(127.0.0.1:3306)/livecommerce?charset=gbk", "charset must be one of"},

		{"gbk collation", base + "&collation=gbk_chinese_ci", "collation must belong"},
		{"sjis collation", base + "&collation=sjis_bin", "collation must belong"},
		{"upper case collation", base + "&collation=GBK_BIN", "collation must belong"},
		{"gb18030 collation", base + "&collation=gb18030_unicode_520_ci", "collation must belong"},
		{"safe charset, gbk collation", base + "&charset=utf8mb4&collation=big5_bin", "collation must belong"},
		{"collation injection", base + "&collation=utf8mb4_bin;SET%20NAMES%20gbk", "collation must belong"},
		{"collation with space", base + "&collation=utf8mb4_bin gbk", "collation must belong"},
		{"collation oversized", base + "&collation=utf8mb4_" + strings.Repeat("x", 100), "collation must belong"},

		{"character_set_client", base + "&character_set_client=gbk", "system variables"},
		{"character_set_connection", base + "&character_set_connection=%27sjis%27", "system variables"},
		{"session variable", base + "&@@session.character_set_client=gbk", "system variables"},
		{"collation_connection", base + "&collation_connection=gbk_bin", "system variables"},
		{"upper case variable", base + "&CHARACTER_SET_CLIENT=big5", "system variables"},
		{"NAMES smuggled in a value", base + "&sql_mode=%27%27%2C%20NAMES%20gbk", "system variables"},
		{"CHARSET smuggled in a value", base + "&wait_timeout=60%2C%20CHARSET%20gbk", "system variables"},
		{"CHARACTER SET smuggled in a value", base + "&wait_timeout=60%2C%20CHARACTER%20SET%20gbk", "system variables"},

		{"unparsable", "mysql://root:" + dsnPassword + "@localhost/db", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mysqlstore.CheckDSN(tt.dsn)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckDSN: got %v, want accepted", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckDSN: got accepted, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckDSN: got %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), dsnPassword) || strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("CheckDSN: got %q, want nothing of the DSN quoted", err)
			}
		})
	}
}

func FuzzCheckDSN(f *testing.F) {
	for _, s := range []string{
		"root@tcp(127.0.0.1:3306)/db?charset=utf8mb4",
		"root:" + dsnPassword + "@tcp(127.0.0.1:3306)/db?charset=gbk",
		"root@tcp(127.0.0.1:3306)/db?collation=sjis_bin",
		"root@tcp(127.0.0.1:3306)/db?x=1%2C%20NAMES%20gbk",
		"u:p?charset=gbk@/db",
		"/?charset=,",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		err := mysqlstore.CheckDSN(dsn)
		if err == nil {
			return
		}
		if len(dsn) >= 8 && strings.Contains(err.Error(), dsn) {
			t.Fatalf("CheckDSN(%q): error %q quotes the DSN", dsn, err)
		}
		if strings.Contains(dsn, dsnPassword) && strings.Contains(err.Error(), dsnPassword) {
			t.Fatalf("CheckDSN(%q): error %q quotes the password", dsn, err)
		}
	})
}
