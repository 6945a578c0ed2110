package shop

import (
	"fmt"
	"time"
)

// Live is a merchant's live show: its title and optional sale window.
type Live struct {
	ID, MerchantID, Title string
	SaleStart, SaleEnd    time.Time // zero when open-ended
	CreatedAt, UpdatedAt  time.Time
}

// LiveSummary is one of a merchant's lives with its number of products.
type LiveSummary struct {
	Live
	Products int64
}

// LiveInput is what a merchant sends for a live. Times are RFC 3339; nil
// or empty leaves that end of the window open.
type LiveInput struct {
	Title        string  `json:"title"`
	SaleStartsAt *string `json:"sale_starts_at"`
	SaleEndsAt   *string `json:"sale_ends_at"`
}

// ParseLive checks a live's input and returns the live it describes, with
// ID and MerchantID left for the caller.
func ParseLive(in LiveInput) (Live, error) {
	if !validText(in.Title, MaxTitle) {
		return Live{}, &InvalidError{Message: fmt.Sprintf("title must be 1 to %d printable characters without surrounding spaces", MaxTitle)}
	}
	if FormulaStart(in.Title) {
		return Live{}, &InvalidError{Message: formulaReason("title")}
	}
	start, err := parseTime("sale_starts_at", in.SaleStartsAt)
	if err != nil {
		return Live{}, err
	}
	end, err := parseTime("sale_ends_at", in.SaleEndsAt)
	if err != nil {
		return Live{}, err
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		return Live{}, &InvalidError{Message: "sale_ends_at must be after sale_starts_at"}
	}
	return Live{Title: in.Title, SaleStart: start, SaleEnd: end}, nil
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
