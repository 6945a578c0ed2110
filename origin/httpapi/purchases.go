package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"livecommerce/internal/stock"
	"livecommerce/origin/purchase"
	"livecommerce/origin/shop"
)

// MaxQuantity caps one purchase whatever the product's limit.
const MaxQuantity = shop.MaxLimit

func bearer(c *fiber.Ctx) (string, bool) {
	h := c.Get(fiber.HeaderAuthorization)
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

func (a *API) buyer(c *fiber.Ctx) (string, error) {
	tok, ok := bearer(c)
	if !ok {
		return "", errUnauthorized
	}
	buyer, err := a.Verifier.Verify(tok)
	if err != nil {
		return "", err
	}
	if ok, wait := a.buyerLimit.Allow(buyer, time.Now()); !ok {
		return "", rateLimited{seconds: ceilSeconds(wait)}
	}
	return buyer, nil
}

// validIdempotencyKey: 1 to 255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

type purchaseBody struct {
	SKU      *string          `json:"sku"`
	Quantity *json.RawMessage `json:"quantity"`
}

// parsePurchase reads {"sku":"A1","quantity":1}. Other fields (price,
// buyer id, status) are ignored: the buyer may not set them.
func parsePurchase(body []byte) (sku string, qty int, err error) {
	if len(body) > MaxPurchaseBody {
		return "", 0, fiber.ErrRequestEntityTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var b purchaseBody
	if err := dec.Decode(&b); err != nil {
		return "", 0, badRequest("body must be a JSON object like {\"sku\":\"A1\",\"quantity\":1}")
	}
	if err := onlyOneValue(dec); err != nil {
		return "", 0, err
	}
	if b.SKU == nil || !stock.ValidID(*b.SKU) {
		return "", 0, badRequest("sku must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	if b.Quantity == nil {
		return "", 0, badRequest("quantity is required")
	}
	// Only a plain JSON integer: no strings, fractions or exponents.
	raw := string(*b.Quantity)
	n, perr := strconv.ParseInt(raw, 10, 64)
	if perr != nil || n < 1 || n > MaxQuantity || (len(raw) > 1 && raw[0] == '0') {
		return "", 0, badRequest("quantity must be an integer from 1 to " + strconv.Itoa(MaxQuantity))
	}
	return *b.SKU, int(n), nil
}

func (a *API) purchase(c *fiber.Ctx) error {
	buyer, err := a.buyer(c)
	if err != nil {
		return err
	}
	key := c.Get("Idempotency-Key")
	if !validIdempotencyKey(key) {
		return badRequest("Idempotency-Key header is required: 1 to 255 printable ASCII characters")
	}
	sku, qty, err := parsePurchase(c.Body())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), a.cfg.PurchaseTimeout)
	defer cancel()
	// Strings handed to the purchase outlive this handler when it times
	// out; fasthttp reuses the request's memory, so they are copied.
	res, err := a.Purchases.Purchase(ctx, purchase.Request{
		BuyerID: strings.Clone(buyer), IdempotencyKey: strings.Clone(key), SKU: sku, Quantity: qty,
	})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if res.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(fiber.StatusCreated).Send(res.Body)
}

type orderView struct {
	OrderID   string    `json:"order_id"`
	SKU       string    `json:"sku"`
	LiveID    string    `json:"live_id"`
	Quantity  int       `json:"quantity"`
	UnitPrice int64     `json:"unit_price"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *API) order(c *fiber.Ctx) error {
	buyer, err := a.buyer(c)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("order_id"))
	if len(id) != 26 || strings.Trim(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
		return stock.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	o, err := a.DB.Order(ctx, id)
	if err != nil {
		return err
	}
	// Another buyer's order does not exist as far as this buyer knows.
	if o.BuyerID != buyer {
		return stock.ErrNotFound
	}
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.JSON(orderView{
		OrderID: o.ID, SKU: o.SKU, LiveID: o.LiveID, Quantity: o.Quantity, UnitPrice: o.UnitPrice,
		Currency: o.Currency, Status: o.Status, CreatedAt: o.CreatedAt.UTC(),
	})
}
