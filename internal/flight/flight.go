// Package flight collapses concurrent calls for the same key into one
// (golang.org/x/sync/singleflight), while letting each caller stop waiting
// when its own context ends: the shared call goes on for the others.
package flight

import (
	"context"
	"fmt"

	"golang.org/x/sync/singleflight"

	"livecommerce/internal/stock"
)

// Group is a singleflight.Group whose callers honour their contexts. The
// zero value is ready to use.
type Group struct{ g singleflight.Group }

// Do runs fn once for all concurrent callers of key. A caller whose
// context ends first gets stock.ErrUnavailable wrapping the context's
// error; fn must not depend on any one caller's context.
func (g *Group) Do(ctx context.Context, key string, fn func() (any, error)) (any, error) {
	select {
	case r := <-g.g.DoChan(key, fn):
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: gave up waiting for %s: %w", stock.ErrUnavailable, key, ctx.Err())
	}
}
