package shop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"livecommerce/internal/stock"
)

// Product is a merchant's product row, validated.
type Product struct {
	SKU, Name, Currency string
	Price, Stock        int64
	Limit, Low          int64
}

// Applied is a product as an upsert or a stock adjustment committed it,
// for loading into Redis.
type Applied struct {
	SKU, LiveID        string
	Stock, Limit, Low  int64
	Version            int64
	SaleStart, SaleEnd time.Time
	Created            bool // the row was inserted by this change: nothing sold, nothing ever published
}

// ProductState is everything needed to rebuild a sku's counters: the
// product, its live's sale window, and units held per buyer, as of one
// moment.
type ProductState struct {
	SKU, LiveID, MerchantID string
	Stock, Sold             int64
	Limit, Low              int64
	Version                 int64
	SaleStart, SaleEnd      time.Time // zero when open-ended
	UpdatedAt               time.Time
	Held                    map[string]int64
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
func DecodeProducts(raw []json.RawMessage) ([]ProductInput, []RowError) {
	rows := make([]ProductInput, len(raw))
	var errs []RowError
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
			errs = append(errs, RowError{Row: i + 1, Field: te.Field, Reason: "must be " + jsonKind(te.Type.Kind().String())})
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			errs = append(errs, RowError{Row: i + 1, Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Reason: "unknown field"})
		default:
			errs = append(errs, RowError{Row: i + 1, Field: "", Reason: "must be a JSON object of product fields"})
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
func ValidateProducts(rows []ProductInput) ([]Product, []RowError) {
	var errs []RowError
	out := make([]Product, 0, len(rows))
	seen := make(map[string]int, len(rows))
	for i, r := range rows {
		n := i + 1
		bad := func(field, reason string) {
			errs = append(errs, RowError{Row: n, Field: field, Reason: reason})
		}
		var p Product
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

// AdjustmentInput is a signed change of a sku's units on sale, with why.
type AdjustmentInput struct {
	Delta  *int64  `json:"delta"`
	Reason *string `json:"reason"`
}

// CheckAdjustment checks an adjustment's input.
func CheckAdjustment(in AdjustmentInput) error {
	switch {
	case in.Delta == nil || *in.Delta == 0:
		return &InvalidError{Message: "delta must be a non-zero integer"}
	case *in.Delta > MaxStock || *in.Delta < -MaxStock:
		return &InvalidError{Message: fmt.Sprintf("delta must be between %d and %d", -MaxStock, MaxStock)}
	case in.Reason == nil || !validText(*in.Reason, MaxName):
		return &InvalidError{Message: fmt.Sprintf("reason must be 1 to %d printable characters", MaxName)}
	}
	return nil
}
