package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer is a real TCP server that writes back whatever it reads and
// closes its side once the client has finished sending.
type echoServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("echo listen: %v", err)
	}
	e := &echoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(e.close)
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) close() {
	e.ln.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Start(target)
	if err != nil {
		t.Fatalf("Start(%q): %v", target, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg and expects it echoed back within two seconds.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	expectRead(t, c, msg)
}

// expectRead reads len(want) bytes within two seconds.
func expectRead(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo of %q: %v", want, err)
	}
	if string(got) != want {
		t.Fatalf("echo: got %q, want %q", got, want)
	}
}

// expectClosed fails unless c is closed by the far end promptly: a read
// must end with EOF or a reset, not with our own deadline.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // bytes already in flight before the cut
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: got timeout, want the connection closed")
		}
		return
	}
}

// expectSilent fails unless a read on c gets nothing for d: the peer
// neither answers nor hangs up.
func expectSilent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during blackhole: got (%d bytes %q, %v), want a timeout", n, buf[:n], err)
	}
}

func TestStartRejectsBadTarget(t *testing.T) {
	for _, target := range []string{"", "localhost", "127.0.0.1", "a:b:c", "[::1"} {
		if p, err := Start(target); err == nil {
			p.Close()
			t.Errorf("Start(%q): got nil error, want one", target)
		}
	}
}

func TestAddrIsLoopback(t *testing.T) {
	p := startProxy(t, startEcho(t).addr())
	host, port, err := net.SplitHostPort(p.Addr())
	if err != nil {
		t.Fatalf("Addr %q: %v", p.Addr(), err)
	}
	if host != "127.0.0.1" || port == "0" {
		t.Errorf("Addr: got %s, want 127.0.0.1 and a real port", p.Addr())
	}
}

func TestForward(t *testing.T) {
	p := startProxy(t, startEcho(t).addr())
	var wg sync.WaitGroup
	for i := range 5 {
		c := dial(t, p.Addr())
		wg.Go(func() {
			for j := range 20 {
				msg := string(rune('a'+i)) + string(rune('A'+j))
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				got := make([]byte, len(msg))
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
					t.Errorf("conn %d message %d: got (%q, %v), want %q", i, j, got, err, msg)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestForwardLargePayload(t *testing.T) {
	p := startProxy(t, startEcho(t).addr())
	c := dial(t, p.Addr())
	payload := make([]byte, 4<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	writeErr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		writeErr <- err
	}()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read 4 MiB back: %v", err)
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write 4 MiB: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("4 MiB payload came back altered")
	}
}

func TestHalfClose(t *testing.T) {
	p := startProxy(t, startEcho(t).addr())
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("last words")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read after half-close: %v", err)
	}
	if string(got) != "last words" {
		t.Errorf("after half-close: got %q, want %q", got, "last words")
	}
}

func TestCutAndRestore(t *testing.T) {
	echo := startEcho(t)
	p := startProxy(t, echo.addr())
	old := dial(t, p.Addr())
	roundTrip(t, old, "before")

	p.Cut()
	expectClosed(t, old)

	// New connections reach the listener and are closed straight away.
	for range 3 {
		expectClosed(t, dial(t, p.Addr()))
	}

	p.Restore()
	c := dial(t, p.Addr())
	roundTrip(t, c, "after")
	// The connection ended by the cut stays ended.
	if _, err := old.Write([]byte("x")); err == nil {
		expectClosed(t, old)
	}
	if got := echo.accepted.Load(); got != 2 {
		t.Errorf("connections that reached the target: got %d, want 2 (none while cut)", got)
	}
}

func TestBlackholeAndRestore(t *testing.T) {
	echo := startEcho(t)
	p := startProxy(t, echo.addr())
	a := dial(t, p.Addr())
	roundTrip(t, a, "warm")

	p.Blackhole()
	// Existing connections stall: the write is taken, nothing comes back.
	if _, err := a.Write([]byte("held")); err != nil {
		t.Fatalf("write during blackhole: %v", err)
	}
	expectSilent(t, a, 300*time.Millisecond)

	// New connections are accepted but never reach the target.
	b := dial(t, p.Addr())
	if _, err := b.Write([]byte("queued")); err != nil {
		t.Fatalf("write on a new connection during blackhole: %v", err)
	}
	expectSilent(t, b, 300*time.Millisecond)
	if got := echo.accepted.Load(); got != 1 {
		t.Errorf("connections that reached the target during blackhole: got %d, want 1", got)
	}

	// Restoring delivers what was held, like a healed partition.
	p.Restore()
	expectRead(t, a, "held")
	expectRead(t, b, "queued")
	roundTrip(t, a, "again")
	roundTrip(t, b, "again")
}

func TestBlackholeThenCut(t *testing.T) {
	p := startProxy(t, startEcho(t).addr())
	a := dial(t, p.Addr())
	roundTrip(t, a, "warm")
	p.Blackhole()
	a.Write([]byte("lost"))
	b := dial(t, p.Addr())
	expectSilent(t, b, 100*time.Millisecond)

	p.Cut()
	expectClosed(t, a)
	expectClosed(t, b)
	p.Restore()
	roundTrip(t, dial(t, p.Addr()), "fresh")
}

func TestRestoreWhenForwardingIsHarmless(t *testing.T) {
	p := startProxy(t, startEcho(t).addr())
	c := dial(t, p.Addr())
	p.Restore()
	p.Restore()
	roundTrip(t, c, "still fine")
}

func TestTargetDown(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	target := ln.Addr().String()
	ln.Close()

	p := startProxy(t, target)
	expectClosed(t, dial(t, p.Addr()))
}

func TestCloseLeaksNothing(t *testing.T) {
	echo := startEcho(t)
	before := runtime.NumGoroutine()

	p, err := Start(echo.addr())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	// Leave the proxy in its busiest state: live links, a stalled link with
	// data held, and connections accepted during a blackhole.
	var clients []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		clients = append(clients, c)
		roundTrip(t, c, "hi")
	}
	p.Blackhole()
	clients[0].Write([]byte("stuck"))
	for range 3 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		clients = append(clients, c)
	}
	time.Sleep(50 * time.Millisecond) // let the proxy accept them

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	for _, c := range clients {
		expectClosed(t, c)
		c.Close()
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("dial after Close: got a connection, want refused")
	}
	// Mode changes after Close are no-ops, not panics.
	p.Cut()
	p.Blackhole()
	p.Restore()

	waitGoroutines(t, before)
}

// waitGoroutines waits for the goroutine count to fall back to want. The
// echo server's per-connection goroutines end asynchronously once the proxy
// has closed its side, hence the polling.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: got %d, want <= %d\n%s", got, want, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentModeChanges(t *testing.T) {
	echo := startEcho(t)
	before := runtime.NumGoroutine()
	p, err := Start(echo.addr())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		modes := []func(){p.Cut, p.Blackhole, p.Restore, p.Restore}
		for {
			select {
			case <-stop:
				return
			default:
			}
			modes[rand.IntN(len(modes))]()
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		}
	})
	for range 6 {
		wg.Go(func() {
			buf := make([]byte, 16)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(20 * time.Millisecond))
				for range 5 {
					if _, err := c.Write([]byte("ping")); err != nil {
						break
					}
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
				c.Close()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	p.Restore()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dial after the storm: %v", err)
	}
	roundTrip(t, c, "survived")
	c.Close()

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitGoroutines(t, before)
}
