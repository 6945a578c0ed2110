package main

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
	RunID  string
	Lives  []string
	SKUs   []SKU
	hot    []int // indexes of hot skus in SKUs
	cold   []int
	flash  int // index of the sku that sells out early
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
	perBuyerLimit = 3
	lowStock      = 10
	price         = 1999
	greedyBuyers  = 200
	// normalBuyers is large enough that a normal buyer meets their limit
	// only by the greedy share's design.
	normalBuyers = 5_000_000
)

// NewPlan lays out the catalog of a run.
func NewPlan(cfg *Config, runID string) *Plan {
	p := &Plan{RunID: runID, seed: cfg.Seed, cfg: cfg, greedy: greedyBuyers, skuIdx: map[string]int{}}
	for l := range cfg.Lives {
		p.Lives = append(p.Lives, fmt.Sprintf("%s-L%03d", runID, l))
		for s := range cfg.SKUsPerLive {
			sku := SKU{ID: fmt.Sprintf("%s-L%03d-S%02d", runID, l, s), Live: l, Hot: s < cfg.HotSKUsPerLive, Stock: bigStock, Limit: perBuyerLimit}
			if sku.Hot {
				p.hot = append(p.hot, len(p.SKUs))
			} else {
				p.cold = append(p.cold, len(p.SKUs))
			}
			p.skuIdx[sku.ID] = len(p.SKUs)
			p.SKUs = append(p.SKUs, sku)
		}
	}
	// The flash sku is the first live's last cold one: about 15 s worth of
	// its share at the standard rate, so it sells out within the first
	// quarter of the measured minute and the rest of its buyers meet
	// sold_out.
	p.flash = p.cold[0]
	p.SKUs[p.flash].Stock = max(10, int(cfg.FlashShare*cfg.PurchaseRate*float64(cfg.Warmup+15*time.Second)/float64(time.Second)))
	return p
}

// Index returns the index of a sku of the plan.
func (p *Plan) Index(sku string) (int, bool) {
	i, ok := p.skuIdx[sku]
	return i, ok
}

// rng returns the random source of one scheduled operation: operations are
// independent of each other and of the order goroutines run in.
func (p *Plan) rng(stream, seq uint64) *rand.Rand {
	return rand.New(rand.NewPCG(p.seed^stream*0x9e3779b97f4a7c15, seq))
}

// viewedSKU is the sku a viewer's read asks for.
func (p *Plan) viewedSKU(r *rand.Rand) int {
	if r.Float64() < p.cfg.HotShare {
		return p.hot[r.IntN(len(p.hot))]
	}
	return p.cold[r.IntN(len(p.cold))]
}

// purchaseKind is what one scheduled purchase does.
type purchaseKind int

const (
	buyNormal purchaseKind = iota // a new buyer-ish purchase of a hot or cold sku
	buyRetry                      // resend an earlier purchase with its key
	buyGreedy                     // a greedy buyer buys their hot sku again
	buyFlash                      // a purchase of the sku that sells out
)

// purchaseOrder is one purchase to send.
type purchaseOrder struct {
	Kind  purchaseKind
	Buyer string
	SKU   int
}

// nextPurchase decides purchase seq.
func (p *Plan) nextPurchase(r *rand.Rand) purchaseOrder {
	x := r.Float64()
	c := p.cfg
	switch {
	case x < c.RetryShare:
		return purchaseOrder{Kind: buyRetry}
	case x < c.RetryShare+c.GreedyShare:
		g := r.IntN(p.greedy)
		return purchaseOrder{Kind: buyGreedy, Buyer: "greedy-" + strconv.Itoa(g), SKU: p.hot[g%len(p.hot)]}
	case x < c.RetryShare+c.GreedyShare+c.FlashShare:
		return purchaseOrder{Kind: buyFlash, Buyer: "buyer-" + strconv.Itoa(r.IntN(normalBuyers)), SKU: p.flash}
	}
	sku := p.viewedSKU(r)
	if sku == p.flash {
		sku = p.hot[r.IntN(len(p.hot))]
	}
	return purchaseOrder{Kind: buyNormal, Buyer: "buyer-" + strconv.Itoa(r.IntN(normalBuyers)), SKU: sku}
}

// clientIP is the address a buyer or viewer appears to come from, in
// X-Forwarded-For: the origins and the feed limit requests per address,
// and a real audience comes from many.
func clientIP(kind byte, n uint64) string {
	n %= 1 << 16
	return "10." + strconv.Itoa(int(kind)) + "." + strconv.Itoa(int(n>>8)) + "." + strconv.Itoa(int(n&0xff))
}
