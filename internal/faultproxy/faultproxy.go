// Package faultproxy is a TCP proxy for integration tests that need a real
// dependency (MySQL, Redis, NATS) to fail mid-run over real connections.
//
// Point the client at Proxy.Addr instead of the dependency, then switch the
// proxy between three modes:
//
//   - forwarding (the start and Restore): bytes flow both ways;
//   - Cut: every connection is closed at once and new ones are closed as
//     soon as they are accepted, like a process that died or a port that
//     refuses; clients see errors immediately;
//   - Blackhole: nothing is forwarded in either direction and nobody is told,
//     like a partition or a hung server; clients see only their own
//     timeouts. Connections opened meanwhile are accepted and held.
//
// Restore after Blackhole lets held bytes and held connections through, the
// way a healed partition does; after Cut there is nothing left to resume.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds how long a new connection waits for the target.
const dialTimeout = 5 * time.Second

type mode int

const (
	forwarding mode = iota
	cut
	blackhole
)

// Proxy forwards TCP connections from Addr to a target and injects faults.
// Its methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	cancel context.CancelFunc // abandons pending dials on Close
	wg     sync.WaitGroup

	mu     sync.Mutex
	mode   mode
	closed bool
	// changed is closed and replaced whenever mode or closed changes, to
	// wake goroutines waiting out a blackhole.
	changed chan struct{}
	// conns holds every open connection, client and target side, so Cut
	// and Close can end them all.
	conns map[net.Conn]struct{}
}

// Start listens on 127.0.0.1 on a free port and forwards every connection to
// target (host:port). The target is dialled per connection, not now, so it
// may come up later.
func Start(target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target:  target,
		ln:      ln,
		cancel:  cancel,
		changed: make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop(ctx)
	return p, nil
}

// Addr is the host:port clients should connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every current connection and closes new ones as soon as they
// are accepted, until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.setModeLocked(cut)
	p.closeAllLocked()
}

// Blackhole stops forwarding in both directions without closing anything,
// until Restore or Cut. New connections are accepted but not forwarded.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.setModeLocked(blackhole)
}

// Restore resumes forwarding.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.setModeLocked(forwarding)
}

// Close stops listening, closes every connection and waits for all of the
// proxy's goroutines to finish. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.wakeLocked()
	p.closeAllLocked()
	p.mu.Unlock()

	p.cancel()
	err := p.ln.Close()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultproxy: close listener: %w", err)
	}
	return nil
}

func (p *Proxy) setModeLocked(m mode) {
	if p.mode == m {
		return
	}
	p.mode = m
	p.wakeLocked()
}

func (p *Proxy) wakeLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) closeAllLocked() {
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// track registers c as open. It refuses, and closes c, when the proxy is
// closed or cut, so no connection slips past a Cut that raced with it.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == cut {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// tracked reports whether c is still open, i.e. no Cut or Close ended it.
func (p *Proxy) tracked(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.conns[c]
	return ok
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// waitForwarding blocks while the proxy is blackholed. It returns true once
// bytes may flow, false when the connection should be dropped instead.
func (p *Proxy) waitForwarding() bool {
	for {
		p.mu.Lock()
		m, closed, changed := p.mode, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed || m == cut:
			return false
		case m == forwarding:
			return true
		}
		<-changed
	}
}

func (p *Proxy) acceptLoop(ctx context.Context) {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (EMFILE and the like): back off rather
			// than spin, and keep serving.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		// Added under mu, after the closed check, so Close's Wait never
		// races with a new Add.
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(ctx, c)
	}
}

// serve connects one client to the target once forwarding is allowed.
func (p *Proxy) serve(ctx context.Context, client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)

	// A connection accepted during a blackhole is held, unanswered, until
	// the proxy is restored: the target must not see it before then.
	if !p.waitForwarding() {
		return
	}
	d := net.Dialer{Timeout: dialTimeout}
	server, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return // the client sees its connection closed, as with a dead target
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	if !p.tracked(client) {
		return // cut while dialling
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
}

// pipe copies src to dst, holding data back during a blackhole. On EOF it
// half-closes dst so protocols that shut down their write side still work;
// on any other failure it closes both, which ends the opposite pipe too.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if !p.waitForwarding() {
				closeBoth(dst, src)
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				closeBoth(dst, src)
				return
			}
		}
		if rerr == nil {
			continue
		}
		// Even the end of a stream is news the far side must not get
		// during a blackhole.
		if !p.waitForwarding() || !errors.Is(rerr, io.EOF) {
			closeBoth(dst, src)
			return
		}
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
			return
		}
		closeBoth(dst, src)
		return
	}
}

func closeBoth(a, b net.Conn) {
	a.Close()
	b.Close()
}
