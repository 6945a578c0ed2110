package main

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"livecommerce/internal/buyertoken"
)

// Random streams: each kind of operation draws from its own, so adding a
// viewer does not change what the buyers do.
const (
	streamRead uint64 = iota + 1
	streamPurchase
)

// errorCode reads the contract's error code from a non-2xx answer.
func errorCode(a answer) string {
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(a.body, &body) != nil || body.Error.Code == "" || len(body.Error.Code) > 40 {
		return "http_" + strconv.Itoa(a.status)
	}
	return body.Error.Code
}

// reader plays the viewers polling stock.
type reader struct {
	plan *Plan
}

// read asks the lane's server for the stock of the sku read seq picks.
func (rd *reader) read(l *lane, seq int64, due time.Time, st *opStats) {
	r := rd.plan.rng(streamRead, uint64(seq))
	sku := rd.plan.SKUs[rd.plan.viewedSKU(r)].ID
	req := make([]byte, 0, 160)
	req = append(req, "GET /v1/products/"...)
	req = append(req, sku...)
	req = append(req, "/stock HTTP/1.1\r\nHost: "...)
	req = append(req, l.addr...)
	req = append(req, "\r\nUser-Agent: livecommerce-loadgen\r\nAccept: application/json\r\n\r\n"...)
	sent := time.Now()
	a := l.do(req)
	now := time.Now()
	code := a.failCode
	if code == "" {
		code = readOutcome(a, sku)
	}
	st.served(due, sent, now, code)
}

// readOutcome checks a stock answer: 200 and the sku asked for. A full
// decode would cost the tool more than the edge spends on the read.
func readOutcome(a answer, sku string) string {
	if a.status != http.StatusOK {
		return errorCode(a)
	}
	if !bytes.Contains(a.body, []byte(`"sku":"`+sku+`"`)) || !bytes.Contains(a.body, []byte(`"version":`)) {
		return codeBadResponse
	}
	return codeOK
}

// ledger is what one system under test answered the buyers: the orders it
// confirmed, for the invariant check and for resending, and the moment
// each confirmed version reached its buyer, for the event streams' lag.
type ledger struct {
	mu        sync.Mutex
	confirmed []confirmedOrder
	// The keys of purchases whose outcome the buyer never learnt (an
	// order may exist), and of purchases definitely refused (none may).
	lostKeys    map[[2]string]bool
	refusedKeys map[[2]string]bool
}

type confirmedOrder struct {
	OrderID, Buyer, Key string
	SKU                 int
}

func newLedger() *ledger {
	return &ledger{lostKeys: map[[2]string]bool{}, refusedKeys: map[[2]string]bool{}}
}

func (l *ledger) confirm(o confirmedOrder) {
	l.mu.Lock()
	l.confirmed = append(l.confirmed, o)
	l.mu.Unlock()
}

func (l *ledger) lost(buyer, key string) {
	l.mu.Lock()
	l.lostKeys[[2]string{buyer, key}] = true
	l.mu.Unlock()
}

func (l *ledger) refused(buyer, key string) {
	l.mu.Lock()
	l.refusedKeys[[2]string{buyer, key}] = true
	l.mu.Unlock()
}

// pick returns one confirmed order at random, for a buyer to resend.
func (l *ledger) pick(r *rand.Rand) (confirmedOrder, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.confirmed) == 0 {
		return confirmedOrder{}, false
	}
	return l.confirmed[r.IntN(len(l.confirmed))], true
}

// snapshot returns the confirmed orders and the keys of lost and refused
// purchases.
func (l *ledger) snapshot() (confirmed []confirmedOrder, lost, refused map[[2]string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.confirmed), maps.Clone(l.lostKeys), maps.Clone(l.refusedKeys)
}

// buyer plays the buyers.
type buyer struct {
	plan   *Plan
	secret []byte
	tokens sync.Map // buyer id -> token
}

func (b *buyer) token(id string) (string, error) {
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

// purchaseStats are the operations one purchase pacer records into.
type purchaseStats struct {
	first  *opStats // purchases sent for the first time
	resent *opStats // purchases resent with their key after a 201
}

// purchase sends purchase seq of phase on the lane and notes the answer
// in led. Each phase draws its own buyers and keys: a key of an earlier
// phase would be answered as a replay, and the same buyers again would run
// into their limits.
func (b *buyer) purchase(l *lane, phase int, seq int64, due time.Time, st purchaseStats, led *ledger) {
	r := b.plan.rng(streamPurchase+uint64(phase)<<8, uint64(seq))
	o := b.plan.nextPurchase(r)
	key := b.plan.RunID + "-" + strconv.Itoa(phase) + "-p" + strconv.FormatInt(seq, 10)
	var prev confirmedOrder
	if o.Kind == buyRetry {
		var ok bool
		if prev, ok = led.pick(r); ok {
			o.Buyer, o.SKU, key = prev.Buyer, prev.SKU, prev.Key
		} else {
			o = purchaseOrder{Kind: buyNormal, Buyer: "buyer-" + strconv.Itoa(r.IntN(normalBuyers)), SKU: b.plan.hot[r.IntN(len(b.plan.hot))]}
		}
	}
	stats := st.first
	if o.Kind == buyRetry {
		stats = st.resent
	}
	tok, err := b.token(o.Buyer)
	if err != nil {
		stats.record(due, time.Now(), codeBadResponse) // never sent
		return
	}
	sku := b.plan.SKUs[o.SKU].ID
	body := `{"sku":"` + sku + `","quantity":1}`
	req := make([]byte, 0, 512)
	req = append(req, "POST /v1/purchases HTTP/1.1\r\nHost: "...)
	req = append(req, l.addr...)
	req = append(req, "\r\nUser-Agent: livecommerce-loadgen\r\nContent-Type: application/json\r\nAuthorization: Bearer "...)
	req = append(req, tok...)
	req = append(req, "\r\nIdempotency-Key: "...)
	req = append(req, key...)
	req = append(req, "\r\nX-Forwarded-For: "...)
	req = append(req, clientIP('b', hash(o.Buyer))...)
	req = append(req, "\r\nContent-Length: "...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(req, "\r\n\r\n"...)
	req = append(req, body...)
	sent := time.Now()
	a := l.do(req)
	now := time.Now()
	if a.failCode != "" {
		led.lost(o.Buyer, key)
		stats.served(due, sent, now, a.failCode)
		return
	}
	if a.status != http.StatusCreated {
		code := errorCode(a)
		switch {
		case a.retried && code == "idempotency_key_in_use":
			// The first attempt reached the server before its
			// connection broke: the outcome is not known.
			led.lost(o.Buyer, key)
		case a.status >= 500 && a.status != http.StatusServiceUnavailable:
			// A 503 promises nothing was sold; anything else 5xx
			// leaves the outcome open.
			led.lost(o.Buyer, key)
		default:
			led.refused(o.Buyer, key)
		}
		stats.served(due, sent, now, purchaseCode(o, code))
		return
	}
	var order struct {
		OrderID string `json:"order_id"`
		SKU     string `json:"sku"`
		Version int64  `json:"version"`
	}
	if err := json.Unmarshal(a.body, &order); err != nil || order.OrderID == "" || order.SKU != sku || order.Version < 1 {
		led.lost(o.Buyer, key)
		stats.served(due, sent, now, codeBadResponse)
		return
	}
	replayed := a.header.Get("Idempotent-Replayed") == "true"
	if o.Kind == buyRetry {
		code := codeOK
		if order.OrderID != prev.OrderID || !replayed {
			code = codeReplayMismatch
		}
		stats.served(due, sent, now, code)
		return
	}
	if replayed && !a.retried {
		// Every first send carries a key the tool never used before;
		// only the lane's own retry of a broken connection may come
		// back as a replay of the attempt that did arrive.
		led.lost(o.Buyer, key)
		stats.served(due, sent, now, codeUnexpectedReplay)
		return
	}
	led.confirm(confirmedOrder{OrderID: order.OrderID, Buyer: o.Buyer, Key: key, SKU: o.SKU})
	stats.served(due, sent, now, codeOK)
}

// purchaseCode names a refusal, marking the ones the scenario does not
// call for: only the flash product sells out, only greedy buyers meet
// their limit. A system that refuses anyone else fails the error budget.
func purchaseCode(o purchaseOrder, code string) string {
	switch {
	case code == "sold_out" && o.Kind != buyFlash:
		return "sold_out (not the flash product)"
	case code == "purchase_limit_exceeded" && o.Kind != buyGreedy:
		return "purchase_limit_exceeded (not a greedy buyer)"
	}
	return code
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
