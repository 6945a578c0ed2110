package lanes

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livecommerce/loadtest/opstats"
)

// laneGet is a complete request as the operations write them.
var laneGet = []byte("GET /thing HTTP/1.1\r\nHost: test\r\nUser-Agent: livecommerce-loadgen\r\n\r\n")

// countingServer is an HTTP server that counts the connections it
// accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = &atomic.Int64{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

// rawServer accepts connections and hands each, after reading one
// request's head, to answer; it closes them when answer returns.
func rawServer(t *testing.T, answer func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				answer(c)
			})
		}
	})
	return ln.Addr().String()
}

func TestLaneReadsAnswerAndReusesConnection(t *testing.T) {
	addr, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "hello "+r.Header.Get("User-Agent"))
	})
	l := &Lane{addr: addr, timeout: 5 * time.Second}
	defer l.close()
	for i := range 3 {
		a := l.Do(laneGet)
		if a.Fail != "" {
			t.Fatalf("request %d: failed with %s", i, a.Fail)
		}
		if a.Status != http.StatusTeapot || string(a.Body) != "hello livecommerce-loadgen" || a.Header.Get("X-Path") != "/thing" {
			t.Errorf("request %d: got %d %q %v, want 418 with the server's body and header", i, a.Status, a.Body, a.Header)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("connections: got %d, want 1 reused", got)
	}
}

func TestLaneReconnectsAfterConnectionClose(t *testing.T) {
	addr, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	l := &Lane{addr: addr, timeout: 5 * time.Second}
	defer l.close()
	for i := range 2 {
		a := l.Do(laneGet)
		if a.Fail != "" || a.Status != http.StatusOK || string(a.Body) != "bye" {
			t.Fatalf("request %d: got %d %q %q, want 200 bye", i, a.Status, a.Body, a.Fail)
		}
		if l.conn != nil {
			t.Errorf("request %d: the lane kept a connection the server closed", i)
		}
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("connections: got %d, want 2", got)
	}
}

// TestLaneFailures: a server that never answers, answers garbage or is
// not there fails the request with its code, and the lane keeps no
// connection.
func TestLaneFailures(t *testing.T) {
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	tests := []struct {
		name    string
		addr    func(t *testing.T) string
		timeout time.Duration
		want    string
	}{
		{"no answer", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				io.Copy(io.Discard, c) // never answer; return when the lane hangs up
			})
		}, 200 * time.Millisecond, opstats.CodeTimeout},
		{"garbage", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				io.WriteString(c, "garbage\r\n\r\n")
			})
		}, 5 * time.Second, opstats.CodeConnection},
		{"refused", refused, 5 * time.Second, opstats.CodeConnection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &Lane{addr: tc.addr(t), timeout: tc.timeout}
			defer l.close()
			if a := l.Do(laneGet); a.Fail != tc.want {
				t.Errorf("got %+v, want Fail %s", a, tc.want)
			}
			if l.conn != nil {
				t.Error("the lane kept the connection that failed")
			}
		})
	}
}

func TestLaneBoundsTheAnswer(t *testing.T) {
	addr, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		io.WriteString(w, strings.Repeat("x", n))
	})
	get := func(n int) []byte {
		return []byte("GET /?n=" + strconv.Itoa(n) + " HTTP/1.1\r\nHost: test\r\n\r\n")
	}
	l := &Lane{addr: addr, timeout: 5 * time.Second}
	defer l.close()
	if a := l.Do(get(maxAnswer)); a.Fail != "" || a.Status != http.StatusOK || len(a.Body) != maxAnswer {
		t.Errorf("an answer of %d bytes: got %d, %d bytes, %q; want it whole", maxAnswer, a.Status, len(a.Body), a.Fail)
	}
	if a := l.Do(get(maxAnswer + 1)); a.Fail != opstats.CodeBadResponse {
		t.Errorf("an answer of %d bytes: got Fail %q, want %s", maxAnswer+1, a.Fail, opstats.CodeBadResponse)
	}
	if l.conn != nil {
		t.Error("the lane kept the connection with an unread answer on it")
	}
	if a := l.Do(get(2)); a.Fail != "" || string(a.Body) != "xx" {
		t.Errorf("after the oversized answer: got %q %q, want xx", a.Body, a.Fail)
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("connections: got %d, want 2", got)
	}
}

func TestNewRefusesBadBase(t *testing.T) {
	for _, base := range []string{"", "127.0.0.1:80", "http://", "://x"} {
		if _, err := New(base, 1, 1, time.Second); err == nil {
			t.Errorf("New(%q): got no error", base)
		}
	}
	if _, err := New("http://127.0.0.1:1", 0, 1, time.Second); err == nil {
		t.Error("New with no lanes: got no error")
	}
}

func TestLanesRunEveryJobOnItsLane(t *testing.T) {
	addr, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	const jobs = 30
	// Queues long enough for every job: each lands on lane seq mod 3.
	ls, err := New("http://"+addr, 3, jobs, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ran := map[int64]*Lane{}
	statuses := map[int64]int{}
	run := func(l *Lane, seq int64, due time.Time) {
		time.Sleep(time.Millisecond)
		a := l.Do(laneGet)
		mu.Lock()
		defer mu.Unlock()
		ran[seq], statuses[seq] = l, a.Status
	}
	for seq := range int64(jobs) {
		if !ls.Submit(Job{Pick: seq, Seq: seq, Due: time.Now(), Run: run}) {
			t.Fatalf("Submit %d: got false", seq)
		}
	}
	ls.Close()
	ls.Close() // again: nothing more to do
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != jobs {
		t.Fatalf("jobs run before close returned: got %d, want %d", len(ran), jobs)
	}
	for seq, l := range ran {
		if want := ls.lanes[seq%3]; l != want {
			t.Errorf("job %d ran on another lane than seq mod 3", seq)
		}
		if statuses[seq] != http.StatusOK {
			t.Errorf("job %d: got status %d, want 200", seq, statuses[seq])
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("connections: got %d, want one per lane", got)
	}
	for i, l := range ls.lanes {
		if l.conn != nil {
			t.Errorf("lane %d: connection still open after close", i)
		}
	}
}

func TestLanesSubmitNeverBlocks(t *testing.T) {
	ls, err := New("http://127.0.0.1:1", 2, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan *Lane, 2), make(chan struct{})
	var mu sync.Mutex
	ranOn := map[int64]*Lane{}
	block := func(l *Lane, seq int64, _ time.Time) {
		mu.Lock()
		ranOn[seq] = l
		mu.Unlock()
		started <- l
		<-release
	}
	// Jobs 0 and 1 keep both lanes busy.
	for seq := range int64(2) {
		if !ls.Submit(Job{Pick: seq, Seq: seq, Run: block}) {
			t.Fatalf("Submit %d: got false", seq)
		}
	}
	<-started
	<-started
	// Job 2 belongs to lane 0; job 4 too, but lane 0's one-job queue is
	// full, so it takes lane 1's place.
	for seq := int64(2); seq <= 4; seq += 2 {
		if !ls.Submit(Job{Pick: seq, Seq: seq, Run: block}) {
			t.Fatalf("Submit %d: got false", seq)
		}
	}
	// Every queue is full: the next job is refused at once.
	if ls.Submit(Job{Pick: 6, Seq: 6, Run: block}) {
		t.Error("Submit with every queue full: got true")
	}
	close(release)
	ls.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(ranOn) != 4 {
		t.Fatalf("jobs run: got %d, want 4", len(ranOn))
	}
	if ranOn[2] != ls.lanes[0] || ranOn[4] != ls.lanes[1] {
		t.Error("job 2 did not run on lane 0, or job 4 on lane 1 where there was room")
	}
}
