package program_test

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"livecommerce/internal/program"
)

func TestCode(t *testing.T) {
	usage := program.Usage(errors.New("--name: required"))
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"done", nil, 0},
		{"help", flag.ErrHelp, 0},
		{"help as usage", program.Usage(flag.ErrHelp), 0},
		{"failed", errors.New("mysql: connection refused"), 1},
		{"usage", usage, 2},
		{"usage wrapped", fmt.Errorf("origin migrate: %w", usage), 2},
		{"nil usage", program.Usage(nil), 0},
	}
	for _, tt := range tests {
		if got := program.Code(tt.err); got != tt.want {
			t.Errorf("%s: Code(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestReport(t *testing.T) {
	var b strings.Builder
	if code := program.Report(&b, "origin", program.Usage(errors.New("unknown command \"x\""))); code != 2 || b.String() != "origin: unknown command \"x\"\n" {
		t.Errorf("got %d %q, want 2 and the message after the program's name", code, b.String())
	}
	b.Reset()
	if code := program.Report(&b, "origin", flag.ErrHelp); code != 0 || b.Len() != 0 {
		t.Errorf("help: got %d %q, want 0 and nothing printed", code, b.String())
	}
}
