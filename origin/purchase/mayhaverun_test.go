package purchase

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
)

// A reservation is given back after a failed Reserve only when the script
// may have run; the rest would be useless load on a struggling Redis.
func TestMayHaveRun(t *testing.T) {
	wrap := func(err error) error {
		return fmt.Errorf("%w: redis: %w", stock.ErrUnavailable, fmt.Errorf("redisstock: reserve A1: %w", err))
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"breaker open", fmt.Errorf("%w: redis: %w", stock.ErrUnavailable, depguard.ErrOpen), false},
		{"no pooled connection", wrap(redis.ErrPoolTimeout), false},
		{"dial refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), false},
		{"read timed out", wrap(&net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}), true},
		{"caller gave up", wrap(context.DeadlineExceeded), true},
		{"anything else", wrap(errors.New("EOF")), true},
	}
	for _, tt := range tests {
		if got := mayHaveRun(tt.err); got != tt.want {
			t.Errorf("%s: mayHaveRun = %v, want %v", tt.name, got, tt.want)
		}
	}
}
