// Package stockpub plays the origin for the feed benchmark: it publishes
// stock changes of lives made up for the run, the way the origin does, at
// a steady open-loop rate, and estimates how many events each viewer
// should then read given the feed's coalescing.
package stockpub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
)

// initialRemaining is every sku's stock at the start; each change takes
// one unit, so a run never reaches zero and every change is a plain count
// update, as most are during a live sale.
const initialRemaining = 1_000_000

// Publisher writes stock events for the lives made up for the run, the
// way the origin does: plain NATS publishes that the STOCK stream
// captures. Every live has the same skus.
type Publisher struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	Lives    []string
	SKUs     []string
	Versions [][]int64 // last published version per live, then per sku
}

// New connects to NATS for nLives fresh lives of nSKUs skus each.
func New(url string, nLives, nSKUs int) (*Publisher, error) {
	nc, err := nats.Connect(url, nats.Name("feedbench"), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	p := &Publisher{nc: nc, js: js, Lives: make([]string, nLives), SKUs: make([]string, nSKUs), Versions: make([][]int64, nLives)}
	for l := range p.Lives {
		if p.Lives[l], err = newLiveID(); err != nil {
			nc.Close()
			return nil, err
		}
		p.Versions[l] = make([]int64, nSKUs)
	}
	for i := range p.SKUs {
		p.SKUs[i] = fmt.Sprintf("sku-%03d", i)
	}
	return p, nil
}

// newLiveID names a live no earlier run used, so that the stream holds no
// history of it and runs cannot see each other's events.
func newLiveID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("live id: %w", err)
	}
	return "bench-" + hex.EncodeToString(b), nil
}

// Close closes the connection to NATS.
func (p *Publisher) Close() { p.nc.Close() }

// NATSVersion is the version of the NATS server.
func (p *Publisher) NATSVersion() string { return p.nc.ConnectedServerVersion() }

// SKUIndex maps each sku to its position.
func (p *Publisher) SKUIndex() map[string]int {
	m := make(map[string]int, len(p.SKUs))
	for i, s := range p.SKUs {
		m[s] = i
	}
	return m
}

// Seed stores version 1 of every sku of every live and waits for the
// stream to confirm each, so that the feed knows the lives before the
// first viewer asks.
func (p *Publisher) Seed(ctx context.Context) error {
	for l := range p.Lives {
		for i := range p.SKUs {
			body, err := p.next(l, i, time.Now())
			if err != nil {
				return err
			}
			if _, err := p.js.Publish(ctx, stock.Subject(p.Lives[l], p.SKUs[i]), body); err != nil {
				return fmt.Errorf("seed %s %s: %w", p.Lives[l], p.SKUs[i], err)
			}
		}
	}
	return nil
}

// next is the next change of sku i of live l, committed at `at`.
func (p *Publisher) next(l, i int, at time.Time) ([]byte, error) {
	p.Versions[l][i]++
	v := p.Versions[l][i]
	remaining := int64(initialRemaining) - v
	body, err := json.Marshal(stock.NewEvent(stock.Level{
		SKU: p.SKUs[i], LiveID: p.Lives[l], Remaining: remaining,
		Status: stock.StatusFor(remaining, 10), Version: v, UpdatedAt: at.UTC(),
	}))
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return body, nil
}

// Change is one change sent during the load.
type Change struct {
	At   time.Time
	Live int
	SKU  int
}

// Result is what the load sent.
type Result struct {
	Sent     []Change
	Wall     time.Duration // from the first change's schedule to the last one sent
	MaxSlip  time.Duration // the latest a change went out after its slot
	Rate     float64       // requested changes per second
	Achieved float64
}

// Load publishes rate changes a second for d, round robin over every
// (live, sku): the lives take turns, and each live goes through its skus
// in order. Each change is stamped with the moment it is sent: updated_at is the clock the
// viewers measure lag against. Pacing is open loop: change k is due at
// start + k/rate whatever happened to the ones before, so a stall shows up
// as slip and a burst, not as a lower rate that hides it.
func (p *Publisher) Load(ctx context.Context, rate float64, d time.Duration) (Result, error) {
	n := int(rate * d.Seconds())
	res := Result{Rate: rate, Sent: make([]Change, 0, n)}
	interval := time.Duration(float64(time.Second) / rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	start := time.Now()
	for k := range n {
		due := start.Add(time.Duration(k) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-timer.C:
			}
		}
		now := time.Now()
		res.MaxSlip = max(res.MaxSlip, now.Sub(due))
		l, i := k%len(p.Lives), k/len(p.Lives)%len(p.SKUs)
		body, err := p.next(l, i, now)
		if err != nil {
			return res, err
		}
		if err := p.nc.Publish(stock.Subject(p.Lives[l], p.SKUs[i]), body); err != nil {
			return res, fmt.Errorf("publish change %d: %w", k, err)
		}
		res.Sent = append(res.Sent, Change{now, l, i})
	}
	if err := p.nc.FlushTimeout(5 * time.Second); err != nil {
		return res, fmt.Errorf("flush changes: %w", err)
	}
	res.Wall = time.Since(start)
	if n > 1 {
		// n changes span n-1 intervals.
		res.Achieved = float64(n-1) / res.Sent[n-1].At.Sub(start).Seconds()
	}
	return res, nil
}

// Purge removes the run's lives from the STOCK stream. It takes its own
// deadlines: it runs on the way out, also after an interrupt.
func (p *Publisher) Purge() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := p.js.Stream(ctx, stockstream.Name)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	var errs []error
	for _, live := range p.Lives {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(stock.SubjectPrefix+"."+live+".>")); err != nil {
			errs = append(errs, fmt.Errorf("purge %s: %w", live, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// ExpectedPerLive is ExpectedEvents for each live's share of the changes.
func ExpectedPerLive(sent []Change, lives int, window time.Duration) []int {
	byLive := make([][]Change, lives)
	for _, c := range sent {
		byLive[c.Live] = append(byLive[c.Live], c)
	}
	out := make([]int, lives)
	for l, s := range byLive {
		out[l] = ExpectedEvents(s, window)
	}
	return out
}

// ExpectedEvents is how many stock events a viewer should read for the
// changes sent, if the feed coalesces as its hub does: a change after a
// quiet spell (a window or more since the last flush) goes out at once;
// one during a burst waits for the next flush, at most one per window,
// which sends each sku changed since the last flush once. sent is one
// live's changes: each live coalesces on its own. The feed sees
// each change a little after it was sent; the count assumes that delay is
// the same for every change, so it is an estimate, close but not exact.
func ExpectedEvents(sent []Change, window time.Duration) int {
	total := 0
	pending := map[int]bool{}
	var lastFlush, flushAt time.Time
	armed := false
	flush := func(at time.Time) {
		total += len(pending)
		clear(pending)
		lastFlush, armed = at, false
	}
	for k, c := range sent {
		if armed && !c.At.Before(flushAt) {
			flush(flushAt)
		}
		pending[c.SKU] = true
		switch {
		case armed:
		case k == 0 || c.At.Sub(lastFlush) >= window:
			flush(c.At)
		default:
			armed, flushAt = true, lastFlush.Add(window)
		}
	}
	return total + len(pending)
}
