package redisstock

import "strconv"

// Keys names the Redis keys of one deployment. It is the one place the
// key layout is written down: the store builds its keys with it, and so
// do tools that read the counters from outside, such as the load test's
// invariant check.
//
// The counters of a product live in the hash at SKU: its live ("live"),
// stock ("total"), units sold ("sold"), version ("ver"), per-buyer limit
// ("limit"), low-stock threshold ("low"), sale window ("start", "end")
// and last change ("upd").
type Keys struct{ prefix string }

// NewKeys returns the names of the keys under prefix, which starts every
// key so that several deployments or tests can share one Redis.
func NewKeys(prefix string) Keys { return Keys{prefix: prefix} }

// SKU is the hash of a product's counters.
func (k Keys) SKU(sku string) string { return k.prefix + "sku:" + sku }

// Held is the hash of the units each buyer holds of a product.
func (k Keys) Held(sku string) string { return k.prefix + "held:" + sku }

// Live is the hash listing a live's products.
func (k Keys) Live(live string) string { return k.prefix + "live:" + live }

// Absent marks a product the database does not have.
func (k Keys) Absent(sku string) string { return k.prefix + "absent:" + sku }

// AbsentLive marks a live the database does not have.
func (k Keys) AbsentLive(live string) string { return k.prefix + "absent-live:" + live }

// Idempotency is the record of one buyer's purchase under an idempotency
// key. The buyer id's length keeps "a:b"+"c" and "a"+"b:c" apart.
func (k Keys) Idempotency(buyer, key string) string {
	return k.IdempotencyPrefix() + strconv.Itoa(len(buyer)) + ":" + buyer + ":" + key
}

// IdempotencyPrefix starts every idempotency record's key.
func (k Keys) IdempotencyPrefix() string { return k.prefix + "idem:" }
