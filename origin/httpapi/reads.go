package httpapi

import (
	"net/netip"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"livecommerce/internal/clientip"
	"livecommerce/internal/stock"
	"livecommerce/origin/inventory"
	"livecommerce/origin/stockread"
)

// cachePolicy is the contract's: one second fresh, then stale while the
// edge revalidates, and a minute of stale answers if the origin fails. No
// s-maxage: it implies proxy-revalidate, which forbids serving stale.
const cachePolicy = "public, max-age=1, stale-while-revalidate=5, stale-if-error=60"

func (a *API) skuStock(c *fiber.Ctx) error {
	sku := strings.Clone(c.Params("sku"))
	if !stock.ValidID(sku) {
		return badRequest("sku must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	ans, err := a.Reads.SKU(c.UserContext(), sku, a.readBudget(c))
	if err != nil {
		return err
	}
	return sendAnswer(c, ans)
}

func (a *API) liveStock(c *fiber.Ctx) error {
	live := strings.Clone(c.Params("live_id"))
	if !stock.ValidID(live) {
		return badRequest("live_id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	ans, err := a.Reads.Live(c.UserContext(), live, a.readBudget(c))
	if err != nil {
		return err
	}
	return sendAnswer(c, ans)
}

// readBudget is the gate of a stock read: the first database read it
// causes (an id Redis does not hold: unknown, or not loaded) takes a token
// from the client's budget of them, before the query; without one the read
// is refused with 429. Reads that Redis answers are never charged, and one
// request is charged at most once, whatever it reads.
func (a *API) readBudget(c *fiber.Ctx) inventory.Gate {
	// The client's key is worked out only when a read needs the database:
	// on the hot path, a read the cache answers, it is never needed. Read
	// here, not later, since the gate may run on another goroutine.
	remote, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	xff := strings.Clone(c.Get(fiber.HeaderXForwardedFor))
	charged := false
	return func() error {
		if charged {
			return nil
		}
		charged = true
		key := clientip.LimitKey(a.trusted.Of(remote, xff))
		if ok, wait := a.missLimit.Allow(key, time.Now()); !ok {
			return rateLimited{seconds: ceilSeconds(wait)}
		}
		return nil
	}
}

func sendAnswer(c *fiber.Ctx, ans *stockread.Answer) error {
	c.Set(fiber.HeaderCacheControl, cachePolicy)
	c.Set("CDN-Cache-Control", cachePolicy)
	c.Set("Cache-Tag", ans.CacheTag)
	c.Set("xkey", ans.XKey)
	if ans.NotFound {
		return c.Status(fiber.StatusNotFound).JSON(errorJSON("not_found", "not found"))
	}
	c.Set(fiber.HeaderETag, ans.ETag)
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), ans.ETag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(ans.Body)
}

func errorJSON(code, message string) errorBody {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	return b
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
