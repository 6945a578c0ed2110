// Package invariants checks a system after a load test, from outside:
// against the database of record, Redis, and what the buyers were told.
// Units sold must equal the order rows' units, nothing may go below zero
// or past its stock, nobody past their limit, every confirmed order must
// be stored and no order may exist that nobody was told of.
//
// The checks read the tables with SQL of their own rather than through
// the origin's storage package (origin/mysqlstore): they audit what that
// code wrote, so they must not share its mistakes. The Redis key layout,
// on the other hand, is a contract and comes from origin/redisstock.
package invariants

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/loadtest/ledger"
	"livecommerce/loadtest/naiveorigin"
	"livecommerce/loadtest/pause"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/verdict"
	"livecommerce/origin/redisstock"
)

// skuList is the plan's skus as SQL placeholders and arguments.
func skuList(plan *scenario.Plan) (string, []any) {
	args := make([]any, len(plan.SKUs))
	for i, s := range plan.SKUs {
		args[i] = s.ID
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(args)), ","), args
}

// Settle is how long the check waits for Redis and the database to agree
// after the load: the origins' purchase timeout (2 s) and then some.
const Settle = 10 * time.Second

// productRow is one sku in the database of record.
type productRow struct{ stock, sold, orderUnits, orderRows int64 }

// CheckSystem checks the system under test against the database of
// record, Redis and what the buyers were told. The origins finish the
// purchases the tool gave up on within their own timeout, so it first
// waits (settle at most) for Redis and the database to agree.
func CheckSystem(ctx context.Context, db *sql.DB, rdb *redis.Client, prefix string, plan *scenario.Plan, led *ledger.Ledger, settle time.Duration) (verdict.Checklist, error) {
	v := verdict.Checklist{System: "system under test"}
	in, args := skuList(plan)
	var rows map[string]*productRow
	var redisDiffer, redisNegative []string
	deadline := time.Now().Add(settle)
	for {
		var err error
		if rows, err = readProducts(ctx, db, in, args); err != nil {
			return v, err
		}
		if redisDiffer, redisNegative, err = compareRedis(ctx, rdb, prefix, plan, rows); err != nil {
			return v, err
		}
		if len(redisDiffer) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		pause.For(ctx, 500*time.Millisecond)
	}

	var missing, mismatched, negative, over []string
	var totalRows int64
	for _, s := range plan.SKUs {
		r := rows[s.ID]
		if r == nil {
			missing = append(missing, s.ID)
			continue
		}
		totalRows += r.orderRows
		if r.sold != r.orderUnits {
			mismatched = append(mismatched, fmt.Sprintf("%s sold %d, orders hold %d", s.ID, r.sold, r.orderUnits))
		}
		if r.stock-r.sold < 0 {
			negative = append(negative, fmt.Sprintf("%s remaining %d", s.ID, r.stock-r.sold))
		}
		if r.sold > int64(s.Stock) {
			over = append(over, fmt.Sprintf("%s sold %d of %d", s.ID, r.sold, s.Stock))
		}
	}
	flash := plan.SKUs[plan.Flash]
	v.Add("every product in the database", len(missing) == 0, "%d of %d%s", len(plan.SKUs)-len(missing), len(plan.SKUs), some(missing))
	v.Add("units sold = order rows' units", len(mismatched) == 0, "%d skus, %d order rows%s", len(plan.SKUs), totalRows, some(mismatched))
	v.Add("nothing below zero", len(negative) == 0, "remaining >= 0 on every sku%s", some(negative))
	v.Add("nothing sold past its stock", len(over) == 0, "flash sku %s: sold %d of %d%s", flash.ID, soldOf(rows[flash.ID]), flash.Stock, some(over))
	v.Add("Redis agrees with the database", len(redisDiffer) == 0, "sold and total of %d skus%s", len(plan.SKUs), some(redisDiffer))
	v.Add("nothing below zero in Redis", len(redisNegative) == 0, "total - sold >= 0 on every sku%s", some(redisNegative))

	var overLimit []string
	q, err := db.QueryContext(ctx, "SELECT o.sku, o.buyer_id, SUM(o.quantity), MAX(p.per_buyer_limit) FROM orders o JOIN products p ON p.sku = o.sku"+
		" WHERE o.sku IN ("+in+") GROUP BY o.sku, o.buyer_id HAVING SUM(o.quantity) > MAX(p.per_buyer_limit)", args...)
	if err != nil {
		return v, fmt.Errorf("read holdings: %w", err)
	}
	for q.Next() {
		var sku, buyer string
		var held, limit int64
		if err := q.Scan(&sku, &buyer, &held, &limit); err != nil {
			q.Close()
			return v, fmt.Errorf("read holdings: %w", err)
		}
		overLimit = append(overLimit, fmt.Sprintf("%s holds %d of %s (limit %d)", buyer, held, sku, limit))
	}
	q.Close()
	if err := q.Err(); err != nil {
		return v, fmt.Errorf("read holdings: %w", err)
	}
	v.Add("nobody over their limit", len(overLimit) == 0, "per-buyer limit %d%s", scenario.PerBuyerLimit, some(overLimit))
	err = checkAnswers(ctx, &v, db, "orders", in, args, led)
	return v, err
}

// readProducts reads stock and sold of the plan's skus, and their orders.
func readProducts(ctx context.Context, db *sql.DB, in string, args []any) (map[string]*productRow, error) {
	// One snapshot for both reads: a purchase committing between them
	// must not look like a counter out of step with its orders.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	defer tx.Rollback()
	rows := map[string]*productRow{}
	q, err := tx.QueryContext(ctx, "SELECT sku, stock, sold FROM products WHERE sku IN ("+in+")", args...)
	if err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	for q.Next() {
		var sku string
		r := &productRow{}
		if err := q.Scan(&sku, &r.stock, &r.sold); err != nil {
			q.Close()
			return nil, fmt.Errorf("read products: %w", err)
		}
		rows[sku] = r
	}
	q.Close()
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	q, err = tx.QueryContext(ctx, "SELECT sku, COALESCE(SUM(quantity), 0), COUNT(*) FROM orders WHERE sku IN ("+in+") GROUP BY sku", args...)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	defer q.Close()
	for q.Next() {
		var sku string
		var units, n int64
		if err := q.Scan(&sku, &units, &n); err != nil {
			return nil, fmt.Errorf("read orders: %w", err)
		}
		if r := rows[sku]; r != nil {
			r.orderUnits, r.orderRows = units, n
		}
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	return rows, nil
}

// compareRedis compares the admission counters with the database.
func compareRedis(ctx context.Context, rdb *redis.Client, prefix string, plan *scenario.Plan, rows map[string]*productRow) (differ, negative []string, err error) {
	keys := redisstock.NewKeys(prefix)
	pipe := rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(plan.SKUs))
	for i, s := range plan.SKUs {
		cmds[i] = pipe.HMGet(ctx, keys.SKU(s.ID), "total", "sold")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("read redis counters: %w", err)
	}
	for i, s := range plan.SKUs {
		vals := cmds[i].Val()
		if len(vals) != 2 || vals[0] == nil || vals[1] == nil {
			differ = append(differ, s.ID+" not in Redis")
			continue
		}
		total, err1 := strconv.ParseInt(fmt.Sprint(vals[0]), 10, 64)
		sold, err2 := strconv.ParseInt(fmt.Sprint(vals[1]), 10, 64)
		if err1 != nil || err2 != nil {
			differ = append(differ, s.ID+" unreadable in Redis")
			continue
		}
		if total-sold < 0 {
			negative = append(negative, fmt.Sprintf("%s remaining %d in Redis", s.ID, total-sold))
		}
		if r := rows[s.ID]; r != nil && (sold != r.sold || total != r.stock) {
			differ = append(differ, fmt.Sprintf("%s Redis sold %d of %d, database %d of %d", s.ID, sold, total, r.sold, r.stock))
		}
	}
	return differ, negative, nil
}

// checkAnswers holds the database to what the buyers were told: every
// order confirmed with a 201 is there for its buyer, and every other order
// row belongs to a purchase whose answer was lost; a purchase refused for
// certain (4xx, 503) left none.
func checkAnswers(ctx context.Context, v *verdict.Checklist, db *sql.DB, table, in string, args []any, led *ledger.Ledger) error {
	confirmed, lost, refused := led.Snapshot()
	type row struct{ buyer, key string }
	ids := map[string]row{}
	q, err := db.QueryContext(ctx, "SELECT id, buyer_id, idempotency_key FROM "+table+" WHERE sku IN ("+in+")", args...)
	if err != nil {
		return fmt.Errorf("read order ids: %w", err)
	}
	for q.Next() {
		var id string
		var r row
		if err := q.Scan(&id, &r.buyer, &r.key); err != nil {
			q.Close()
			return fmt.Errorf("read order ids: %w", err)
		}
		ids[id] = r
	}
	q.Close()
	if err := q.Err(); err != nil {
		return fmt.Errorf("read order ids: %w", err)
	}
	var absent []string
	told := map[string]bool{}
	for _, o := range confirmed {
		told[o.OrderID] = true
		if r, ok := ids[o.OrderID]; !ok || r.buyer != o.Buyer || r.key != o.Key {
			absent = append(absent, o.OrderID)
		}
	}
	var untold, behindRefusal []string
	for id, r := range ids {
		k := ledger.Purchase{Buyer: r.buyer, Key: r.key}
		switch {
		case told[id], lost[k]:
		case refused[k]:
			behindRefusal = append(behindRefusal, id+" (key "+r.key+")")
		default:
			untold = append(untold, id+" (key "+r.key+")")
		}
	}
	v.Add("every 201 is a stored order", len(absent) == 0, "%d orders confirmed to buyers%s", len(confirmed), some(absent))
	v.Add("no order nobody was told of", len(untold) == 0, "%d order rows, %d confirmed, %d purchases whose answer was lost%s", len(ids), len(confirmed), len(lost), some(untold))
	v.Add("a refused purchase left no order", len(behindRefusal) == 0, "%d purchases refused%s", len(refused), some(behindRefusal))
	return nil
}

func soldOf(r *productRow) int64 {
	if r == nil {
		return 0
	}
	return r.sold
}

// some lists up to three offenders after a colon.
func some(s []string) string {
	if len(s) == 0 {
		return ""
	}
	out := ": " + strings.Join(s[:min(3, len(s))], "; ")
	if len(s) > 3 {
		out += " and " + strconv.Itoa(len(s)-3) + " more"
	}
	return out
}

// CheckNaive checks the naive baseline's tables.
func CheckNaive(ctx context.Context, db *sql.DB, plan *scenario.Plan, led *ledger.Ledger) (verdict.Checklist, error) {
	v := verdict.Checklist{System: "naive baseline"}
	in, args := skuList(plan)
	skus := make([]string, len(plan.SKUs))
	for i, s := range plan.SKUs {
		skus[i] = s.ID
	}
	findings, err := naiveorigin.Check(ctx, db, skus)
	if err != nil {
		return v, fmt.Errorf("naive check: %w", err)
	}
	var problems []string
	for _, f := range findings {
		problems = append(problems, f.String())
	}
	v.Add("units sold = order rows' units, nothing below zero, nobody over their limit", len(findings) == 0, "%d skus%s", len(skus), some(problems))
	err = checkAnswers(ctx, &v, db, "naive_orders", in, args, led)
	return v, err
}
