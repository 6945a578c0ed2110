package naiveorigin

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"livecommerce/internal/buyertoken"
	"livecommerce/internal/stock"
)

// Limits of a purchase request, the same as the origin's.
const (
	maxBody        = 4 << 10
	maxQuantity    = 100
	maxKeyLen      = 255
	purchaseBudget = 2 * time.Second
	readyBudget    = time.Second
)

// server holds what the handlers share.
type server struct {
	db       *sql.DB
	verifier *buyertoken.Verifier
	log      *slog.Logger
}

// NewApp returns the baseline's HTTP app over db, whose tables CreateSchema
// made. secret is the HS256 buyer-token secret (at least buyertoken.MinSecretLen bytes). The
// caller serves it (app.Listener) and stops it (app.ShutdownWithContext)
// before closing db; db's pool size bounds the transactions in flight.
func NewApp(db *sql.DB, secret []byte, log *slog.Logger) (*fiber.App, error) {
	if db == nil {
		return nil, errors.New("naiveorigin: new app: nil db")
	}
	v, err := buyertoken.NewVerifier(secret)
	if err != nil {
		return nil, fmt.Errorf("naiveorigin: new app: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{db: db, verifier: v, log: log}
	app := fiber.New(fiber.Config{
		AppName:               "naiveorigin",
		BodyLimit:             maxBody,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		ReadBufferSize:        8 << 10, // the origin's: room for a long token
	})
	app.Use(recover.New())
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	app.Post("/v1/purchases", s.purchase)
	return app, nil
}

func (s *server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), readyBudget)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: naiveorigin: ping: %w", stock.ErrUnavailable, err)
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *server) purchase(c *fiber.Ctx) error {
	buyer, err := s.buyer(c)
	if err != nil {
		return err
	}
	// Cloned: fasthttp reuses the request's memory once the handler returns.
	key := strings.Clone(c.Get("Idempotency-Key"))
	if !validKey(key) {
		return badRequest("Idempotency-Key header is required: 1 to 255 printable ASCII characters")
	}
	sku, qty, err := parsePurchase(c.Body())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), purchaseBudget)
	defer cancel()
	r, err := s.buy(ctx, purchase{buyer: buyer, key: key, sku: sku, quantity: qty})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if r.replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

// buyer verifies the bearer token and returns its subject.
func (s *server) buyer(c *fiber.Ctx) (string, error) {
	const prefix = "Bearer "
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", errUnauthorized
	}
	return s.verifier.Verify(strings.TrimSpace(h[len(prefix):]))
}

// validKey: 1 to 255 printable ASCII characters.
func validKey(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// parsePurchase reads {"sku":"A1","quantity":1}. Other fields (price, buyer
// id, status) are ignored: the buyer may not set them. The quantity must be
// a plain JSON integer: no strings, fractions or exponents.
func parsePurchase(body []byte) (sku string, qty int, err error) {
	var b struct {
		SKU      *string         `json:"sku"`
		Quantity json.RawMessage `json:"quantity"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return "", 0, badRequest(`body must be a JSON object like {"sku":"A1","quantity":1}`)
	}
	// More is not enough: it reports false before a stray closing bracket.
	if _, err := dec.Token(); err != io.EOF {
		return "", 0, badRequest("body must hold exactly one JSON value")
	}
	if b.SKU == nil || !stock.ValidID(*b.SKU) {
		return "", 0, badRequest("sku must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	n, err := strconv.Atoi(string(b.Quantity))
	if err != nil || n < 1 || n > maxQuantity {
		return "", 0, badRequest("quantity must be an integer from 1 to " + strconv.Itoa(maxQuantity))
	}
	return *b.SKU, n, nil
}

// errUnauthorized: no bearer token at all.
var errUnauthorized = errors.New("naiveorigin: missing bearer token")

// badRequest is an invalid_request with a message for the client.
type badRequest string

func (b badRequest) Error() string { return string(b) }

// problem is one contract error.
type problem struct {
	status     int
	code       string
	message    string
	retryAfter bool
}

// classify is the one place errors become contract codes and statuses.
func classify(err error) problem {
	var br badRequest
	var fe *fiber.Error
	answer, isStock := stock.AnswerFor(err)
	switch {
	case errors.As(err, &br):
		return problem{status: 400, code: "invalid_request", message: string(br)}
	case errors.Is(err, errUnauthorized), errors.Is(err, buyertoken.ErrInvalidToken):
		return problem{status: 401, code: "unauthorized", message: "missing or invalid credentials"}
	case isStock:
		p := problem{status: answer.Status, code: answer.Code, message: answer.Message, retryAfter: answer.RetryAfter > 0}
		if errors.Is(err, stock.ErrUnavailable) {
			p.message = "the database is unavailable; retry shortly"
		}
		return p
	case errors.As(err, &fe):
		return fiberProblem(fe)
	}
	return problem{status: 500, code: "internal", message: "internal error"}
}

// fiberProblem maps the framework's own errors: unknown route, body over
// the limit, wrong method, a server shutting down.
func fiberProblem(fe *fiber.Error) problem {
	switch {
	case fe.Code == fiber.StatusNotFound:
		return problem{status: 404, code: "not_found", message: "no such resource"}
	case fe.Code == fiber.StatusRequestEntityTooLarge:
		return problem{status: 413, code: "payload_too_large", message: "request body too large"}
	case fe.Code == fiber.StatusServiceUnavailable:
		return problem{status: 503, code: "unavailable", message: "shutting down", retryAfter: true}
	case fe.Code >= 400 && fe.Code < 500:
		return problem{status: fe.Code, code: "invalid_request", message: fe.Message}
	}
	return problem{status: 500, code: "internal", message: "internal error"}
}

// errorHandler writes every error as the contract's JSON. Only unexpected
// errors are logged as errors; an unavailable database is a warning.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	p := classify(err)
	switch p.status {
	case fiber.StatusInternalServerError:
		s.log.Error("request failed", slog.String("route", c.Route().Path), slog.Any("error", err))
	case fiber.StatusServiceUnavailable:
		s.log.Warn("database unavailable", slog.String("route", c.Route().Path), slog.Any("error", err))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if p.status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
	}
	if p.retryAfter {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	return c.Status(p.status).JSON(struct {
		Error body `json:"error"`
	}{body{p.code, p.message}})
}
