package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"livecommerce/internal/stock"
	"livecommerce/origin/catalog"
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
		return badRequest("malformed JSON: " + err.Error())
	}
	if dec.More() {
		return badRequest("body must hold one JSON value")
	}
	return nil
}

func liveParam(c *fiber.Ctx) (string, error) {
	live := strings.Clone(c.Params("live_id"))
	if !stock.ValidID(live) {
		return "", badRequest("live_id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	return live, nil
}

type liveView struct {
	LiveID       string     `json:"live_id"`
	Title        string     `json:"title"`
	SaleStartsAt *time.Time `json:"sale_starts_at"`
	SaleEndsAt   *time.Time `json:"sale_ends_at"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (a *API) putLive(c *fiber.Ctx) error {
	live, err := liveParam(c)
	if err != nil {
		return err
	}
	var in catalog.LiveInput
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
	return c.Status(status).JSON(liveView{
		LiveID: l.ID, Title: l.Title, SaleStartsAt: timePtr(l.SaleStart), SaleEndsAt: timePtr(l.SaleEnd),
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
	})
}

type appliedView struct {
	SKU     string `json:"sku"`
	Stock   int64  `json:"stock"`
	Version int64  `json:"version"`
}

func (a *API) putProducts(c *fiber.Ctx) error {
	live, err := liveParam(c)
	if err != nil {
		return err
	}
	var rows []catalog.ProductInput
	if err := decodeStrict(c.Body(), &rows); err != nil {
		return err
	}
	if rows == nil {
		return badRequest("body must be a JSON array of products")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 30*time.Second)
	defer cancel()
	applied, err := a.Catalog.PutProducts(ctx, merchantOf(c), live, rows)
	if err != nil {
		return err
	}
	out := make([]appliedView, len(applied))
	for i, p := range applied {
		out[i] = appliedView{SKU: p.SKU, Stock: p.Stock, Version: p.Version}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"live_id": live, "products": out})
}
