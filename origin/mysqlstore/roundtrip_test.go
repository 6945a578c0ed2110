package mysqlstore_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"

	"livecommerce/internal/depguard"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/origintest"
	"livecommerce/origin/shop"
)

// queryCounter is a TCP proxy in front of MySQL that counts the statements
// packets (COM_QUERY) clients send: one per round trip.
type queryCounter struct {
	ln      net.Listener
	target  string
	queries atomic.Int64
	mu      sync.Mutex
	texts   []string
}

func startQueryCounter(t *testing.T, target string) *queryCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	q := &queryCounter{ln: ln, target: target}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			conns.Store(client, nil)
			conns.Store(server, nil)
			wg.Add(2)
			go func() {
				defer wg.Done()
				io.Copy(client, server)
				client.Close()
			}()
			go func() {
				defer wg.Done()
				defer server.Close()
				r := bufio.NewReader(client)
				for {
					hdr := make([]byte, 4)
					if _, err := io.ReadFull(r, hdr); err != nil {
						return
					}
					body := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
					if _, err := io.ReadFull(r, body); err != nil {
						return
					}
					if len(body) > 0 && body[0] == 0x03 {
						q.queries.Add(1)
						q.mu.Lock()
						q.texts = append(q.texts, string(body[1:]))
						q.mu.Unlock()
					}
					if _, err := server.Write(append(hdr, body...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return q
}

func (q *queryCounter) since(n int) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.texts[n:]...)
}

func (q *queryCounter) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.texts)
}

// An order batch costs two round trips to the database whatever its size
// and however many skus it spans: at a few orders per batch, round trips
// are what a purchase costs the database and the origin.
func TestCommitOrdersTakesTwoRoundTrips(t *testing.T) {
	t.Parallel()
	dsn := origintest.Database(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	counter := startQueryCounter(t, cfg.Addr)
	cfg.Addr = counter.ln.Addr().String()
	s, err := mysqlstore.Open(context.Background(), cfg.FormatDSN(), 1, depguard.New("mysql", depguard.Settings{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m, _ := merchant(t, s)
	live(t, s, m, "L1")
	upsert(t, s, m, "L1", product("A", 10, 5), product("B", 10, 5), product("C", 1, 1))

	for _, tc := range []struct {
		name string
		reqs []shop.OrderRequest
		want []shop.Verdict
	}{
		{"one order", []shop.OrderRequest{order("b1", "k1", "A", 1, 1)}, []shop.Verdict{shop.Committed}},
		{"five orders on three skus, one refused", []shop.OrderRequest{
			order("b1", "k2", "A", 1, 2), order("b2", "k1", "B", 2, 2), order("b3", "k1", "C", 1, 2),
			order("b4", "k1", "C", 1, 3), order("b5", "k1", "A", 3, 3),
		}, []shop.Verdict{shop.Committed, shop.Committed, shop.Committed, shop.RejectedSoldOut, shop.Committed}},
	} {
		before := counter.count()
		res := commit(t, s, tc.reqs...)
		for i, r := range res {
			if r.Verdict != tc.want[i] {
				t.Errorf("%s: order %d = %v, want %v", tc.name, i, r.Verdict, tc.want[i])
			}
		}
		sent := counter.since(before)
		if len(sent) != 2 {
			t.Errorf("%s: %d round trips, want 2:\n%s", tc.name, len(sent), strings.Join(sent, "\n"))
			continue
		}
		if !strings.HasPrefix(sent[0], "START TRANSACTION;") || !strings.HasSuffix(sent[1], "; COMMIT") {
			t.Errorf("%s: round trips\n%s\nwant the transaction's start and reads, then its writes and COMMIT", tc.name, strings.Join(sent, "\n"))
		}
	}
	for sku, want := range map[string]int64{"A": 5, "B": 2, "C": 1} {
		if counter, ordered := sold(t, s, sku); counter != want || ordered != want {
			t.Errorf("%s: sold %d, orders %d; want %d and %d", sku, counter, ordered, want, want)
		}
	}

	// A write round trip the server refuses part-way (a key Redis forgot,
	// so the INSERT hits the unique key after the UPDATE ran) commits
	// nothing, and leaves no transaction open on the pool's only
	// connection: the retry that follows would otherwise wait on its own
	// locks.
	res := commit(t, s, order("b1", "k1", "A", 1, 4), order("b6", "k1", "A", 1, 4))
	if res[0].Verdict != shop.Duplicate || res[1].Verdict != shop.Committed {
		t.Fatalf("batch with a forgotten key: %v, want Duplicate then Committed", verdicts(res))
	}
	if counter, ordered := sold(t, s, "A"); counter != 6 || ordered != 6 {
		t.Errorf("A after the retried batch: sold %d, orders %d; want 6 and 6", counter, ordered)
	}
}
