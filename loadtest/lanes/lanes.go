// Package lanes holds a load test's connections: a fixed set of
// keep-alive connections per server, each owned by one goroutine that
// sends the requests assigned to it one after another.
package lanes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"

	"livecommerce/loadtest/opstats"
)

// Lane is one keep-alive connection to a server with the goroutine that
// owns it: requests assigned to the lane are sent one after another, as a
// browser tab or a CDN's connection to the origin would. The run holds a
// fixed set of lanes per server, like wrk2's connections, for two reasons.
// A request that finds its lane busy waits, and the wait counts in its
// latency (it is measured from the due time), so the schedule stays
// open-loop; and the servers see a steady set of connections instead of
// a connection per request under load, which is what a real edge in
// front of them does. Writing the request by hand and reading the answer
// with net/http's parser costs the tool a fraction of what a pooled
// client costs per request: the tool shares two cores with everything it
// measures.
type Lane struct {
	addr    string // host:port
	timeout time.Duration
	conn    net.Conn
	lr      io.LimitedReader // under br: bounds what one answer may send, headers included
	br      *bufio.Reader
	jobs    chan Job
	body    []byte // the last answer's body, reused
}

// Job is one operation assigned to a lane.
type Job struct {
	Pick int64 // picks the lane: Pick mod the number of lanes
	Seq  int64 // the operation's number in its schedule
	Due  time.Time
	Run  func(l *Lane, seq int64, due time.Time)
	// Drop records the job as given up without sending it: it waited in
	// the queue past twice the timeout, as a client would have given up.
	// This also bounds how long a stuck server keeps the run from ending.
	Drop func(seq int64, due time.Time)
}

// maxAnswer bounds the body of one answer.
const maxAnswer = 1 << 20

// Answer is a server's reply as the operations need it.
type Answer struct {
	Retried bool // the first attempt's connection broke before an answer
	Status  int
	Header  http.Header
	Body    []byte // valid until the lane's next request
	// Fail is the outcome code when there was no answer to read:
	// opstats.CodeTimeout, CodeConnection or CodeBadResponse.
	Fail string
}

// Set is the lanes to one server for one kind of operation.
type Set struct {
	lanes     []*Lane
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts n lanes to base (http://host:port), each queueing at most
// queue jobs.
func New(base string, n, queue int, timeout time.Duration) (*Set, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("lanes: bad base URL %q", base)
	}
	if n < 1 {
		return nil, fmt.Errorf("lanes: %d lanes to %s, want at least 1", n, base)
	}
	ls := &Set{}
	for range n {
		l := &Lane{addr: u.Host, timeout: timeout, jobs: make(chan Job, max(queue, 1))}
		ls.lanes = append(ls.lanes, l)
		ls.wg.Go(func() {
			for j := range l.jobs {
				if j.Drop != nil && time.Since(j.Due) > 2*l.timeout {
					j.Drop(j.Seq, j.Due)
					continue
				}
				j.Run(l, j.Seq, j.Due)
			}
			l.close()
		})
	}
	return ls, nil
}

// Submit queues a job on lane Pick mod n, or on the next lane with room.
// It never blocks, so one stuck server cannot stall the sender and with it
// every other kind of load: when every lane's queue is full it returns
// false, and the operation counts as not sent (an error of the run).
func (ls *Set) Submit(j Job) bool {
	n := len(ls.lanes)
	first := int(j.Pick % int64(n))
	for i := range n {
		select {
		case ls.lanes[(first+i)%n].jobs <- j:
			return true
		default:
		}
	}
	return false
}

// Close lets every lane finish its queue, then closes the connections.
// Calling it again does nothing.
func (ls *Set) Close() {
	ls.closeOnce.Do(func() {
		for _, l := range ls.lanes {
			close(l.jobs)
		}
	})
	ls.wg.Wait()
}

func (l *Lane) close() {
	if l.conn != nil {
		l.conn.Close()
		l.conn, l.br = nil, nil
	}
}

// Addr is the host:port the lane connects to.
func (l *Lane) Addr() string { return l.addr }

// Do sends one request (complete bytes, ending in the body) and reads the
// answer. Any failure closes the connection; the next request opens a new
// one. A kept-alive connection the server closed while idle fails before
// any byte of an answer arrives; then the request goes once more on a new
// connection, as browsers do (a purchase carries its idempotency key, so
// sending it twice sells nothing twice).
func (l *Lane) Do(req []byte) Answer {
	reused := l.conn != nil
	a, idleClosed := l.try(req)
	if idleClosed && reused {
		a, _ = l.try(req)
		a.Retried = true
	}
	return a
}

// try is one attempt; idleClosed reports a connection that ended before
// the answer's first byte.
func (l *Lane) try(req []byte) (a Answer, idleClosed bool) {
	if l.conn == nil {
		c, err := net.DialTimeout("tcp", l.addr, l.timeout)
		if err != nil {
			return Answer{Fail: failCode(err)}, false
		}
		l.conn, l.lr = c, io.LimitedReader{R: c}
		l.br = bufio.NewReaderSize(&l.lr, 8<<10)
	}
	// A server that sends headers without end runs into the limit, an
	// error, instead of the tool's memory.
	l.lr.N = maxAnswer + 64<<10
	if err := l.conn.SetDeadline(time.Now().Add(l.timeout)); err != nil {
		l.close()
		return Answer{Fail: opstats.CodeConnection}, false
	}
	if _, err := l.conn.Write(req); err != nil {
		l.close()
		return Answer{Fail: failCode(err)}, !isTimeout(err)
	}
	resp, err := http.ReadResponse(l.br, nil)
	if err != nil {
		l.close()
		return Answer{Fail: failCode(err)}, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	}
	// The body reuses the last one's bytes.
	buf := bytes.NewBuffer(l.body[:0])
	// The answers the tool reads are small; a larger one is a broken
	// server: read no further, and drop the connection with the rest.
	_, err = io.Copy(buf, io.LimitReader(resp.Body, maxAnswer+1))
	resp.Body.Close()
	l.body = buf.Bytes()
	if err != nil {
		l.close()
		return Answer{Fail: failCode(err)}, false
	}
	if len(l.body) > maxAnswer {
		l.close()
		return Answer{Fail: opstats.CodeBadResponse}, false
	}
	if resp.Close {
		l.close()
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: l.body}, false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func failCode(err error) string {
	if isTimeout(err) {
		return opstats.CodeTimeout
	}
	return opstats.CodeConnection
}
