package scenario

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Plan is the sale a run plays: its lives, their products, and who buys
// and watches what. It is derived from the settings and a run id alone, so
// the run against the system and the run against the naive baseline face
// the same catalog and the same mix.
type Plan struct {
	RunID string
	Lives []string
	SKUs  []SKU
	Hot   []int // indexes of hot skus in SKUs
	Cold  []int
	Flash int // index of the sku that sells out early

	greedy int // buyers who keep buying one hot sku past their limit
	seed   uint64
	cfg    *Config
	skuIdx map[string]int
}

// SKU is one product on sale.
type SKU struct {
	ID    string
	Live  int // index in Plan.Lives
	Hot   bool
	Stock int
	Limit int
}

// Product settings of the run. Stock is plenty for every rate the tool
// allows, except on the flash sku, which is meant to sell out.
const (
	bigStock      = 100_000_000
	PerBuyerLimit = 3
	LowStock      = 10
	Price         = 1999
	Currency      = "JPY"
	GreedyBuyers  = 200
	// normalBuyers is large enough that a normal buyer meets their limit
	// only by the greedy share's design.
	normalBuyers = 5_000_000
)

// Random streams: each kind of operation draws from its own, so adding a
// viewer does not change what the buyers do.
const (
	StreamRead uint64 = iota + 1
	StreamPurchase
)

// Names of the operations in reports.
const (
	OpPurchase       = "purchase"
	OpPurchaseResent = "purchase, resent"
	OpReadEdge       = "read via edge"
	OpReadOrigin     = "read from origin"
	OpReadStatic     = "read from static server"
	OpEvent          = "stock event (SSE)"
)

// NewPlan lays out the catalog of a run.
func NewPlan(cfg *Config, runID string) *Plan {
	p := &Plan{RunID: runID, seed: cfg.Seed, cfg: cfg, greedy: GreedyBuyers, skuIdx: map[string]int{}}
	for l := range cfg.Lives {
		p.Lives = append(p.Lives, fmt.Sprintf("%s-L%03d", runID, l))
		for s := range cfg.SKUsPerLive {
			sku := SKU{ID: fmt.Sprintf("%s-L%03d-S%02d", runID, l, s), Live: l, Hot: s < cfg.HotSKUsPerLive, Stock: bigStock, Limit: PerBuyerLimit}
			if sku.Hot {
				p.Hot = append(p.Hot, len(p.SKUs))
			} else {
				p.Cold = append(p.Cold, len(p.SKUs))
			}
			p.skuIdx[sku.ID] = len(p.SKUs)
			p.SKUs = append(p.SKUs, sku)
		}
	}
	// The flash sku is the first live's last cold one: about 15 s worth of
	// its share at the standard rate, so it sells out within the first
	// quarter of the measured minute and the rest of its buyers meet
	// sold_out.
	p.Flash = p.Cold[0]
	p.SKUs[p.Flash].Stock = max(10, int(cfg.FlashShare*cfg.PurchaseRate*float64(cfg.Warmup+15*time.Second)/float64(time.Second)))
	return p
}

// Index returns the index of a sku of the plan.
func (p *Plan) Index(sku string) (int, bool) {
	i, ok := p.skuIdx[sku]
	return i, ok
}

// RNG returns the random source of one scheduled operation: operations are
// independent of each other and of the order goroutines run in.
func (p *Plan) RNG(stream, seq uint64) *rand.Rand {
	return rand.New(rand.NewPCG(p.seed^stream*0x9e3779b97f4a7c15, seq))
}

// ViewedSKU is the sku a viewer's read asks for.
func (p *Plan) ViewedSKU(r *rand.Rand) int {
	if r.Float64() < p.cfg.HotShare {
		return p.Hot[r.IntN(len(p.Hot))]
	}
	return p.Cold[r.IntN(len(p.Cold))]
}

// PurchaseKind is what one scheduled purchase does.
type PurchaseKind int

const (
	BuyNormal PurchaseKind = iota // a new buyer-ish purchase of a hot or cold sku
	BuyRetry                      // resend an earlier purchase with its key
	BuyGreedy                     // a greedy buyer buys their hot sku again
	BuyFlash                      // a purchase of the sku that sells out
)

// Purchase is one purchase to send.
type Purchase struct {
	Kind  PurchaseKind
	Buyer string
	SKU   int
}

// NextPurchase decides one scheduled purchase.
func (p *Plan) NextPurchase(r *rand.Rand) Purchase {
	x := r.Float64()
	c := p.cfg
	switch {
	case x < c.RetryShare:
		return Purchase{Kind: BuyRetry}
	case x < c.RetryShare+c.GreedyShare:
		g := r.IntN(p.greedy)
		return Purchase{Kind: BuyGreedy, Buyer: "greedy-" + strconv.Itoa(g), SKU: p.Hot[g%len(p.Hot)]}
	case x < c.RetryShare+c.GreedyShare+c.FlashShare:
		return Purchase{Kind: BuyFlash, Buyer: "buyer-" + strconv.Itoa(r.IntN(normalBuyers)), SKU: p.Flash}
	}
	sku := p.ViewedSKU(r)
	if sku == p.Flash {
		sku = p.Hot[r.IntN(len(p.Hot))]
	}
	return Purchase{Kind: BuyNormal, Buyer: "buyer-" + strconv.Itoa(r.IntN(normalBuyers)), SKU: sku}
}

// HotPurchase is a normal buyer's purchase of a hot sku: what a resend
// becomes when no purchase was confirmed yet to resend.
func (p *Plan) HotPurchase(r *rand.Rand) Purchase {
	return Purchase{Kind: BuyNormal, Buyer: "buyer-" + strconv.Itoa(r.IntN(normalBuyers)), SKU: p.Hot[r.IntN(len(p.Hot))]}
}

// ClientIP is the address a buyer or viewer appears to come from, in
// X-Forwarded-For: the origins and the feed limit requests per address,
// and a real audience comes from many.
func ClientIP(kind byte, n uint64) string {
	n %= 1 << 16
	return "10." + strconv.Itoa(int(kind)) + "." + strconv.Itoa(int(n>>8)) + "." + strconv.Itoa(int(n&0xff))
}
