// Package adminapi is the wire format of the origin's admin API
// (/admin/v1): the bodies the origin's handlers take and send, which the
// merchants' CLI's client sends and reads. They are declared once, here,
// so the server and its client cannot drift apart. The inputs are the
// domain's own (package shop): their JSON is the contract's.
package adminapi

import (
	"time"

	"livecommerce/origin/shop"
)

// Inputs, as the merchant sends them.
type (
	// LiveBody is the body of PUT /admin/v1/lives/{live_id}.
	LiveBody = shop.LiveInput
	// ProductRow is one element of PUT /admin/v1/lives/{live_id}/products.
	ProductRow = shop.ProductInput
	// AdjustmentBody is the body of POST
	// /admin/v1/products/{sku}/stock-adjustments.
	AdjustmentBody = shop.AdjustmentInput
)

// Live is a merchant's live: the answer to PUT /admin/v1/lives/{live_id}.
type Live struct {
	LiveID       string     `json:"live_id"`
	Title        string     `json:"title"`
	SaleStartsAt *time.Time `json:"sale_starts_at"`
	SaleEndsAt   *time.Time `json:"sale_ends_at"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// LiveOf is the wire form of l.
func LiveOf(l shop.Live) Live {
	return Live{
		LiveID: l.ID, Title: l.Title, SaleStartsAt: timePtr(l.SaleStart), SaleEndsAt: timePtr(l.SaleEnd),
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
	}
}

// timePtr is nil for an open end of a sale window.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// LiveSummary is one live in GET /admin/v1/lives, with its number of
// products.
type LiveSummary struct {
	Live
	Products int64 `json:"products"`
}

// Lives is the answer to GET /admin/v1/lives: newest first.
type Lives struct {
	Lives []LiveSummary `json:"lives"`
}

// AppliedProduct is one product as an upsert committed it.
type AppliedProduct struct {
	SKU     string `json:"sku"`
	Stock   int64  `json:"stock"`
	Version int64  `json:"version"`
}

// ProductsApplied is the answer to PUT /admin/v1/lives/{live_id}/products.
type ProductsApplied struct {
	LiveID   string           `json:"live_id"`
	Products []AppliedProduct `json:"products"`
}

// Adjustment is the answer to a stock adjustment: the sku's stock after it.
type Adjustment struct {
	SKU     string `json:"sku"`
	LiveID  string `json:"live_id"`
	Stock   int64  `json:"stock"`
	Version int64  `json:"version"`
}

// ReportLine is one sku of a live's sales report.
type ReportLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Currency  string `json:"currency"`
	Stock     int64  `json:"stock"`
	UnitsSold int64  `json:"units_sold"`
	Remaining int64  `json:"remaining"`
	Revenue   int64  `json:"revenue"`
	Orders    int64  `json:"orders"`
}

// Report is the answer to GET /admin/v1/lives/{live_id}/report.
type Report struct {
	LiveID      string       `json:"live_id"`
	GeneratedAt time.Time    `json:"generated_at"`
	Products    []ReportLine `json:"products"`
}

// ReportOf is the wire form of a live's report.
func ReportOf(liveID string, at time.Time, lines []shop.ReportLine) Report {
	out := Report{LiveID: liveID, GeneratedAt: at, Products: make([]ReportLine, len(lines))}
	for i, l := range lines {
		out.Products[i] = ReportLine(l)
	}
	return out
}

// RowError is one refused row of a product upsert (in an error's
// details); Row counts from 1 within the request.
type RowError struct {
	Row    int    `json:"row"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// RowErrorsOf is the wire form of rows.
func RowErrorsOf(rows []shop.RowError) []RowError {
	out := make([]RowError, len(rows))
	for i, r := range rows {
		out[i] = RowError(r)
	}
	return out
}

// Error is every non-2xx answer's body (the contract's error shape), as
// the admin API sends it.
type Error struct {
	Error struct {
		Code    string     `json:"code"`
		Message string     `json:"message"`
		Details []RowError `json:"details,omitempty"`
	} `json:"error"`
}
