package httpapi

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"livecommerce/internal/buyertoken"
	"livecommerce/internal/stock"
	"livecommerce/origin/adminapi"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/purchase"
	"livecommerce/origin/shop"
)

// problem is the contract's error body.
type problem struct {
	status     int
	code       string
	message    string
	details    []adminapi.RowError
	retryAfter int // seconds; 0 = no header
}

// errorBody is the contract's error shape, declared once for the origin
// and the merchants' CLI, which reads it.
type errorBody = adminapi.Error

// Errors raised by the handlers themselves.
var (
	errUnauthorized = errors.New("missing or invalid credentials")
)

// badRequest is an invalid_request with a message for the client.
type badRequest string

func (b badRequest) Error() string { return string(b) }

// rateLimited carries the wait until the next token.
type rateLimited struct{ seconds int }

func (r rateLimited) Error() string { return "too many requests" }

// classify is the one place errors become contract codes and statuses.
func classify(err error) problem {
	var br badRequest
	var rl rateLimited
	var inv *shop.InvalidError
	var fe *fiber.Error
	answer, isStock := stock.AnswerFor(err)
	switch {
	case errors.As(err, &br):
		return problem{status: 400, code: "invalid_request", message: string(br)}
	case errors.As(err, &inv):
		p := problem{status: 400, code: "invalid_request", message: inv.Message}
		if len(inv.Rows) > 0 {
			p.details = adminapi.RowErrorsOf(inv.Rows)
		}
		return p
	case errors.As(err, &rl):
		return problem{status: 429, code: "rate_limited", message: "too many requests; retry later", retryAfter: rl.seconds}
	case errors.Is(err, errUnauthorized), errors.Is(err, buyertoken.ErrInvalidToken), errors.Is(err, mysqlstore.ErrBadAPIKey):
		return problem{status: 401, code: "unauthorized", message: "missing or invalid credentials"}
	case isStock:
		p := problem{status: answer.Status, code: answer.Code, message: answer.Message, retryAfter: answer.RetryAfter}
		if errors.Is(err, stock.ErrUnavailable) {
			p.message = unavailableMessage(err)
		}
		return p
	case errors.As(err, &fe):
		return fiberProblem(fe)
	}
	return problem{status: 500, code: "internal", message: "internal error"}
}

func unavailableMessage(err error) string {
	if errors.Is(err, purchase.ErrOutcomePending) {
		return "the outcome of this purchase is not known yet; retry with the same Idempotency-Key"
	}
	return "a dependency is unavailable; retry shortly"
}

// fiberProblem maps the framework's own errors (unknown route, body over
// the limit, wrong method).
func fiberProblem(fe *fiber.Error) problem {
	switch fe.Code {
	case fiber.StatusNotFound:
		return problem{status: 404, code: "not_found", message: "no such resource"}
	case fiber.StatusRequestEntityTooLarge:
		return problem{status: 413, code: "payload_too_large", message: "request body too large"}
	case fiber.StatusMethodNotAllowed:
		return problem{status: 405, code: "invalid_request", message: "method not allowed"}
	case fiber.StatusServiceUnavailable:
		return problem{status: 503, code: "unavailable", message: "shutting down", retryAfter: 1}
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return problem{status: fe.Code, code: "invalid_request", message: fe.Message}
	}
	return problem{status: 500, code: "internal", message: "internal error"}
}

// errorHandler writes every error as the contract's JSON. Only unexpected
// errors are logged as errors.
func (a *API) errorHandler(c *fiber.Ctx, err error) error {
	p := classify(err)
	if p.status >= 500 && p.code == "internal" {
		a.Log.Error("request failed", slog.String("request_id", requestID(c)), slog.String("route", c.Route().Path), slog.Any("error", err))
	} else if p.status == 503 {
		a.Log.Warn("dependency unavailable", slog.String("request_id", requestID(c)), slog.String("route", c.Route().Path), slog.Any("error", err))
	}
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Details = p.code, p.message, p.details
	if p.status != fiber.StatusNotFound {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	if p.status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
	}
	if p.retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(p.retryAfter))
	}
	return c.Status(p.status).JSON(body)
}

func requestID(c *fiber.Ctx) string {
	if v, ok := c.Locals("requestid").(string); ok {
		return v
	}
	return ""
}
