package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"livecommerce/internal/program"
)

// TestRunExitStatus: wrong usage is exit status 2 and starts nothing.
func TestRunExitStatus(t *testing.T) {
	none := func(string) string { return "" }
	tests := []struct {
		name string
		args []string
		want int
		says string
	}{
		{"an unknown command", []string{"frobnicate"}, program.BadUsage, "frobnicate"},
		{"no stockfeed", nil, program.BadUsage, "-feed-bin"},
		{"a bad flag", []string{"-clients", "many"}, program.BadUsage, "clients"},
		{"help", []string{"-h"}, program.OK, ""},
		{"an extra argument", []string{"transport", "extra"}, program.BadUsage, "extra"},
		{"no clients", []string{"transport", "-clients", "0"}, program.BadUsage, "-clients"},
		{"a transport server of no kind", []string{"transport-server", "-kind", "carrier-pigeon"}, program.BadUsage, "carrier-pigeon"},
	}
	for _, tc := range tests {
		err := run(context.Background(), tc.args, io.Discard, io.Discard, none)
		if got := program.Code(err); got != tc.want {
			t.Errorf("%s: got exit status %d (%v), want %d", tc.name, got, err, tc.want)
		}
		if tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)) {
			t.Errorf("%s: got error %v, want one saying %q", tc.name, err, tc.says)
		}
	}
}
