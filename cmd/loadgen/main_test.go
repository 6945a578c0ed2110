package main

import (
	"context"
	"strings"
	"testing"

	"livecommerce/internal/program"
)

// TestRunExitStatus: wrong usage is exit status 2 and starts nothing;
// help is 0.
func TestRunExitStatus(t *testing.T) {
	none := func(string) string { return "" }
	tests := []struct {
		name string
		args []string
		want int
		says string // in the error, if any
	}{
		{"no command", nil, program.BadUsage, ""},
		{"an unknown command", []string{"frobnicate"}, program.BadUsage, "frobnicate"},
		{"help", []string{"help"}, program.OK, ""},
		{"run off loopback", []string{"run", "--edge-url", "http://203.0.113.7:80"}, program.BadUsage, "loopback"},
		{"run -h", []string{"run", "-h"}, program.OK, ""},
		{"reset of another database", []string{"reset", "--mysql-dsn", "root@tcp(127.0.0.1:3306)/livecommerce"}, program.BadUsage, "MYSQL_DSN"},
		{"static-json off loopback", []string{"static-json", "--addr", "0.0.0.0:1"}, program.BadUsage, "STATIC_ADDR"},
		{"naive-origin without a secret", []string{"naive-origin"}, program.BadUsage, "BUYER_JWT_SECRET"},
	}
	for _, tc := range tests {
		var out strings.Builder
		code, err := run(context.Background(), tc.args, &out, none)
		if code != tc.want {
			t.Errorf("%s: got exit status %d (%v), want %d", tc.name, code, err, tc.want)
		}
		if tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)) {
			t.Errorf("%s: got error %v, want one saying %q", tc.name, err, tc.says)
		}
	}
}
