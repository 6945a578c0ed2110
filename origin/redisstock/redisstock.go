// Package redisstock keeps the live stock counters in Redis: the fast,
// atomic admission of purchases (one Lua script per decision) and the
// values stock reads are served from. The database of record stays the
// authority; this package never talks to it.
package redisstock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
)

// Store is the Redis side of the stock counters.
type Store struct {
	rdb        redis.UniversalClient
	guard      *depguard.Guard
	keys       Keys
	pendingTTL time.Duration
	doneTTL    time.Duration
}

// Options tune a Store.
type Options struct {
	// Prefix starts every key, so several deployments or tests can share
	// one Redis (default "lc:").
	Prefix string
	// PendingTTL bounds how long an idempotency key stays "in progress"
	// when its process died mid-purchase (default 2m).
	PendingTTL time.Duration
	// DoneTTL is how long a finished purchase can be replayed from Redis
	// (default 24h); after that the database's unique key still prevents a
	// second sale.
	DoneTTL time.Duration
}

// New returns a Store over rdb, guarded by guard.
func New(rdb redis.UniversalClient, guard *depguard.Guard, o Options) *Store {
	if o.Prefix == "" {
		o.Prefix = "lc:"
	}
	if o.PendingTTL <= 0 {
		o.PendingTTL = 2 * time.Minute
	}
	if o.DoneTTL <= 0 {
		o.DoneTTL = 24 * time.Hour
	}
	return &Store{rdb: rdb, guard: guard, keys: NewKeys(o.Prefix), pendingTTL: o.PendingTTL, doneTTL: o.DoneTTL}
}

// Guard is the breaker in front of Redis.
func (s *Store) Guard() *depguard.Guard { return s.guard }

// createdKey marks an id created a moment ago, so that a reader that found
// it unknown just before cannot mark it absent just after (markAbsentScript).
func (s *Store) createdKey(absentKey string) string { return absentKey + ":created" }

// createdFor outlasts any database read that could have missed a creation:
// a rebuild gives up after 5 s.
const createdFor = time.Minute

// Outcome is what the reserve script decided.
type Outcome int

const (
	Reserved Outcome = iota
	Missing          // the sku is not loaded: rebuild it from the database, then retry
	Replay           // the idempotency key finished before: Response holds the answer
	KeyReused
	KeyInUse
	SoldOut
	Insufficient
	LimitExceeded
	NotOpen
)

// Reservation is the result of Reserve.
type Reservation struct {
	Outcome  Outcome
	Level    stock.Level // after the reservation, when Reserved
	Response []byte      // the stored answer, when Replay
	// Held is the buyer's units of this sku, with a refusal.
	Held int64
}

// ReserveRequest is one purchase to admit.
type ReserveRequest struct {
	BuyerID        string
	IdempotencyKey string
	SKU            string
	Quantity       int
	Fingerprint    string // what "the same body" means for idempotency
	OrderID        string
	Now            time.Time
}

// Reserve decides one purchase atomically: idempotency, sale window, stock,
// per-buyer limit, in that order, and takes the units when all pass.
func (s *Store) Reserve(ctx context.Context, r ReserveRequest) (Reservation, error) {
	var res Reservation
	err := s.guard.Do(func() error {
		v, err := reserveScript.Run(ctx, s.rdb,
			[]string{s.keys.SKU(r.SKU), s.keys.Held(r.SKU), s.keys.Idempotency(r.BuyerID, r.IdempotencyKey)},
			r.BuyerID, r.Quantity, r.Fingerprint, r.Now.UnixMilli(), r.OrderID, s.pendingTTL.Milliseconds(),
		).Slice()
		if err != nil {
			return fmt.Errorf("redisstock: reserve %s: %w", r.SKU, err)
		}
		res, err = decodeReserve(r.SKU, int64(r.Quantity), v)
		return err
	})
	return res, err
}

func decodeReserve(sku string, qty int64, v []any) (Reservation, error) {
	tag, _ := v[0].(string)
	switch tag {
	case "ok":
		l, err := decodeMove(sku, v[1:], qty)
		return Reservation{Outcome: Reserved, Level: l}, err
	case "replay":
		body, _ := v[1].(string)
		return Reservation{Outcome: Replay, Response: []byte(body)}, nil
	case "missing":
		return Reservation{Outcome: Missing}, nil
	case "reused":
		return Reservation{Outcome: KeyReused}, nil
	case "in_use":
		return Reservation{Outcome: KeyInUse}, nil
	case "sold_out", "insufficient", "limit", "not_open":
		var held int64
		if len(v) > 1 {
			held, _ = v[1].(int64)
		}
		return Reservation{Outcome: refusals[tag], Held: held}, nil
	}
	return Reservation{}, fmt.Errorf("redisstock: reserve %s: unexpected reply %v", sku, v)
}

var refusals = map[string]Outcome{
	"sold_out": SoldOut, "insufficient": Insufficient, "limit": LimitExceeded, "not_open": NotOpen,
}

// decodeLevel reads the {remaining, version, live, low, updated ms} tail the
// scripts return after a change.
func decodeLevel(sku string, v []any) (stock.Level, error) {
	l, _, err := decodeTail(sku, v)
	return l, err
}

// decodeMove is decodeLevel for a change that moved remaining by -delta: a
// reservation (delta = its quantity) or a release (-quantity). It also
// sets SameStatus: whether the change left the sku's status as it was.
func decodeMove(sku string, v []any, delta int64) (stock.Level, error) {
	l, low, err := decodeTail(sku, v)
	if err != nil {
		return l, err
	}
	after, _ := v[0].(int64)
	l.SameStatus = stock.StatusFor(max(after+delta, 0), low) == l.Status
	return l, nil
}

// decodeTail is decodeLevel, also returning the low-stock threshold.
func decodeTail(sku string, v []any) (stock.Level, int64, error) {
	if len(v) < 5 {
		return stock.Level{}, 0, fmt.Errorf("redisstock: %s: short reply %v", sku, v)
	}
	remaining, _ := v[0].(int64)
	ver, _ := v[1].(int64)
	live, _ := v[2].(string)
	low, err := strconv.ParseInt(fmt.Sprint(v[3]), 10, 64)
	if err != nil {
		return stock.Level{}, 0, fmt.Errorf("redisstock: %s: bad threshold %v", sku, v[3])
	}
	upd, err := strconv.ParseInt(fmt.Sprint(v[4]), 10, 64)
	if err != nil {
		return stock.Level{}, 0, fmt.Errorf("redisstock: %s: bad time %v", sku, v[4])
	}
	return level(sku, live, remaining, low, ver, upd), low, nil
}

func level(sku, live string, remaining, low, ver, updMs int64) stock.Level {
	// Remaining can dip below zero in Redis for a moment when a merchant
	// lowers stock under reservations still in flight; viewers see zero.
	remaining = max(remaining, 0)
	return stock.Level{
		SKU: sku, LiveID: live, Remaining: remaining, Version: ver,
		Status:    stock.StatusFor(remaining, low),
		UpdatedAt: time.UnixMilli(updMs).UTC(),
	}
}

// Confirmation records a committed purchase so replays answer from Redis.
// The fingerprint is stored too: the record may be written to a Redis that
// had forgotten the pending one, and replays are matched against it.
type Confirmation struct {
	BuyerID        string
	IdempotencyKey string
	Fingerprint    string
	Response       []byte
}

// Confirm marks purchases done, in one round trip for a whole batch.
func (s *Store) Confirm(ctx context.Context, cs []Confirmation) error {
	if len(cs) == 0 {
		return nil
	}
	return s.guard.Do(func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range cs {
				k := s.keys.Idempotency(c.BuyerID, c.IdempotencyKey)
				p.HSet(ctx, k, "st", "d", "fp", c.Fingerprint, "resp", c.Response)
				p.PExpire(ctx, k, s.doneTTL)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstock: confirm %d purchases: %w", len(cs), err)
		}
		return nil
	})
}

// Release gives a reservation back. ok is false when there was nothing to
// give back (already released, or Redis lost it).
func (s *Store) Release(ctx context.Context, r ReserveRequest) (l stock.Level, ok bool, err error) {
	err = s.guard.Do(func() error {
		v, err := releaseScript.Run(ctx, s.rdb,
			[]string{s.keys.SKU(r.SKU), s.keys.Held(r.SKU), s.keys.Idempotency(r.BuyerID, r.IdempotencyKey)},
			r.BuyerID, r.Quantity, r.Now.UnixMilli(), r.OrderID,
		).Slice()
		if err != nil {
			return fmt.Errorf("redisstock: release %s: %w", r.SKU, err)
		}
		if tag, _ := v[0].(string); tag != "ok" {
			return nil
		}
		l, err = decodeMove(r.SKU, v[1:], -int64(r.Quantity))
		ok = err == nil
		return err
	})
	return l, ok, err
}

// Snapshot is a sku's full state in the database of record, used to
// (re)build its counters.
type Snapshot struct {
	SKU, LiveID        string
	Total, Sold        int64
	Version            int64
	Limit, Low         int64
	SaleStart, SaleEnd time.Time // zero when open-ended
	UpdatedAt          time.Time
	Held               map[string]int64 // units per buyer
}

func windowMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Load installs a snapshot unless the sku is already loaded; it reports
// whether it did.
func (s *Store) Load(ctx context.Context, snap Snapshot) (bool, error) {
	args := make([]any, 0, 10+2*len(snap.Held))
	args = append(args, snap.SKU, snap.LiveID, snap.Total, snap.Sold, snap.Version,
		snap.Limit, snap.Low, windowMs(snap.SaleStart), windowMs(snap.SaleEnd), snap.UpdatedAt.UnixMilli())
	for buyer, n := range snap.Held {
		args = append(args, buyer, n)
	}
	var loaded bool
	err := s.guard.Do(func() error {
		n, err := loadScript.Run(ctx, s.rdb,
			[]string{s.keys.SKU(snap.SKU), s.keys.Held(snap.SKU), s.keys.Live(snap.LiveID)}, args...).Int()
		if err != nil {
			return fmt.Errorf("redisstock: load %s: %w", snap.SKU, err)
		}
		loaded = n == 1
		return nil
	})
	return loaded, err
}

// Settings are the merchant-controlled values of a sku.
type Settings struct {
	SKU, LiveID        string
	Total, Limit, Low  int64
	SaleStart, SaleEnd time.Time
	Version            int64 // the database's version after the change
}

// Apply changes a loaded sku's settings. ok is false when the sku is not
// loaded; the next read or purchase rebuilds it from the database, which
// already holds the change.
func (s *Store) Apply(ctx context.Context, st Settings, now time.Time) (l stock.Level, ok bool, err error) {
	err = s.guard.Do(func() error {
		v, err := applyScript.Run(ctx, s.rdb, []string{s.keys.SKU(st.SKU), s.keys.Live(st.LiveID)},
			st.SKU, st.LiveID, st.Total, st.Limit, st.Low, windowMs(st.SaleStart), windowMs(st.SaleEnd),
			now.UnixMilli(), st.Version).Slice()
		if err != nil {
			return fmt.Errorf("redisstock: apply %s: %w", st.SKU, err)
		}
		if tag, _ := v[0].(string); tag != "ok" {
			return nil
		}
		l, err = decodeLevel(st.SKU, v[1:])
		ok = err == nil
		return err
	})
	return l, ok, err
}

// SetWindow moves the sale window of loaded skus, atomically for all of
// them.
func (s *Store) SetWindow(ctx context.Context, skus []string, start, end time.Time) error {
	keys := make([]string, len(skus))
	for i, sku := range skus {
		keys[i] = s.keys.SKU(sku)
	}
	return s.guard.Do(func() error {
		if err := windowScript.Run(ctx, s.rdb, keys, windowMs(start), windowMs(end)).Err(); err != nil {
			return fmt.Errorf("redisstock: set window of %d skus: %w", len(skus), err)
		}
		return nil
	})
}

// Levels reads the current level of each sku; missing marks skus that are
// not loaded.
func (s *Store) Levels(ctx context.Context, skus []string) (levels []stock.Level, missing []bool, err error) {
	levels = make([]stock.Level, len(skus))
	missing = make([]bool, len(skus))
	err = s.guard.Do(func() error {
		cmds := make([]*redis.SliceCmd, len(skus))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, sku := range skus {
				cmds[i] = p.HMGet(ctx, s.keys.SKU(sku), "live", "total", "sold", "ver", "low", "upd")
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstock: read %d levels: %w", len(skus), err)
		}
		for i, c := range cmds {
			v := c.Val()
			if v[0] == nil {
				missing[i] = true
				continue
			}
			n, err := ints(v[1:])
			if err != nil {
				return fmt.Errorf("redisstock: read %s: %w", skus[i], err)
			}
			live, _ := v[0].(string)
			levels[i] = level(skus[i], live, n[0]-n[1], n[3], n[2], n[4])
		}
		return nil
	})
	return levels, missing, err
}

func ints(v []any) ([]int64, error) {
	out := make([]int64, len(v))
	for i, x := range v {
		str, ok := x.(string)
		if !ok {
			return nil, errors.New("field missing")
		}
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// LiveSKUs lists the loaded skus of a live; loaded is false when Redis
// knows nothing of the live. A live recently found not to exist
// (MarkLiveAbsent) is stock.ErrNotFound.
func (s *Store) LiveSKUs(ctx context.Context, live string) (skus []string, loaded bool, err error) {
	absent := false
	err = s.guard.Do(func() error {
		var keys *redis.StringSliceCmd
		var marked *redis.IntCmd
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			keys = p.HKeys(ctx, s.keys.Live(live))
			marked = p.Exists(ctx, s.keys.AbsentLive(live))
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstock: list skus of %s: %w", live, err)
		}
		for _, k := range keys.Val() {
			if k != "_" {
				skus = append(skus, k)
			}
		}
		loaded = len(keys.Val()) > 0
		absent = !loaded && marked.Val() == 1
		return nil
	})
	if err == nil && absent {
		return nil, false, stock.ErrNotFound
	}
	return skus, loaded, err
}

// MarkLiveAbsent remembers for ttl that the database has no such live, so
// a flood of reads of made-up live ids does not reach the database.
func (s *Store) MarkLiveAbsent(ctx context.Context, live string, ttl time.Duration) error {
	return s.guard.Do(func() error {
		k := s.keys.AbsentLive(live)
		if err := markAbsentScript.Run(ctx, s.rdb, []string{k, s.createdKey(k)}, ttl.Milliseconds()).Err(); err != nil {
			return fmt.Errorf("redisstock: mark live %s absent: %w", live, err)
		}
		return nil
	})
}

// liveListingTTL bounds how long a live's sku listing is trusted before it
// is read again from the database: a listing written from a read that raced
// a product upsert heals by itself.
const liveListingTTL = time.Minute

// MarkLive stores the complete sku listing of a live (possibly empty), so
// reads of the live do not go to the database every time.
func (s *Store) MarkLive(ctx context.Context, live string, skus []string) error {
	return s.guard.Do(func() error {
		args := []any{"_", "1"}
		for _, sku := range skus {
			args = append(args, sku, "1")
		}
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, s.keys.Live(live))
			p.HSet(ctx, s.keys.Live(live), args...)
			p.PExpire(ctx, s.keys.Live(live), liveListingTTL)
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstock: mark live %s: %w", live, err)
		}
		return nil
	})
}

// ForgetLive drops a live's listing, and any mark that it does not exist;
// the next read rebuilds it whole.
func (s *Store) ForgetLive(ctx context.Context, live string) error {
	return s.guard.Do(func() error {
		k := s.keys.AbsentLive(live)
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, s.keys.Live(live), k)
			p.Set(ctx, s.createdKey(k), "1", createdFor)
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstock: forget live %s: %w", live, err)
		}
		return nil
	})
}

// MarkAbsent remembers for ttl that the database has no such sku, so a
// flood of reads of it does not reach the database.
func (s *Store) MarkAbsent(ctx context.Context, sku string, ttl time.Duration) error {
	return s.guard.Do(func() error {
		k := s.keys.Absent(sku)
		if err := markAbsentScript.Run(ctx, s.rdb, []string{k, s.createdKey(k)}, ttl.Milliseconds()).Err(); err != nil {
			return fmt.Errorf("redisstock: mark %s absent: %w", sku, err)
		}
		return nil
	})
}

// Absent reports whether sku was recently found not to exist.
func (s *Store) Absent(ctx context.Context, sku string) (bool, error) {
	var n int64
	err := s.guard.Do(func() error {
		var err error
		if n, err = s.rdb.Exists(ctx, s.keys.Absent(sku)).Result(); err != nil {
			return fmt.Errorf("redisstock: absent %s: %w", sku, err)
		}
		return nil
	})
	return n == 1, err
}

// ForgetAbsent clears absence marks, for skus that were just created.
func (s *Store) ForgetAbsent(ctx context.Context, skus []string) error {
	if len(skus) == 0 {
		return nil
	}
	keys := make([]string, len(skus))
	for i, sku := range skus {
		keys[i] = s.keys.Absent(sku)
	}
	return s.guard.Do(func() error {
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, keys...)
			for _, k := range keys {
				p.Set(ctx, s.createdKey(k), "1", createdFor)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstock: forget absence of %d skus: %w", len(skus), err)
		}
		return nil
	})
}

// Totals reads units on sale and units sold of each loaded sku, in one
// round trip; skus that are not loaded are left out.
func (s *Store) Totals(ctx context.Context, skus []string) (map[string][2]int64, error) {
	out := make(map[string][2]int64, len(skus))
	err := s.guard.Do(func() error {
		cmds := make([]*redis.SliceCmd, len(skus))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, sku := range skus {
				cmds[i] = p.HMGet(ctx, s.keys.SKU(sku), "total", "sold")
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstock: totals of %d skus: %w", len(skus), err)
		}
		for i, c := range cmds {
			if c.Val()[0] == nil {
				continue
			}
			n, err := ints(c.Val())
			if err != nil {
				return fmt.Errorf("redisstock: totals of %s: %w", skus[i], err)
			}
			out[skus[i]] = [2]int64{n[0], n[1]}
		}
		return nil
	})
	return out, err
}

// Counters are the raw values reconcile compares with the database.
type Counters struct {
	Loaded      bool
	Total, Sold int64
	Version     int64
	Held        map[string]int64
}

// Counters reads a sku's counters and per-buyer holdings.
func (s *Store) Counters(ctx context.Context, sku string) (Counters, error) {
	var c Counters
	err := s.guard.Do(func() error {
		var hm *redis.SliceCmd
		var held *redis.MapStringStringCmd
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			hm = p.HMGet(ctx, s.keys.SKU(sku), "total", "sold", "ver")
			held = p.HGetAll(ctx, s.keys.Held(sku))
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstock: counters of %s: %w", sku, err)
		}
		if hm.Val()[0] == nil {
			return nil
		}
		n, err := ints(hm.Val())
		if err != nil {
			return fmt.Errorf("redisstock: counters of %s: %w", sku, err)
		}
		c = Counters{Loaded: true, Total: n[0], Sold: n[1], Version: n[2], Held: map[string]int64{}}
		for b, v := range held.Val() {
			units, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("redisstock: held of %s/%s: %w", sku, b, err)
			}
			c.Held[b] = units
		}
		return nil
	})
	return c, err
}

// Repair overwrites a sku's counters with the database's values, unless the
// sku's version moved away from expectVersion since it was read. ok
// reports whether it wrote.
func (s *Store) Repair(ctx context.Context, snap Snapshot, expectVersion int64, now time.Time) (l stock.Level, ok bool, err error) {
	args := []any{expectVersion, snap.Total, snap.Sold, snap.Version, now.UnixMilli()}
	for b, n := range snap.Held {
		args = append(args, b, n)
	}
	err = s.guard.Do(func() error {
		v, err := repairScript.Run(ctx, s.rdb, []string{s.keys.SKU(snap.SKU), s.keys.Held(snap.SKU)}, args...).Slice()
		if err != nil {
			return fmt.Errorf("redisstock: repair %s: %w", snap.SKU, err)
		}
		if tag, _ := v[0].(string); tag != "ok" {
			return nil
		}
		l, err = decodeLevel(snap.SKU, v[1:])
		ok = err == nil
		return err
	})
	return l, ok, err
}

// Clamp lowers a sku's remaining to the database's stock - sold when Redis
// shows more, as long as both agree on the units on sale. lowered reports
// a change.
func (s *Store) Clamp(ctx context.Context, sku string, dbStock, dbSold int64, now time.Time) (l stock.Level, lowered bool, err error) {
	err = s.guard.Do(func() error {
		v, err := clampScript.Run(ctx, s.rdb, []string{s.keys.SKU(sku)}, dbStock, dbSold, now.UnixMilli()).Slice()
		if err != nil {
			return fmt.Errorf("redisstock: clamp %s: %w", sku, err)
		}
		if tag, _ := v[0].(string); tag != "ok" {
			return nil
		}
		l, err = decodeLevel(sku, v[1:])
		lowered = err == nil
		return err
	})
	return l, lowered, err
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstock: ping: %w", err)
	}
	return nil
}
