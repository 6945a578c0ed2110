package main

import (
	"bufio"
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
)

// lane is one keep-alive connection to a server with the goroutine that
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
type lane struct {
	addr    string // host:port
	timeout time.Duration
	conn    net.Conn
	lr      io.LimitedReader // under br: bounds what one answer may send, headers included
	br      *bufio.Reader
	jobs    chan job
	body    []byte // the last answer's body, reused
}

// job is one operation assigned to a lane.
type job struct {
	seq     int64 // picks the lane
	realSeq int64 // the operation's number in its schedule
	due     time.Time
	run     func(l *lane, seq int64, due time.Time)
	// drop records the job as given up without sending it: it waited in
	// the queue past twice the timeout, as a client would have given up.
	// This also bounds how long a stuck server keeps the run from ending.
	drop func(seq int64, due time.Time)
}

// maxAnswer bounds the body of one answer.
const maxAnswer = 1 << 20

// answer is a server's reply as the operations need it.
type answer struct {
	retried  bool // the first attempt's connection broke before an answer
	status   int
	header   http.Header
	body     []byte // valid until the lane's next request
	failCode string // codeTimeout or codeConnection when there was no answer
}

// lanes are the lanes to one server for one kind of operation.
type lanes struct {
	lanes     []*lane
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// newLanes starts n lanes to base (http://host:port), each queueing at
// most queue jobs.
func newLanes(base string, n, queue int, timeout time.Duration) (*lanes, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("lanes: bad base URL %q", base)
	}
	ls := &lanes{}
	for range n {
		l := &lane{addr: u.Host, timeout: timeout, jobs: make(chan job, max(queue, 1))}
		ls.lanes = append(ls.lanes, l)
		ls.wg.Go(func() {
			for j := range l.jobs {
				if j.drop != nil && time.Since(j.due) > 2*l.timeout {
					j.drop(j.realSeq, j.due)
					continue
				}
				j.run(l, j.realSeq, j.due)
			}
			l.close()
		})
	}
	return ls, nil
}

// submit queues a job on lane seq mod n, or on the next lane with room.
// It never blocks, so one stuck server cannot stall the sender and with it
// every other kind of load: when every lane's queue is full it returns
// false, and the operation counts as not sent (an error of the run).
func (ls *lanes) submit(j job) bool {
	n := len(ls.lanes)
	first := int(j.seq % int64(n))
	for i := range n {
		select {
		case ls.lanes[(first+i)%n].jobs <- j:
			return true
		default:
		}
	}
	return false
}

// close lets every lane finish its queue, then closes the connections.
// Calling it again does nothing.
func (ls *lanes) close() {
	ls.closeOnce.Do(func() {
		for _, l := range ls.lanes {
			close(l.jobs)
		}
	})
	ls.wg.Wait()
}

func (l *lane) close() {
	if l.conn != nil {
		l.conn.Close()
		l.conn, l.br = nil, nil
	}
}

// do sends one request (complete bytes, ending in the body) and reads the
// answer. Any failure closes the connection; the next request opens a new
// one. A kept-alive connection the server closed while idle fails before
// any byte of an answer arrives; then the request goes once more on a new
// connection, as browsers do (a purchase carries its idempotency key, so
// sending it twice sells nothing twice).
func (l *lane) do(req []byte) answer {
	reused := l.conn != nil
	a, idleClosed := l.try(req)
	if idleClosed && reused {
		a, _ = l.try(req)
		a.retried = true
	}
	return a
}

// try is one attempt; idleClosed reports a connection that ended before
// the answer's first byte.
func (l *lane) try(req []byte) (a answer, idleClosed bool) {
	if l.conn == nil {
		c, err := net.DialTimeout("tcp", l.addr, l.timeout)
		if err != nil {
			return answer{failCode: failCode(err)}, false
		}
		l.conn, l.lr = c, io.LimitedReader{R: c}
		l.br = bufio.NewReaderSize(&l.lr, 8<<10)
	}
	// A server that sends headers without end runs into the limit, an
	// error, instead of the tool's memory.
	l.lr.N = maxAnswer + 64<<10
	if err := l.conn.SetDeadline(time.Now().Add(l.timeout)); err != nil {
		l.close()
		return answer{failCode: codeConnection}, false
	}
	if _, err := l.conn.Write(req); err != nil {
		l.close()
		return answer{failCode: failCode(err)}, !isTimeout(err)
	}
	resp, err := http.ReadResponse(l.br, nil)
	if err != nil {
		l.close()
		return answer{failCode: failCode(err)}, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	}
	l.body = l.body[:0]
	buf := bytesWriter{b: l.body}
	// The answers the tool reads are small; a larger one is a broken
	// server: read no further, and drop the connection with the rest.
	_, err = io.Copy(&buf, io.LimitReader(resp.Body, maxAnswer+1))
	resp.Body.Close()
	l.body = buf.b
	if err != nil {
		l.close()
		return answer{failCode: failCode(err)}, false
	}
	if len(l.body) > maxAnswer {
		l.close()
		return answer{failCode: codeBadResponse}, false
	}
	if resp.Close {
		l.close()
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: l.body}, false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func failCode(err error) string {
	if isTimeout(err) {
		return codeTimeout
	}
	return codeConnection
}

// bytesWriter appends to a reused slice.
type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
