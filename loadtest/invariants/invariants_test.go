package invariants

import (
	"testing"

	"livecommerce/loadtest/scenario"
)

// The checks against a real database and Redis run in loadtest/loadrun's
// tests (TestInvariantsCatchViolations), after a real run.

func TestSome(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, ": a"},
		{[]string{"a", "b", "c"}, ": a; b; c"},
		{[]string{"a", "b", "c", "d", "e"}, ": a; b; c and 2 more"},
	}
	for _, tc := range tests {
		if got := some(tc.in); got != tc.want {
			t.Errorf("some(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSKUList(t *testing.T) {
	cfg := scenario.Config{Lives: 2, SKUsPerLive: 2, HotSKUsPerLive: 1}
	plan := scenario.NewPlan(&cfg, "bLIST")
	in, args := skuList(plan)
	if in != "?,?,?,?" || len(args) != 4 || args[0] != plan.SKUs[0].ID || args[3] != plan.SKUs[3].ID {
		t.Errorf("got %q %v, want four placeholders and the skus in order", in, args)
	}
}
