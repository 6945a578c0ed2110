package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"livecommerce/internal/stock"
	"livecommerce/origin/adminapi"
	"livecommerce/origin/shop"
)

const merchantKey = "merchant_id"

// merchantAuth admits a live merchant API key. A buyer token is not a key
// and is refused here like any other malformed credential.
func (a *API) merchantAuth(c *fiber.Ctx) error {
	key, ok := bearer(c)
	if !ok {
		return errUnauthorized
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	merchant, err := a.DB.MerchantByAPIKey(ctx, key)
	if err != nil {
		return err
	}
	c.Locals(merchantKey, merchant)
	return c.Next()
}

func merchantOf(c *fiber.Ctx) string { s, _ := c.Locals(merchantKey).(string); return s }

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed JSON: " + jsonProblem(err))
	}
	return onlyOneValue(dec)
}

// decodeArray reads a JSON array of at most maxItems elements, each kept
// raw. It stops at the first element past the cap, so what a request makes
// the origin hold is bounded by the cap and not by the body: a body of
// 500,000 tiny elements costs no more than one of maxItems.
func decodeArray(body []byte, maxItems int) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	open, err := dec.Token()
	if err != nil {
		return nil, badRequest("malformed JSON: " + jsonProblem(err))
	}
	if d, ok := open.(json.Delim); !ok || d != '[' {
		return nil, badRequest("body must be a JSON array of products")
	}
	raw := []json.RawMessage{}
	for dec.More() {
		if len(raw) == maxItems {
			return nil, shop.TooManyRows(maxItems)
		}
		var r json.RawMessage
		if err := dec.Decode(&r); err != nil {
			return nil, badRequest("malformed JSON: " + jsonProblem(err))
		}
		raw = append(raw, r)
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("malformed JSON: " + jsonProblem(err))
	}
	return raw, onlyOneValue(dec)
}

// onlyOneValue refuses anything after the first JSON value but white
// space. Decoder.More is not enough: it reports false before a stray
// closing bracket.
func onlyOneValue(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("body must hold exactly one JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error without Go's type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q has the wrong type (%s)", te.Field, te.Value)
		}
		return fmt.Sprintf("expected a different JSON type, got %s", te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of body"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "not valid JSON"
}

func liveParam(c *fiber.Ctx) (string, error) {
	live := strings.Clone(c.Params("live_id"))
	if !stock.ValidID(live) {
		return "", badRequest("live_id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	return live, nil
}

func (a *API) putLive(c *fiber.Ctx) error {
	live, err := liveParam(c)
	if err != nil {
		return err
	}
	var in adminapi.LiveBody
	if err := decodeStrict(c.Body(), &in); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	l, created, err := a.Catalog.PutLive(ctx, merchantOf(c), live, in)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if created {
		status = fiber.StatusCreated
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(adminapi.LiveOf(l))
}

func (a *API) putProducts(c *fiber.Ctx) error {
	live, err := liveParam(c)
	if err != nil {
		return err
	}
	raw, err := decodeArray(c.Body(), a.Catalog.RowsPerRequest())
	if err != nil {
		return err
	}
	rows, rowErrs := shop.DecodeProducts(raw)
	if len(rowErrs) > 0 {
		return shop.RowsRejected(rowErrs)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 30*time.Second)
	defer cancel()
	applied, err := a.Catalog.PutProducts(ctx, merchantOf(c), live, rows)
	if err != nil {
		return err
	}
	out := adminapi.ProductsApplied{LiveID: live, Products: make([]adminapi.AppliedProduct, len(applied))}
	for i, p := range applied {
		out.Products[i] = adminapi.AppliedProduct{SKU: p.SKU, Stock: p.Stock, Version: p.Version}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

func (a *API) adjustStock(c *fiber.Ctx) error {
	sku := strings.Clone(c.Params("sku"))
	if !stock.ValidID(sku) {
		return badRequest("sku must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	var in adminapi.AdjustmentBody
	if err := decodeStrict(c.Body(), &in); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	p, err := a.Catalog.Adjust(ctx, merchantOf(c), sku, in)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(adminapi.Adjustment{SKU: p.SKU, LiveID: p.LiveID, Stock: p.Stock, Version: p.Version})
}

// lives lists the calling merchant's lives, newest first; another
// merchant's lives are never in it.
func (a *API) lives(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
	defer cancel()
	list, err := a.Catalog.Lives(ctx, merchantOf(c))
	if err != nil {
		return err
	}
	out := adminapi.Lives{Lives: make([]adminapi.LiveSummary, len(list))}
	for i, l := range list {
		out.Lives[i] = adminapi.LiveSummary{Live: adminapi.LiveOf(l.Live), Products: l.Products}
	}
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.JSON(out)
}

func (a *API) report(c *fiber.Ctx) error {
	live, err := liveParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
	defer cancel()
	lines, err := a.Catalog.Report(ctx, merchantOf(c), live)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.JSON(adminapi.ReportOf(live, time.Now().UTC(), lines))
}
