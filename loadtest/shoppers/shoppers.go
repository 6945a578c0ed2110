// Package shoppers plays the people of a live sale who use plain HTTP:
// viewers polling a product's stock, and buyers purchasing. Each
// operation is one request written by hand on a lane, and its outcome is
// recorded in the contract's codes.
package shoppers

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync"
	"time"

	"livecommerce/internal/buyertoken"
	"livecommerce/loadtest/lanes"
	"livecommerce/loadtest/ledger"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/scenario"
)

// ExpectedRefusals are the contract codes that are a normal part of the
// scenario: the flash sku sells out, greedy buyers meet their limit
// (refusalCode renames the same codes met by anyone else, which then
// count against the error budget).
func ExpectedRefusals() []string { return []string{"sold_out", "purchase_limit_exceeded"} }

// errorCode reads the contract's error code from a non-2xx answer.
func errorCode(a lanes.Answer) string {
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(a.Body, &body) != nil || body.Error.Code == "" || len(body.Error.Code) > 40 {
		return "http_" + strconv.Itoa(a.Status)
	}
	return body.Error.Code
}

// Reader plays the viewers polling stock.
type Reader struct {
	Plan *scenario.Plan
}

// Read asks the lane's server for the stock of the sku read seq picks.
func (rd *Reader) Read(l *lanes.Lane, seq int64, due time.Time, st *opstats.Stats) {
	r := rd.Plan.RNG(scenario.StreamRead, uint64(seq))
	sku := rd.Plan.SKUs[rd.Plan.ViewedSKU(r)].ID
	req := make([]byte, 0, 160)
	req = append(req, "GET /v1/products/"...)
	req = append(req, sku...)
	req = append(req, "/stock HTTP/1.1\r\nHost: "...)
	req = append(req, l.Addr()...)
	req = append(req, "\r\nUser-Agent: livecommerce-loadgen\r\nAccept: application/json\r\n\r\n"...)
	sent := time.Now()
	a := l.Do(req)
	now := time.Now()
	code := a.Fail
	if code == "" {
		code = readOutcome(a, sku)
	}
	st.Served(due, sent, now, code)
}

// readOutcome checks a stock answer: 200 and the sku asked for. A full
// decode would cost the tool more than the edge spends on the read.
func readOutcome(a lanes.Answer, sku string) string {
	if a.Status != http.StatusOK {
		return errorCode(a)
	}
	if !bytes.Contains(a.Body, []byte(`"sku":"`+sku+`"`)) || !bytes.Contains(a.Body, []byte(`"version":`)) {
		return opstats.CodeBadResponse
	}
	return opstats.CodeOK
}

// Buyer plays the buyers.
type Buyer struct {
	plan   *scenario.Plan
	secret []byte
	tokens sync.Map // buyer id -> token
}

// NewBuyer returns the buyers of plan, whose tokens are signed with
// secret.
func NewBuyer(plan *scenario.Plan, secret []byte) *Buyer {
	return &Buyer{plan: plan, secret: secret}
}

func (b *Buyer) token(id string) (string, error) {
	if t, ok := b.tokens.Load(id); ok {
		return t.(string), nil
	}
	t, err := buyertoken.Issue(b.secret, id, 2*time.Hour, time.Now())
	if err != nil {
		return "", err
	}
	b.tokens.Store(id, t)
	return t, nil
}

// PurchaseStats are the operations one purchase pacer records into.
type PurchaseStats struct {
	First  *opstats.Stats // purchases sent for the first time
	Resent *opstats.Stats // purchases resent with their key after a 201
}

// Purchase sends purchase seq of phase on the lane and notes the answer
// in led. Each phase draws its own buyers and keys: a key of an earlier
// phase would be answered as a replay, and the same buyers again would run
// into their limits.
func (b *Buyer) Purchase(l *lanes.Lane, phase int, seq int64, due time.Time, st PurchaseStats, led *ledger.Ledger) {
	r := b.plan.RNG(scenario.StreamPurchase+uint64(phase)<<8, uint64(seq))
	o := b.plan.NextPurchase(r)
	key := b.plan.RunID + "-" + strconv.Itoa(phase) + "-p" + strconv.FormatInt(seq, 10)
	var prev ledger.Order
	if o.Kind == scenario.BuyRetry {
		var ok bool
		if prev, ok = led.Pick(r); ok {
			o.Buyer, o.SKU, key = prev.Buyer, prev.SKU, prev.Key
		} else {
			o = b.plan.HotPurchase(r)
		}
	}
	stats := st.First
	if o.Kind == scenario.BuyRetry {
		stats = st.Resent
	}
	tok, err := b.token(o.Buyer)
	if err != nil {
		stats.Record(due, time.Now(), opstats.CodeBadResponse) // never sent
		return
	}
	sku := b.plan.SKUs[o.SKU].ID
	body := `{"sku":"` + sku + `","quantity":1}`
	req := make([]byte, 0, 512)
	req = append(req, "POST /v1/purchases HTTP/1.1\r\nHost: "...)
	req = append(req, l.Addr()...)
	req = append(req, "\r\nUser-Agent: livecommerce-loadgen\r\nContent-Type: application/json\r\nAuthorization: Bearer "...)
	req = append(req, tok...)
	req = append(req, "\r\nIdempotency-Key: "...)
	req = append(req, key...)
	req = append(req, "\r\nX-Forwarded-For: "...)
	req = append(req, scenario.ClientIP('b', hash(o.Buyer))...)
	req = append(req, "\r\nContent-Length: "...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(req, "\r\n\r\n"...)
	req = append(req, body...)
	sent := time.Now()
	a := l.Do(req)
	now := time.Now()
	if a.Fail != "" {
		led.Lost(o.Buyer, key)
		stats.Served(due, sent, now, a.Fail)
		return
	}
	if a.Status != http.StatusCreated {
		code := errorCode(a)
		switch {
		case a.Retried && code == "idempotency_key_in_use":
			// The first attempt reached the server before its
			// connection broke: the outcome is not known.
			led.Lost(o.Buyer, key)
		case a.Status >= 500 && a.Status != http.StatusServiceUnavailable:
			// A 503 promises nothing was sold; anything else 5xx
			// leaves the outcome open.
			led.Lost(o.Buyer, key)
		default:
			led.Refused(o.Buyer, key)
		}
		stats.Served(due, sent, now, refusalCode(o, code))
		return
	}
	var order struct {
		OrderID string `json:"order_id"`
		SKU     string `json:"sku"`
		Version int64  `json:"version"`
	}
	if err := json.Unmarshal(a.Body, &order); err != nil || order.OrderID == "" || order.SKU != sku || order.Version < 1 {
		led.Lost(o.Buyer, key)
		stats.Served(due, sent, now, opstats.CodeBadResponse)
		return
	}
	replayed := a.Header.Get("Idempotent-Replayed") == "true"
	if o.Kind == scenario.BuyRetry {
		code := opstats.CodeOK
		if order.OrderID != prev.OrderID || !replayed {
			code = opstats.CodeReplayMismatch
		}
		stats.Served(due, sent, now, code)
		return
	}
	if replayed && !a.Retried {
		// Every first send carries a key the tool never used before;
		// only the lane's own retry of a broken connection may come
		// back as a replay of the attempt that did arrive.
		led.Lost(o.Buyer, key)
		stats.Served(due, sent, now, opstats.CodeUnexpectedReplay)
		return
	}
	led.Confirm(ledger.Order{OrderID: order.OrderID, Buyer: o.Buyer, Key: key, SKU: o.SKU})
	stats.Served(due, sent, now, opstats.CodeOK)
}

// refusalCode names a refusal, marking the ones the scenario does not
// call for: only the flash product sells out, only greedy buyers meet
// their limit. A system that refuses anyone else fails the error budget.
func refusalCode(o scenario.Purchase, code string) string {
	switch {
	case code == "sold_out" && o.Kind != scenario.BuyFlash:
		return "sold_out (not the flash product)"
	case code == "purchase_limit_exceeded" && o.Kind != scenario.BuyGreedy:
		return "purchase_limit_exceeded (not a greedy buyer)"
	}
	return code
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
