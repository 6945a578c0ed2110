// Package catalog is the merchant side of the origin: it validates lives
// and product rows, commits them to the database of record, then loads the
// new stock into Redis and publishes it. The database is written first, so
// a lowered stock bounds purchases from the moment it commits, whatever
// Redis still says.
package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"livecommerce/internal/stock"
	"livecommerce/origin/inventory"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/redisstock"
)

// Limits on what a merchant may send.
const (
	MaxTitle    = 200
	MaxName     = 200
	MaxPrice    = 1_000_000_000_000 // minor units
	MaxStock    = 100_000_000
	MaxLimit    = 10_000
	MaxProducts = 5_000 // rows per request at most; the CLI chunks larger files
	// MaxRowErrors is how many row problems one answer lists: enough to fix
	// a file in a pass or two, small whatever a request holds.
	MaxRowErrors = 100
)

// Limits bound what one merchant's request may make the origin hold and
// what one live may grow to (a live's stock read and each viewer's
// snapshot carry every product of the live).
type Limits struct {
	RowsPerRequest  int // product rows per upsert, 1..MaxProducts
	ProductsPerLive int // products one live may hold
	LivesListed     int // lives one listing shows, newest first
}

// DefaultLimits are the settings' defaults.
var DefaultLimits = Limits{RowsPerRequest: MaxProducts, ProductsPerLive: 2_000, LivesListed: 1_000}

// Publisher announces stock changes.
type Publisher interface{ Publish(stock.Level) }

// Rebuilder loads a sku's counters from the database.
type Rebuilder interface {
	Rebuild(ctx context.Context, sku string) error
}

// Service applies merchant changes.
type Service struct {
	limits  Limits
	db      *mysqlstore.Store
	redis   *redisstock.Store
	rebuild Rebuilder
	publish Publisher
	log     *slog.Logger
}

// New returns a Service.
func New(limits Limits, db *mysqlstore.Store, redis *redisstock.Store, rebuild Rebuilder, publish Publisher, log *slog.Logger) *Service {
	return &Service{limits: limits, db: db, redis: redis, rebuild: rebuild, publish: publish, log: log}
}

// RowsRejected is the answer to an upsert refused for these rows: the count
// of them all, and the first MaxRowErrors.
func RowsRejected(rows []mysqlstore.RowError) *InvalidError {
	msg := fmt.Sprintf("%d rows rejected; nothing was applied", countRows(rows))
	if len(rows) > MaxRowErrors {
		msg += fmt.Sprintf(" (the first %d of %d problems are listed)", MaxRowErrors, len(rows))
		rows = rows[:MaxRowErrors]
	}
	return &InvalidError{Message: msg, Rows: rows}
}

// countRows counts the distinct rows among problems, which come in row
// order.
func countRows(problems []mysqlstore.RowError) int {
	n, last := 0, 0
	for _, p := range problems {
		if p.Row != last {
			n, last = n+1, p.Row
		}
	}
	return n
}

// InvalidError carries per-field or per-row reasons for a refused request.
type InvalidError struct {
	Message string
	Rows    []mysqlstore.RowError
}

func (e *InvalidError) Error() string { return "catalog: " + e.Message }

// LiveInput is the body of PUT /admin/v1/lives/{live_id}.
type LiveInput struct {
	Title        string  `json:"title"`
	SaleStartsAt *string `json:"sale_starts_at"`
	SaleEndsAt   *string `json:"sale_ends_at"`
}

func parseTime(field string, v *string) (time.Time, error) {
	if v == nil || *v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return time.Time{}, &InvalidError{Message: field + " must be an RFC 3339 time"}
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, &InvalidError{Message: field + " is out of range"}
	}
	return t.UTC(), nil
}

// formulaStarts are the first characters that make Excel, LibreOffice and
// Google Sheets treat a cell as a formula (CSV injection). Merchants' text
// comes back in reports they open in a spreadsheet, so it may not start
// with one; control characters (tab, CR) are refused by validText anyway.
const formulaStarts = "=+-@"

// FormulaStart reports whether s would be run as a formula by a
// spreadsheet.
func FormulaStart(s string) bool {
	return s != "" && strings.ContainsRune(formulaStarts, rune(s[0]))
}

func validText(s string, maxLen int) bool {
	if s == "" || utf8.RuneCountInString(s) > maxLen || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// PutLive creates or updates a live. created reports a new live.
func (s *Service) PutLive(ctx context.Context, merchantID, liveID string, in LiveInput) (mysqlstore.Live, bool, error) {
	if !validText(in.Title, MaxTitle) {
		return mysqlstore.Live{}, false, &InvalidError{Message: fmt.Sprintf("title must be 1 to %d printable characters without surrounding spaces", MaxTitle)}
	}
	if FormulaStart(in.Title) {
		return mysqlstore.Live{}, false, &InvalidError{Message: formulaReason("title")}
	}
	start, err := parseTime("sale_starts_at", in.SaleStartsAt)
	if err != nil {
		return mysqlstore.Live{}, false, err
	}
	end, err := parseTime("sale_ends_at", in.SaleEndsAt)
	if err != nil {
		return mysqlstore.Live{}, false, err
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		return mysqlstore.Live{}, false, &InvalidError{Message: "sale_ends_at must be after sale_starts_at"}
	}
	live, created, skus, err := s.db.UpsertLive(ctx, mysqlstore.Live{
		ID: liveID, MerchantID: merchantID, Title: in.Title, SaleStart: start, SaleEnd: end,
	}, time.Now().UTC())
	if err != nil {
		return mysqlstore.Live{}, false, err
	}
	if created {
		// Readers may have found the id unknown a moment ago.
		if err := s.redis.ForgetLive(ctx, liveID); err != nil {
			s.log.Warn("new live stays unknown to reads for up to the unknown-id TTL", slog.String("live_id", liveID), slog.Any("error", err))
		}
	}
	if len(skus) > 0 {
		if err := s.redis.SetWindow(ctx, skus, start, end); err != nil {
			// Until reconcile or a Redis restart, the old window holds in
			// Redis for these skus.
			s.log.Error("sale window committed but not applied in Redis; PUT the live again (or restart Redis) to apply it",
				slog.String("live_id", liveID), slog.Any("error", err))
		}
	}
	return live, created, nil
}

// ProductInput is one row of PUT /admin/v1/lives/{live_id}/products.
// Pointers tell a missing field from a zero.
type ProductInput struct {
	SKU               *string `json:"sku"`
	Name              *string `json:"name"`
	Price             *int64  `json:"price"`
	Currency          *string `json:"currency"`
	Stock             *int64  `json:"stock"`
	PerBuyerLimit     *int64  `json:"per_buyer_limit"`
	LowStockThreshold *int64  `json:"low_stock_threshold"`
}

// DecodeProducts decodes each row on its own, so a row whose field has the
// wrong JSON type (a string for stock, 1e30 for price) is answered with its
// row number and field like any other invalid row.
func DecodeProducts(raw []json.RawMessage) ([]ProductInput, []mysqlstore.RowError) {
	rows := make([]ProductInput, len(raw))
	var errs []mysqlstore.RowError
	for i, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		err := dec.Decode(&rows[i])
		if err == nil {
			continue
		}
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			errs = append(errs, mysqlstore.RowError{Row: i + 1, Field: te.Field, Reason: "must be " + jsonKind(te.Type.Kind().String())})
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			errs = append(errs, mysqlstore.RowError{Row: i + 1, Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Reason: "unknown field"})
		default:
			errs = append(errs, mysqlstore.RowError{Row: i + 1, Field: "", Reason: "must be a JSON object of product fields"})
		}
	}
	return rows, errs
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int64":
		return "an integer within range"
	case "string":
		return "a string"
	}
	return "a JSON object"
}

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// ValidateProducts checks every row and returns the products or the
// reasons, all rows at once, so a merchant fixes a file in one pass.
func ValidateProducts(rows []ProductInput) ([]mysqlstore.Product, []mysqlstore.RowError) {
	var errs []mysqlstore.RowError
	out := make([]mysqlstore.Product, 0, len(rows))
	seen := make(map[string]int, len(rows))
	for i, r := range rows {
		n := i + 1
		bad := func(field, reason string) {
			errs = append(errs, mysqlstore.RowError{Row: n, Field: field, Reason: reason})
		}
		var p mysqlstore.Product
		switch {
		case r.SKU == nil:
			bad("sku", "required")
		case !stock.ValidID(*r.SKU):
			bad("sku", "must be 1 to 64 of A-Z a-z 0-9 _ -")
		case FormulaStart(*r.SKU):
			bad("sku", formulaReason(""))
		default:
			p.SKU = *r.SKU
			if first, dup := seen[p.SKU]; dup {
				bad("sku", fmt.Sprintf("duplicate of row %d", first))
			}
			seen[p.SKU] = n
		}
		switch {
		case r.Name == nil:
			bad("name", "required")
		case !validText(*r.Name, MaxName):
			bad("name", fmt.Sprintf("must be 1 to %d printable characters without surrounding spaces", MaxName))
		case FormulaStart(*r.Name):
			bad("name", formulaReason(""))
		default:
			p.Name = *r.Name
		}
		if checkInt(bad, "price", r.Price, 0, MaxPrice) {
			p.Price = *r.Price
		}
		switch {
		case r.Currency == nil:
			bad("currency", "required")
		case !currencyPattern.MatchString(*r.Currency):
			bad("currency", "must be a three-letter ISO 4217 code such as JPY or USD")
		default:
			p.Currency = *r.Currency
		}
		if checkInt(bad, "stock", r.Stock, 0, MaxStock) {
			p.Stock = *r.Stock
		}
		if checkInt(bad, "per_buyer_limit", r.PerBuyerLimit, 1, MaxLimit) {
			p.Limit = *r.PerBuyerLimit
		}
		if r.LowStockThreshold == nil {
			p.Low = 0
		} else if checkInt(bad, "low_stock_threshold", r.LowStockThreshold, 0, MaxStock) {
			p.Low = *r.LowStockThreshold
		}
		out = append(out, p)
	}
	return out, errs
}

func formulaReason(field string) string {
	if field != "" {
		field += " "
	}
	return field + "must not start with = + - or @, which a spreadsheet would run as a formula"
}

func checkInt(bad func(field, reason string), field string, v *int64, lo, hi int64) bool {
	switch {
	case v == nil:
		bad(field, "required")
	case *v < lo || *v > hi:
		bad(field, fmt.Sprintf("must be between %d and %d", lo, hi))
	default:
		return true
	}
	return false
}

// TooManyRows refuses a request of more than max product rows.
func TooManyRows(max int) *InvalidError {
	return &InvalidError{Message: fmt.Sprintf("at most %d products per request; send larger files in parts (merchantctl does); nothing was applied", max)}
}

// RowsPerRequest is the most product rows one request may carry.
func (s *Service) RowsPerRequest() int { return s.limits.RowsPerRequest }

// PutProducts validates and applies a live's products all-or-nothing.
func (s *Service) PutProducts(ctx context.Context, merchantID, liveID string, rows []ProductInput) ([]mysqlstore.Applied, error) {
	if len(rows) > s.limits.RowsPerRequest {
		return nil, TooManyRows(s.limits.RowsPerRequest)
	}
	products, errs := ValidateProducts(rows)
	if len(errs) > 0 {
		return nil, RowsRejected(errs)
	}
	now := time.Now().UTC()
	applied, err := s.db.UpsertProducts(ctx, merchantID, liveID, products, s.limits.ProductsPerLive, "upload", now)
	var rejected *mysqlstore.RowsRejectedError
	var full *mysqlstore.LiveFullError
	switch {
	case errors.As(err, &rejected):
		return nil, RowsRejected(rejected.Rows)
	case errors.As(err, &full):
		return nil, &InvalidError{Message: fmt.Sprintf("a live holds at most %d products; it has %d and this request adds %d; nothing was applied", full.Max, full.Have, full.Adding)}
	}
	if err != nil {
		return nil, err
	}
	s.load(ctx, liveID, applied, now)
	return applied, nil
}

// load brings committed products into Redis and publishes them. A failure
// here leaves Redis behind the database, never ahead of it in a way that
// could oversell: the database bounds every order.
func (s *Service) load(ctx context.Context, liveID string, applied []mysqlstore.Applied, now time.Time) {
	// The load is the tail of a change already committed: it runs to its
	// end within its own budget, not the caller's, so that a slow client or
	// a deadline cannot leave half of a large upload unloaded (or trip the
	// Redis breaker with a string of deadline errors).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadBudget)
	defer cancel()
	skus := make([]string, len(applied))
	var created []string
	for i, a := range applied {
		skus[i] = a.SKU
		if a.Created {
			created = append(created, a.SKU)
		}
	}
	if err := s.redis.ForgetAbsent(ctx, skus); err != nil {
		s.log.Warn("new skus stay unknown to reads for up to 10s", slog.Any("error", err))
	}
	// What the database holds now for the skus this change created: loaded
	// as read, in a few queries, unless something changed them since.
	fresh, err := s.db.UnsoldStates(ctx, created)
	if err != nil {
		s.log.Warn("new products load one by one", slog.Any("error", err))
	}
	// Each sku is one Redis script, and a sku Redis does not hold yet
	// without a fresh state is a rebuild with a database write of its own:
	// a large upload takes them a few at a time.
	work := make(chan mysqlstore.Applied)
	var wg sync.WaitGroup
	for range min(loadWorkers, len(applied)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				s.loadOne(ctx, a, fresh[a.SKU], now)
			}
		}()
	}
	left := 0
	for i, a := range applied {
		if ctx.Err() != nil {
			left = len(applied) - i
			break
		}
		work <- a
	}
	close(work)
	wg.Wait()
	if left > 0 {
		s.log.Error("products committed but not loaded in Redis in time; they load on first use", slog.Int("skus", left))
	}
	// The listing is rebuilt whole from the database on the next read; not
	// before the skus are loaded, or that read would rebuild them one by one.
	if err := s.redis.ForgetLive(ctx, liveID); err != nil {
		s.log.Error("products committed but the live's listing in Redis is stale for up to a minute",
			slog.String("live_id", liveID), slog.Any("error", err))
	}
}

// loadWorkers is how many skus load loads at once: half of the inventory's
// rebuild slots, leaving the rest to purchases that find a sku missing.
const loadWorkers = 4

// loadBudget bounds the loading of one change.
const loadBudget = 2 * time.Minute

// loadOne applies a to Redis when Redis holds the sku. Otherwise a sku this
// change created, read back unsold at the version the change wrote
// (fresh), is loaded as read: it has no holdings and no version was ever
// published for it. Anything else is rebuilt, which reads the row and
// starts a new version epoch.
func (s *Service) loadOne(ctx context.Context, a mysqlstore.Applied, fresh mysqlstore.ProductState, now time.Time) {
	l, ok, err := s.redis.Apply(ctx, redisstock.Settings{
		SKU: a.SKU, LiveID: a.LiveID, Total: a.Stock, Limit: a.Limit, Low: a.Low,
		SaleStart: a.SaleStart, SaleEnd: a.SaleEnd, Version: a.Version,
	}, now)
	switch {
	case err != nil:
		s.log.Error("product committed but not applied in Redis; run `origin reconcile`", slog.String("sku", a.SKU), slog.Any("error", err))
	case ok:
		s.publish.Publish(l)
	case a.Created && fresh.SKU == a.SKU && fresh.Version == a.Version:
		loaded, err := s.redis.Load(ctx, inventory.Snapshot(fresh))
		switch {
		case err != nil:
			s.log.Error("product committed but not loaded in Redis; it loads on first use", slog.String("sku", a.SKU), slog.Any("error", err))
		case loaded:
			s.publish.Publish(stock.Level{
				SKU: a.SKU, LiveID: a.LiveID, Remaining: fresh.Stock, Version: fresh.Version,
				Status: stock.StatusFor(fresh.Stock, fresh.Low), UpdatedAt: fresh.UpdatedAt,
			})
		}
	default:
		if err := s.rebuild.Rebuild(ctx, a.SKU); err != nil {
			s.log.Error("product committed but not loaded in Redis", slog.String("sku", a.SKU), slog.Any("error", err))
		}
	}
}

// AdjustmentInput is the body of POST /admin/v1/products/{sku}/stock-adjustments.
type AdjustmentInput struct {
	Delta  *int64  `json:"delta"`
	Reason *string `json:"reason"`
}

// Adjust changes a sku's units on sale by a signed delta, records why,
// and brings Redis and the viewers up to date.
func (s *Service) Adjust(ctx context.Context, merchantID, sku string, in AdjustmentInput) (mysqlstore.Applied, error) {
	switch {
	case in.Delta == nil || *in.Delta == 0:
		return mysqlstore.Applied{}, &InvalidError{Message: "delta must be a non-zero integer"}
	case *in.Delta > MaxStock || *in.Delta < -MaxStock:
		return mysqlstore.Applied{}, &InvalidError{Message: fmt.Sprintf("delta must be between %d and %d", -MaxStock, MaxStock)}
	case in.Reason == nil || !validText(*in.Reason, MaxName):
		return mysqlstore.Applied{}, &InvalidError{Message: fmt.Sprintf("reason must be 1 to %d printable characters", MaxName)}
	}
	now := time.Now().UTC()
	a, err := s.db.AdjustStock(ctx, merchantID, sku, *in.Delta, *in.Reason, MaxStock, now)
	switch {
	case errors.Is(err, mysqlstore.ErrBelowSold):
		return mysqlstore.Applied{}, &InvalidError{Message: "stock would fall below the units already sold; nothing was changed"}
	case errors.Is(err, mysqlstore.ErrStockTooHigh):
		return mysqlstore.Applied{}, &InvalidError{Message: "stock would exceed the maximum of " + fmt.Sprint(MaxStock)}
	case err != nil:
		return mysqlstore.Applied{}, err
	}
	s.load(ctx, a.LiveID, []mysqlstore.Applied{a}, now)
	return a, nil
}

// Lives lists a merchant's lives, newest first, up to the listing limit.
func (s *Service) Lives(ctx context.Context, merchantID string) ([]mysqlstore.LiveSummary, error) {
	return s.db.Lives(ctx, merchantID, s.limits.LivesListed)
}

// Report lists units sold, remaining and revenue per sku of a live, from
// the database of record.
func (s *Service) Report(ctx context.Context, merchantID, liveID string) ([]mysqlstore.ReportLine, error) {
	return s.db.Report(ctx, merchantID, liveID)
}
